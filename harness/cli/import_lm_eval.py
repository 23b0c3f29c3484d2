"""`thinkbench import-lm-eval DIR --out runs/NAME`: lm-eval `--log_samples` output as a run
directory, so `thinkbench compare` and `thinkbench report` work on lm-eval runs."""
from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

from harness.lm_eval_import import COSTS_NOTE, import_lm_eval


def main(args: argparse.Namespace) -> int:
    done = import_lm_eval(Path(args.dir), Path(args.out))
    scores: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    for r in done.records:
        scores[(r.checkpoint, r.task, r.method)].append(r.correct)
    for key, values in sorted(scores.items()):
        label, task, filt = key
        ours = sum(values) / len(values)
        theirs = done.reported.get(key)
        check = "" if theirs is None else f" (lm-eval reported {theirs:.4f}" + \
            ("" if abs(theirs - ours) < 1e-9 else ": DIFFERS, was the run limited or filtered?") + ")"
        print(f"{task} · {filt} · {label}: {len(values)} docs, {done.metric[key]} {ours:.4f}{check}")
    print(f"note: {COSTS_NOTE}")
    print(f"{len(done.records)} records in {len(scores)} cells written to {done.store.root}")
    return 0


def add(sub: argparse._SubParsersAction) -> None:
    c = sub.add_parser("import-lm-eval", help="turn lm-eval --log_samples output into a thinkbench run")
    c.add_argument("dir", help="lm-eval's --output_path (or the model subfolder holding samples_*.jsonl)")
    c.add_argument("--out", required=True, help="the run directory to write (runs/NAME)")
    c.set_defaults(fn=main)
