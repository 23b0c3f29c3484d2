"""`thinkbench run MATRIX`: run a matrix into its run directory (finished cells are skipped)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness.matrix import load_matrix
from harness.runner import RunResult, run_matrix


def run(matrix_path: str, out: Path | None, quiet: bool = False, prune: bool = False,
        new_version: bool = False, ray: str | None = None) -> RunResult:
    """Load, validate and run a matrix; prints one summary line."""
    matrix = load_matrix(matrix_path)
    result = run_matrix(matrix, out or Path("runs") / matrix.name, quiet=quiet, prune=prune,
                        new_version=new_version, ray=ray)
    print(f"{result.out}: ran {result.ran} cells ({result.rows} records), {result.skipped} already finished"
          + (f", {result.pruned} cells of the old matrix dropped" if result.pruned else "")
          + f", {result.wall_s:.1f} s")
    if result.failed:
        print(f"thinkbench: {result.failed} cells failed; their errors are in {result.out / 'failures'} and "
              "they rerun on the next `thinkbench run`", file=sys.stderr)
    return result


def main(args: argparse.Namespace) -> int:
    result = run(args.matrix, args.out, args.quiet, args.prune, args.new_version, args.ray)
    return 1 if result.failed else 0


def add(sub: argparse._SubParsersAction) -> None:
    r = sub.add_parser("run", help="run a matrix YAML (finished cells are skipped)")
    r.add_argument("matrix")
    r.add_argument("--out", type=Path, help="run directory (default: runs/<matrix name>)")
    r.add_argument("--quiet", action="store_true", help="no progress bar")
    r.add_argument("--ray", nargs="?", const="local", metavar="ADDRESS",
                   help="run the work units as Ray tasks: alone, on a Ray started here; with an address "
                        "(auto, ray://host:10001, host:6379), on that cluster (pip install 'thinkbench[ray]')")
    changed = r.add_mutually_exclusive_group()
    changed.add_argument("--new-version", action="store_true",
                         help="the run directory holds another matrix's results: start runs/<name>-vN")
    changed.add_argument("--prune", action="store_true",
                         help="the run directory holds another matrix's results: keep only the cells "
                              "this matrix names, drop the rest")
    r.set_defaults(fn=main)
