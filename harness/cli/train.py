"""`thinkbench train TRAINER --base CKPT --task TASK --budget B`: one checkpoint from a base,
cached by (trainer, base, task, budget, seed, config); prints its path as the last line."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from harness.checkpoint import resolve_checkpoint
from harness.config import load_yaml, make_config
from harness.matrix import build_task
from harness.progress import progress_bar
from harness.registry import TRAINERS, ConfigError, load_plugins
from harness.trained import TrainSpec, ensure_trained


def assignments(pairs: list[str], flag: str) -> dict:
    """`k=v` pairs, each value read as YAML (`lr=1e-5`, `loss=[sigmoid, sft]`, `source=gold`)."""
    out = {}
    for pair in pairs:
        key, eq, value = pair.partition("=")
        if not eq or not key:
            raise ConfigError(f"{flag} {pair!r}: expected NAME=VALUE")
        try:
            out[key] = load_yaml(value)
        except yaml.YAMLError:
            raise ConfigError(f"{flag} {pair!r}: the value is not valid YAML") from None
    return out


def main(args: argparse.Namespace) -> int:
    load_plugins()
    trainer = TRAINERS.get(args.trainer)
    cfg = make_config(trainer.config, assignments(args.param, "--param"), f"trainer {args.trainer!r} --param")
    task_params = assignments(args.task_param, "--task-param")
    build_task(args.task, task_params, f"--task {args.task}")
    base = "" if args.base in ("", "none") else resolve_checkpoint(args.base)
    if args.budget < 1:
        raise ConfigError(f"--budget: expected a positive number of steps, got {args.budget}")
    spec = TrainSpec(args.trainer, base, args.task, tuple(sorted(task_params.items())), args.budget, args.seed, cfg)
    try:
        with progress_bar() as update:
            path, info, reused = ensure_trained(spec, args.out, update)
    except ValueError as e:  # the trainer refused its inputs (no pairs, a base it cannot use): one line
        print(f"thinkbench: error: {args.trainer}: {e}", file=sys.stderr)
        return 2
    how = "found (already trained with these settings)" if reused else "trained"
    print(f"{args.trainer}: {how}; {info.get('post_train_flops', info.get('train_flops', 0.0)):.3g} FLOPs "
          f"added to the base, {info.get('train_wall_s', 0.0):.0f} s", file=sys.stderr)
    print(path)
    return 0


def add(sub: argparse._SubParsersAction) -> None:
    t = sub.add_parser("train", help="train a checkpoint from a base (cached); prints its path last")
    t.add_argument("trainer", help="a registered trainer (`thinkbench trainers`)")
    t.add_argument("--base", default="testbed", help="checkpoint to start from (default: the testbed; `none` for a trainer that starts from scratch)")
    t.add_argument("--task", default="addition", help="task whose train split is used (default: addition)")
    t.add_argument("--task-param", action="append", default=[], metavar="NAME=VALUE", help="a task parameter")
    t.add_argument("--param", action="append", default=[], metavar="NAME=VALUE", help="a trainer config field")
    t.add_argument("--budget", type=int, required=True, help="optimizer steps")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--out", type=Path, help="checkpoint directory (default: the cache, keyed by all settings)")
    t.set_defaults(fn=main)
