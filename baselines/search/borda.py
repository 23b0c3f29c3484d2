"""`borda`: rank aggregation over k sampled candidates from pairwise verifier preferences
(the Borda-count idea of LLaMA-Berry's Enhanced Borda Count, Zhang et al. 2024).

Each candidate earns a point for every other candidate the verifier prefers it to (half a
point for a tie); an answer's count is the sum over its candidates; the top answer wins.
Unlike weighted best-of-n it uses only the verifier's ordering, not its scale.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from baselines.search.weighted_best_of_n import WeightedConfig
from harness.estimators import expected_over_subsets
from harness.methods import Pick, Pool, register_pooled


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


@register_pooled("borda", config=WeightedConfig, scored=True, salt=(7,))
def pick(pool: Pool, k: int) -> Pick:
    """Borda count over the pool's candidates; exact at k = n, else random k-subsets."""
    keys, scores, correct = pool.keys, pool.scores, pool.correct
    value = expected_over_subsets(len(keys), k, lambda sub: borda_pick(keys, scores, correct, sub)[1],
                                  pool.rng, pool.config.subsets)
    top, _ = borda_pick(keys, scores, correct, range(len(keys)))
    return Pick(pool.answer_of(top), value, pool.samples[0].completion.text)
