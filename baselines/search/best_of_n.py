"""`best_of_n`: the sample the verifier (ORM, PRM or oracle) scores highest, of k."""
from __future__ import annotations

from collections.abc import Sequence

from harness.estimators import best_of_k
from harness.methods import SolveContext, cost_at_k, pool_errors, register_method
from harness.types import Attempt, Problem


@register_method("best_of_n", pooled=True, needs_verifier=True)
def solve(ctx: SolveContext, problems: Sequence[Problem], budget: int) -> list[Attempt]:
    """The highest-scored of k samples; exact expectation over k-subsets, verifier cost at k/n."""
    attempts = []
    for problem, (samples, cost), (scores, vcost) in zip(
            problems, ctx.pool.get(ctx, problems), ctx.pool.scores(ctx, problems)):
        n = len(samples)
        best = max(range(n), key=lambda i: scores[i])
        attempts.append(Attempt(problem.id, samples[best].answer,
                                cost_at_k(cost, n, budget) + vcost.scaled(budget / n),
                                correct=best_of_k(scores, [s.correct for s in samples], budget),
                                traces=[samples[best].completion.text], n_samples=n,
                                n_correct=sum(s.correct for s in samples), error=pool_errors(samples)))
    return attempts
