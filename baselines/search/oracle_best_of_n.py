"""`oracle_best_of_n`: coverage — is any of k samples right (pass@k, the verifier's ceiling)."""
from __future__ import annotations

from collections.abc import Sequence

from harness.estimators import pass_at_k
from harness.methods import SolveContext, cost_at_k, pool_errors, register_method
from harness.types import Attempt, Problem


@register_method("oracle_best_of_n", pooled=True)
def solve(ctx: SolveContext, problems: Sequence[Problem], budget: int) -> list[Attempt]:
    """pass@k with Chen et al.'s unbiased estimator over the whole pool."""
    attempts = []
    for problem, (samples, cost) in zip(problems, ctx.pool.get(ctx, problems)):
        n, c = len(samples), sum(s.correct for s in samples)
        best = next((s for s in samples if s.correct), samples[0])
        attempts.append(Attempt(problem.id, best.answer, cost_at_k(cost, n, budget),
                                correct=pass_at_k(n, c, budget), traces=[best.completion.text],
                                n_samples=n, n_correct=c, error=pool_errors(samples)))
    return attempts
