"""Sandboxed HumanEval checks/s: the 164 canonical solutions, each in its own sandbox.

    python benchmarks/sandbox_throughput.py [--workers 2] [--rounds 3] [--problems N] [--smoke]

Prints checks/s for every round and the median; every round must pass all of them.
"""
from __future__ import annotations

import argparse
import statistics
import time

from tasks.code import sandbox
from tasks.code.humaneval import HumanEvalTask


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--problems", type=int, default=None, help="HumanEval problems (default: all 164)")
    ap.add_argument("--smoke", action="store_true", help="a few seconds: 1 round of 4 problems")
    args = ap.parse_args(argv)
    if args.smoke:
        args.rounds, args.problems = 1, 4
    task = HumanEvalTask(workers=args.workers)
    problems = task.problems("test", args.problems, 0)
    answers = [p.meta["canonical_solution"] for p in problems]
    mode = "isolated (root)" if sandbox.IS_ROOT else "guarded (not root)"
    print(f"sandbox: {mode}, {args.workers} workers, {len(problems)} HumanEval canonical solutions")
    rates = []
    for i in range(args.rounds):
        t0 = time.perf_counter()
        verdicts = task.check_many(answers, problems)
        dt = time.perf_counter() - t0
        passed = sum(v.correct for v in verdicts)
        rates.append(len(problems) / dt)
        print(f"round {i + 1}: {rates[-1]:6.1f} checks/s ({dt:.2f} s), {passed}/{len(problems)} passed")
        if passed != len(problems):
            print("  failed:", [(p.id, v.reason) for p, v in zip(problems, verdicts) if not v.correct][:5])
    print(f"median: {statistics.median(rates):.1f} checks/s")


if __name__ == "__main__":
    main()
