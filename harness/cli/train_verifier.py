"""`thinkbench train-verifier`: a PRM/ORM from process labels, Monte-Carlo rollouts (Math-Shepherd)
or (`--labels exact`) the task's own step checker."""
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
    out = args.out or Path(policy_path).parent / default_name(args.kind, args.labels)
    trainer = TRAINERS.get(args.kind)
    cfg = make_config(trainer.config, {"problems": args.problems, "samples": args.samples, "labels": args.labels,
                                       "rollouts": args.rollouts, "eval_problems": args.eval_problems},
                      "train-verifier")
    result = trainer.train(policy_path, build_task(args.task, {}), args.steps, args.seed, cfg, out)
    info = result.info
    exact = (f", {info['heldout_auroc_exact']:.3f} against exact step correctness"
             if "heldout_auroc_exact" in info else "")
    print(f"trained {args.kind} on {args.labels} labels ({info['params']} params, {info['train_flops']:.3g} FLOPs, "
          f"{info['train_wall_s']:.0f} s); held-out {'step' if args.kind == 'prm' else 'outcome'} "
          f"AUROC {info['heldout_auroc']:.3f} against its own kind of label{exact}, "
          f"on {info['heldout_solutions']} solutions", file=sys.stderr)
    print(result.path)
    return 0


def default_name(kind: str, labels: str) -> str:
    """The checkpoint's directory name beside the policy: `prm`, or `prm-exact` for exact labels
    (so `testbed/prm-exact` names it in a matrix and it never overwrites the MC-labelled one)."""
    return kind if labels == "mc" else f"{kind}-{labels}"


def add(sub: argparse._SubParsersAction) -> None:
    tv = sub.add_parser("train-verifier", help="train a PRM/ORM from Monte-Carlo or exact process labels; "
                                               "prints its path last")
    tv.add_argument("--kind", choices=["prm", "orm"], default="prm")
    tv.add_argument("--labels", choices=["mc", "exact"], default="mc",
                    help="mc: Monte-Carlo rollouts (Math-Shepherd); exact: the task's step checker (no rollouts)")
    tv.add_argument("--policy", default="testbed", help="policy checkpoint (default: the testbed)")
    tv.add_argument("--task", default="addition", help="task whose train split is labelled")
    tv.add_argument("--out", type=Path, help="checkpoint directory (default: next to the policy)")
    tv.add_argument("--problems", type=int, default=200, help="train problems to label")
    tv.add_argument("--samples", type=int, default=4, help="sampled solutions per problem")
    tv.add_argument("--rollouts", type=int, default=4, help="rollouts per step prefix (--labels mc)")
    tv.add_argument("--steps", type=int, default=300, help="training steps")
    tv.add_argument("--eval-problems", type=int, default=60, help="held-out problems for AUROC")
    tv.add_argument("--seed", type=int, default=0)
    tv.set_defaults(fn=main)
