"""`thinkbench train-verifier`: a PRM/ORM from Monte-Carlo rollout labels (Math-Shepherd)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness.checkpoint import resolve_checkpoint
from harness.config import make_config
from harness.matrix import build_task
from harness.registry import TRAINERS, load_plugins


def main(args: argparse.Namespace) -> int:
    load_plugins()
    policy_path = resolve_checkpoint(args.policy)
    out = args.out or Path(policy_path).parent / args.kind
    trainer = TRAINERS.get(args.kind)
    cfg = make_config(trainer.config, {"problems": args.problems, "samples": args.samples,
                                       "rollouts": args.rollouts, "eval_problems": args.eval_problems},
                      "train-verifier")
    result = trainer.train(policy_path, build_task(args.task, {}), args.steps, args.seed, cfg, out)
    info = result.info
    print(f"trained {args.kind} ({info['params']} params, {info['train_flops']:.3g} FLOPs, "
          f"{info['train_wall_s']:.0f} s); held-out {'step' if args.kind == 'prm' else 'outcome'} "
          f"AUROC {info['heldout_auroc']:.3f} on {info['heldout_solutions']} solutions", file=sys.stderr)
    print(result.path)
    return 0


def add(sub: argparse._SubParsersAction) -> None:
    tv = sub.add_parser("train-verifier", help="train a PRM/ORM from Monte-Carlo rollouts; prints its path last")
    tv.add_argument("--kind", choices=["prm", "orm"], default="prm")
    tv.add_argument("--policy", default="testbed", help="policy checkpoint (default: the testbed)")
    tv.add_argument("--task", default="addition", help="task whose train split is labelled")
    tv.add_argument("--out", type=Path, help="checkpoint directory (default: next to the policy)")
    tv.add_argument("--problems", type=int, default=200, help="train problems to label")
    tv.add_argument("--samples", type=int, default=4, help="sampled solutions per problem")
    tv.add_argument("--rollouts", type=int, default=4, help="rollouts per step prefix")
    tv.add_argument("--steps", type=int, default=300, help="training steps")
    tv.add_argument("--eval-problems", type=int, default=60, help="held-out problems for AUROC")
    tv.add_argument("--seed", type=int, default=0)
    tv.set_defaults(fn=main)
