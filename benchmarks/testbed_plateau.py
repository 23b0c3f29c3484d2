"""Is the testbed plateaued? Train it for N and 2N steps and compare held-out greedy accuracy.

    python benchmarks/testbed_plateau.py [--steps 1200] [--problems 1000] [--work DIR] [--smoke]

Prints greedy and sampled (T=1) accuracy of every saved checkpoint of both runs, with 95 %
intervals, and the 2N-minus-N difference in greedy accuracy (the issue asks for <= 5 points).
Checkpoints already in --work are reused. About 12 minutes on 2 cores.
"""
from __future__ import annotations

import argparse
import tempfile
from dataclasses import replace
from pathlib import Path

from baselines.train.testbed import TestbedConfig, train_testbed
from harness.backends.hf import HFPolicy
from harness.checkpoint import read_info
from harness.report.stats import wilson
from tasks.math.addition import AdditionTask


def accuracy(ckpt: Path, task: AdditionTask, problems, samples: int) -> tuple[float, float]:
    policy = HFPolicy(ckpt)
    prompts = [task.prompt(p) for p in problems]
    greedy, _ = policy.generate(prompts, temperature=0.0, max_tokens=64)
    pooled, _ = policy.generate(prompts, n=samples, temperature=1.0, max_tokens=64, seed=0)
    g = [task.check(task.extract(o[0].text), p).correct for o, p in zip(greedy, problems)]
    s = [sum(task.check(task.extract(c.text), p).correct for c in o) / samples for o, p in zip(pooled, problems)]
    return sum(g) / len(g), sum(s) / len(s)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=TestbedConfig().steps)
    ap.add_argument("--problems", type=int, default=1000)
    ap.add_argument("--samples", type=int, default=4)
    ap.add_argument("--work", type=Path, default=Path("benchmarks/.plateau"))
    ap.add_argument("--smoke", action="store_true",
                    help="a few seconds: a 1-layer model, 10 and 20 steps, 8 problems, in a temporary --work")
    args = ap.parse_args(argv)
    base = TestbedConfig()
    if args.smoke:
        base = replace(base, hidden=32, layers=1, heads=2, batch=8, checkpoints=1)
        args.steps, args.problems, args.samples = 10, 8, 1
        with tempfile.TemporaryDirectory(prefix="plateau-") as tmp:
            args.work = Path(tmp)
            plateau(args, base)
        return
    plateau(args, base)


def plateau(args: argparse.Namespace, base: TestbedConfig) -> None:
    """Train (or reuse) both runs in `args.work` and print the comparison."""
    task = AdditionTask(digits=base.digits)
    problems = task.problems("test", args.problems, seed=123)
    finals = {}
    for steps in (args.steps, 2 * args.steps):
        out = args.work / f"steps-{steps}"
        if not (out / "final").is_dir():
            train_testbed(out, replace(base, steps=steps))
        finals[steps] = out / "final"
        for ckpt in sorted((d for d in out.iterdir() if read_info(d).get("step")), key=lambda d: read_info(d)["step"]):
            info = read_info(ckpt)
            g, s = accuracy(ckpt, task, problems, args.samples)
            lo, hi = wilson(g * len(problems), len(problems))
            print(f"run {steps:>5} steps | step {info['step']:>5} | train FLOPs {info['train_flops']:.3g} | "
                  f"greedy {g:.3f} [{lo:.3f}, {hi:.3f}] | sample@T=1 {s:.3f}")
            if ckpt.name == "final":
                finals[steps] = g
    diff = finals[2 * args.steps] - finals[args.steps]
    print(f"plateau: greedy({2 * args.steps} steps) - greedy({args.steps} steps) = {100 * diff:+.1f} points "
          f"on {len(problems)} held-out problems ({'within' if abs(diff) <= 0.05 else 'OUTSIDE'} ±5)")


if __name__ == "__main__":
    main()
