"""`sample`: the accuracy of one sampled completion (pass@1 = maj@1), estimated from the pool."""
from __future__ import annotations

from collections.abc import Sequence

from harness.methods import SolveContext, cost_at_k, pool_errors, register_method
from harness.types import Attempt, Problem


@register_method("sample", pooled=True, uses_budget=False)
def solve(ctx: SolveContext, problems: Sequence[Problem], budget: int) -> list[Attempt]:
    """One sample at the cell's temperature; accuracy = mean over all pooled samples."""
    attempts = []
    for problem, (samples, cost) in zip(problems, ctx.pool.get(ctx, problems)):
        n, c = len(samples), sum(s.correct for s in samples)
        attempts.append(Attempt(problem.id, samples[0].answer, cost_at_k(cost, n, 1), correct=c / n,
                                traces=[samples[0].completion.text], n_samples=n, n_correct=c,
                                error=pool_errors(samples)))
    return attempts
