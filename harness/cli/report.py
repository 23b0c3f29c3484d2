"""`thinkbench report RUN`: the HTML report and summary.md of a run."""
from __future__ import annotations

import argparse
from pathlib import Path

from harness.report import write_report
from harness.report.html import completeness
from harness.store import load_failures


def report(run: str, out: Path | None) -> Path:
    """Write the report; prints the summary and where the HTML is."""
    out = out or Path("reports") / Path(run).name
    index = write_report(run, out)
    print((Path(out) / "summary.md").read_text())
    # Last, where a terminal shows it: a report of an unfinished run says so.
    print(f"{completeness(run, load_failures(run))} report: {index}")
    return index


def main(args: argparse.Namespace) -> int:
    report(args.run, args.out)
    return 0


def add(sub: argparse._SubParsersAction) -> None:
    rep = sub.add_parser("report", help="build the HTML report and summary.md of a run")
    rep.add_argument("run")
    rep.add_argument("--out", type=Path, help="report directory (default: reports/<run name>)")
    rep.set_defaults(fn=main)
