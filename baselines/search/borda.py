"""`borda`: rank aggregation over k sampled candidates from pairwise verifier preferences
(the Borda-count idea of LLaMA-Berry's Enhanced Borda Count, Zhang et al. 2024).

Each candidate earns a point for every other candidate the verifier prefers it to (half a
point for a tie); an answer's count is the sum over its candidates; the top answer wins.
Unlike weighted best-of-n it uses only the verifier's ordering, not its scale.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from harness.estimators import expected_over_subsets
from harness.methods import SolveContext, cost_at_k, pool_errors, register_method
from harness.types import Attempt, Problem

SUBSETS = 512  # Monte-Carlo subsets per problem when k < n


def borda_pick(keys: Sequence[str | None], scores: Sequence[float], correct: Sequence[bool],
               subset: Sequence[int]) -> tuple[str | None, float]:
    """(winning answer, its correctness; ties split evenly) among the candidates in `subset`."""
    counts: dict[str, float] = defaultdict(float)
    right: dict[str, bool] = {}
    for i in subset:
        if keys[i] is None:
            continue
        counts[keys[i]] += sum((scores[i] > scores[j]) + 0.5 * (scores[i] == scores[j])
                               for j in subset if j != i)
        right[keys[i]] = correct[i]
    if not counts:
        return None, 0.0
    top = max(counts.values())
    winners = [k for k, v in counts.items() if v == top]
    return winners[0], sum(right[k] for k in winners) / len(winners)


@register_method("borda", pooled=True, needs_verifier=True)
def solve(ctx: SolveContext, problems: Sequence[Problem], budget: int) -> list[Attempt]:
    """Borda count over the pool's candidates; exact at k = n, else 512 random k-subsets."""
    rng = np.random.default_rng([ctx.seed, budget, 7])
    attempts = []
    for problem, (samples, cost), (scores, vcost) in zip(
            problems, ctx.pool.get(ctx, problems), ctx.pool.scores(ctx, problems)):
        n = len(samples)
        keys, correct = [s.key for s in samples], [s.correct for s in samples]
        value = expected_over_subsets(n, budget, lambda sub: borda_pick(keys, scores, correct, sub)[1],
                                      rng, SUBSETS)
        top, _ = borda_pick(keys, scores, correct, range(n))
        answer = next((s.answer for s in samples if s.key == top), None)
        attempts.append(Attempt(problem.id, answer, cost_at_k(cost, n, budget) + vcost.scaled(budget / n),
                                correct=value, traces=[samples[0].completion.text], n_samples=n,
                                n_correct=sum(correct), error=pool_errors(samples)))
    return attempts
