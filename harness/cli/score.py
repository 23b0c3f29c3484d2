"""`thinkbench score`: check completions made elsewhere (verdicts, accuracy, pass@k)."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from harness.files import atomic_write, check_writable_dir
from harness.registry import ConfigError
from harness.score import score


def main(args: argparse.Namespace) -> int:
    try:
        ks = tuple(int(k) for k in args.k.split(",") if k.strip())
    except ValueError:
        raise ConfigError(f"--k: expected comma-separated integers, got {args.k!r}") from None
    if args.out:  # checked before any work: an unwritable --out must not cost a scoring run
        check_writable_dir(args.out.parent, "--out directory")
    summary = score(args.task, args.completions, data=args.data, ks=ks, split=args.split, n=args.n,
                    seed=args.seed)
    if args.out:
        atomic_write(args.out, "".join(json.dumps(v) + "\n" for v in summary.verdicts).encode())
    scored = sum(v["correct"] is not None for v in summary.verdicts)
    print(f"{args.task}: {scored} completions of {summary.problems} problems scored, "
          f"accuracy {summary.accuracy:.4f}" + (f", {summary.malformed} malformed rows" if summary.malformed else ""))
    for k, value in summary.pass_at.items():
        print(f"  pass@{k}: {value:.4f}")
    return 1 if summary.malformed else 0


def add(sub: argparse._SubParsersAction) -> None:
    sc = sub.add_parser("score", help="score completions made elsewhere (verdicts, accuracy, pass@k)")
    sc.add_argument("--task", required=True, help="a registered task name, e.g. gsm8k, humaneval, rg:maze")
    sc.add_argument("--data", help="the task's data file in its own format (default: its own source)")
    sc.add_argument("--completions", required=True, type=Path, help="JSONL of {problem_id|task_id, completion}")
    sc.add_argument("--k", default="1", help="pass@k values, comma-separated (default 1)")
    sc.add_argument("--out", type=Path, help="write one verdict row per completion here (JSONL)")
    sc.add_argument("--split", default="test", help="split of the task (default test)")
    sc.add_argument("--n", type=int, help="number of problems (procedural tasks)")
    sc.add_argument("--seed", type=int, default=0, help="problem seed (procedural tasks)")
    sc.set_defaults(fn=main)
