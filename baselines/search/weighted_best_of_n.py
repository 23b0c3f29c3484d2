"""`weighted_best_of_n`: the answer with the largest summed verifier score over k samples
(Li et al. 2023; search-and-learn's weighted BoN)."""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from harness.estimators import expected_over_subsets
from harness.methods import SolveContext, cost_at_k, pool_errors, register_method
from harness.types import Attempt, Problem

SUBSETS = 512  # Monte-Carlo subsets per problem when k < n (an unbiased estimate)


def weighted_vote(keys: Sequence[str | None], scores: Sequence[float], correct: Sequence[bool],
                  subset: Sequence[int]) -> float:
    """Correctness of the answer with the largest score sum in `subset` (ties split evenly)."""
    sums: dict[str, float] = defaultdict(float)
    right: dict[str, bool] = {}
    for i in subset:
        if keys[i] is not None:
            sums[keys[i]] += scores[i]
            right[keys[i]] = correct[i]
    if not sums:
        return 0.0
    top = max(sums.values())
    winners = [k for k, v in sums.items() if v == top]
    return sum(right[k] for k in winners) / len(winners)


@register_method("weighted_best_of_n", pooled=True, needs_verifier=True)
def solve(ctx: SolveContext, problems: Sequence[Problem], budget: int) -> list[Attempt]:
    """The answer with the largest summed score; exact at k = n, else 512 random k-subsets."""
    rng = np.random.default_rng([ctx.seed, budget])
    attempts = []
    for problem, (samples, cost), (scores, vcost) in zip(
            problems, ctx.pool.get(ctx, problems), ctx.pool.scores(ctx, problems)):
        n = len(samples)
        keys, correct = [s.key for s in samples], [s.correct for s in samples]
        value = expected_over_subsets(n, budget, lambda sub: weighted_vote(keys, scores, correct, sub),
                                      rng, SUBSETS)
        sums: dict[str, float] = defaultdict(float)
        for k, sc in zip(keys, scores):
            if k is not None:
                sums[k] += sc
        top = max(sums, key=sums.get) if sums else None
        answer = next((s.answer for s in samples if s.key == top), None)
        attempts.append(Attempt(problem.id, answer, cost_at_k(cost, n, budget) + vcost.scaled(budget / n),
                                correct=value, traces=[samples[0].completion.text], n_samples=n,
                                n_correct=sum(correct), error=pool_errors(samples)))
    return attempts
