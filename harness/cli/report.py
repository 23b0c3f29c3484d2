"""`thinkbench report RUN`: the HTML report and summary.md of a run."""
from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from harness.report import write_report
from harness.report.html import completeness
from harness.store import load_failures


def headlines(summary: pd.DataFrame) -> list[str]:
    """One line per (task, checkpoint): its most accurate configuration that reads no reference
    (oracles are upper bounds, not results), with its interval and compute."""
    out = []
    for (task, ckpt), rows in summary[~summary["oracle"].astype(bool)].groupby(["task", "checkpoint"], sort=False):
        best = rows.loc[rows["accuracy"].idxmax()]
        out.append(f"{task} · {ckpt}: best {best['method']}@{int(best['budget'])} {best['accuracy']:.3f} "
                   f"[{best['ci_low']:.3f}, {best['ci_high']:.3f}] at {best['flops']:.3g} FLOPs/problem "
                   f"(of {len(rows)} configurations)")
    return out


def report(run: str, out: Path | None) -> Path:
    """Write the report; prints one headline per task and checkpoint, and where the report is
    (the whole table is in summary.md beside it)."""
    out = out or Path("reports") / Path(run).name
    index = write_report(run, out)
    print("\n".join(headlines(pd.read_csv(Path(out) / "summary.csv"))))
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
