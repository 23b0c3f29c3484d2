"""`thinkbench quickstart`: bootstrap the testbed, run examples/quickstart.yaml, write the report."""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from harness.cli.bootstrap import bootstrap
from harness.cli.report import report
from harness.cli.run import run
from harness.paths import project_root


def main(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    bootstrap()
    # runs/quickstart belongs to the shipped matrix: results of an older version of it are dropped.
    result = run(str(project_root() / "examples" / "quickstart.yaml"), Path("runs/quickstart"), prune=True)
    report(str(result.out), Path("reports/quickstart"))
    print(f"quickstart finished in {time.perf_counter() - t0:.0f} s")
    return 1 if result.failed else 0


def add(sub: argparse._SubParsersAction) -> None:
    sub.add_parser("quickstart", help="bootstrap the testbed, run examples/quickstart.yaml, write the report"
                   ).set_defaults(fn=main)
