"""`thinkbench bootstrap`: train (or reuse, or resume) the tiny testbed model."""
from __future__ import annotations

import argparse
import shutil
import sys
from dataclasses import replace
from pathlib import Path

from harness.checkpoint import read_info
from harness.progress import progress_bar
from harness.registry import TASKS, TRAINERS, load_plugins


def bootstrap(out: Path | None = None, steps: int | None = None, force: bool = False) -> Path:
    """The testbed's final checkpoint: reused if built, resumed if interrupted, else trained;
    every checkpoint's held-out greedy accuracy is printed."""
    load_plugins()
    trainer = TRAINERS.get("testbed")
    cfg = trainer.config()
    cfg = cfg if steps is None else replace(cfg, steps=steps)
    out = out or trainer.home(cfg)
    if force:
        shutil.rmtree(out / "final", ignore_errors=True)
    if not (out / "final").is_dir() or force:
        print(f"testbed: training a {cfg.layers}-layer, {cfg.hidden}-wide Llama on {cfg.digits}-digit "
              f"addition for {cfg.steps} steps into {out}", file=sys.stderr)
    with progress_bar() as update:
        result = trainer.train(None, TASKS.get("addition")(digits=cfg.digits), cfg.steps, cfg.seed, cfg, out,
                               update)
    if result.info.get("reused"):
        print(f"testbed: reusing {result.path}", file=sys.stderr)
        return result.path
    for ckpt in sorted((d for d in out.iterdir() if read_info(d).get("step")), key=lambda d: read_info(d)["step"]):
        info = read_info(ckpt)
        print(f"  {ckpt.name:>10}: step {info['step']:>5}, {info['train_flops']:.3g} training FLOPs, "
              f"greedy accuracy {info.get('greedy_accuracy_test', float('nan')):.3f} on "
              f"{info.get('eval_problems', 0)} held-out problems", file=sys.stderr)
    return result.path


def main(args: argparse.Namespace) -> int:
    print(bootstrap(args.out, args.steps, args.force))
    return 0


def add(sub: argparse._SubParsersAction) -> None:
    b = sub.add_parser("bootstrap", help="train (or reuse) the tiny testbed model; prints its path last")
    b.add_argument("--out", type=Path, help="directory for the checkpoints (default: the cache)")
    b.add_argument("--steps", type=int, help="training steps (default: the testbed's)")
    b.add_argument("--force", action="store_true", help="retrain even if a checkpoint exists")
    b.set_defaults(fn=main)
