"""`majority` (self-consistency, Wang et al. 2022): the most common answer of k samples."""
from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from harness.estimators import maj_at_k
from harness.methods import SolveContext, cost_at_k, pool_errors, register_method
from harness.types import Attempt, Problem


@register_method("majority", pooled=True)
def solve(ctx: SolveContext, problems: Sequence[Problem], budget: int) -> list[Attempt]:
    """maj@k: expected accuracy of a vote over a random k-subset of the pool (ties: uniform)."""
    attempts = []
    for problem, (samples, cost) in zip(problems, ctx.pool.get(ctx, problems)):
        n = len(samples)
        keys = [s.key for s in samples]
        votes = Counter(k for k in keys if k is not None)
        top = votes.most_common(1)[0][0] if votes else None
        answer = next((s.answer for s in samples if s.key == top), None)
        attempts.append(Attempt(problem.id, answer, cost_at_k(cost, n, budget),
                                correct=maj_at_k(keys, [s.correct for s in samples], budget),
                                traces=[s.completion.text for s in samples[:1]], n_samples=n,
                                n_correct=sum(s.correct for s in samples), error=pool_errors(samples)))
    return attempts
