"""Checker throughput: math checks/s (numbers, LaTeX via math-verify, cached) and HumanEval
checks/s in the sandbox. Targets from the task-suite issue: >= 500 math checks/s with the cache
on repeated pairs, >= 20 HumanEval checks/s on 2 cores.

    python benchmarks/checker_throughput.py [--numeric 20000] [--latex 400] [--repeated 20000] [--smoke]
"""
from __future__ import annotations

import argparse
import random
import time

from tasks.code.humaneval import HumanEvalTask
from tasks.math.equivalence import MathChecker

LATEX = ["\\frac{{{a}}}{{{b}}}", "\\sqrt{{{a}}}", "{a}\\pi", "x^{{{a}}}+{b}", "\\{{{a},{b}\\}}", "[{a},{b})",
         "\\frac{{\\sqrt{{{a}}}}}{{{b}}}", "{a}x+{b}"]


def rate(n: int, seconds: float) -> str:
    return f"{n / seconds:8.0f} checks/s ({n} in {seconds:.2f} s)"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--numeric", type=int, default=20000, help="numeric pairs (fast path)")
    ap.add_argument("--latex", type=int, default=400, help="distinct LaTeX pairs (math-verify)")
    ap.add_argument("--repeated", type=int, default=20000, help="LaTeX pairs drawn again (cache)")
    ap.add_argument("--humaneval", type=int, default=None, help="HumanEval problems (default: all 164)")
    ap.add_argument("--smoke", action="store_true", help="a few seconds: tiny sizes (keeps the script running)")
    args = ap.parse_args(argv)
    if args.smoke:
        args.numeric, args.latex, args.repeated, args.humaneval = 200, 8, 200, 4
    rng = random.Random(0)
    checker = MathChecker()
    checker.equal("1", "1")  # start the worker outside the timings
    checker.equal_many([("x+1", "1+x")])

    numeric = [(f"{rng.randint(0, 10**6):,}", str(rng.randint(0, 10**6))) for _ in range(args.numeric)]
    t0 = time.perf_counter()
    checker.equal_many(numeric)
    print(f"math, numeric answers (exact fast path):   {rate(len(numeric), time.perf_counter() - t0)}")

    latex = []
    for _ in range(args.latex):
        form = rng.choice(LATEX)
        a, b = rng.randint(1, 50), rng.randint(2, 50)
        latex.append((form.format(a=a, b=b), form.format(a=a, b=b if rng.random() < 0.5 else b + 1)))
    t0 = time.perf_counter()
    checker.equal_many(latex)
    uncached = time.perf_counter() - t0
    print(f"math, LaTeX via math-verify (uncached):    {rate(len(latex), uncached)}")

    # Scoring 16 samples per problem: answers repeat, as they do from one model.
    repeated = [rng.choice(latex) for _ in range(args.numeric)]
    t0 = time.perf_counter()
    checker.equal_many(repeated)
    print(f"math, LaTeX repeated pairs (cache):        {rate(len(repeated), time.perf_counter() - t0)}")
    checker.close()

    task = HumanEvalTask()
    problems = task.problems("test", args.humaneval, 0)
    t0 = time.perf_counter()
    verdicts = task.check_many([p.meta["canonical_solution"] for p in problems], problems)
    dt = time.perf_counter() - t0
    print(f"humaneval, canonical solutions, 2 workers: {rate(len(problems), dt)}, "
          f"{sum(v.correct for v in verdicts)}/{len(problems)} passed")


if __name__ == "__main__":
    main()
