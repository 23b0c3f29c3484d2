"""`greedy`: one completion at temperature 0."""
from __future__ import annotations

from collections.abc import Sequence

from harness.contracts import Attempt, Problem
from harness.methods import SolveContext, judge_many, register_method


@register_method("greedy", uses_budget=False, greedy=True)
def solve(ctx: SolveContext, problems: Sequence[Problem], budget: int) -> list[Attempt]:
    """One greedy (temperature 0) completion per problem."""
    s = ctx.sampling
    outs, costs = ctx.policy.generate([ctx.task.prompt(p) for p in problems], n=1, temperature=0.0,
                                      max_tokens=s.max_tokens, stop=s.stop, seed=ctx.seed)
    attempts = []
    samples = judge_many(ctx.task, problems, [c for (c,) in outs])
    for problem, (completion,), cost, sample in zip(problems, outs, costs, samples):
        attempts.append(Attempt(problem.id, sample.answer, cost, correct=float(sample.correct),
                                traces=[completion.text], n_samples=1, n_correct=int(sample.correct),
                                error=sample.error))
    return attempts
