"""`weighted_best_of_n`: the answer with the largest summed verifier score over k samples
(Li et al. 2023; search-and-learn's weighted BoN)."""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from harness.contracts import MethodConfig
from harness.estimators import expected_over_subsets
from harness.methods import Pick, Pool, register_pooled


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


@dataclass(frozen=True)
class WeightedConfig(MethodConfig):
    subsets: int = 512  # Monte-Carlo k-subsets per problem when k < n (an unbiased estimate)

    def validate(self) -> None:
        if self.subsets < 1:
            raise ValueError("subsets must be >= 1")


@register_pooled("weighted_best_of_n", config=WeightedConfig, scored=True)
def pick(pool: Pool, k: int) -> Pick:
    """The answer with the largest summed score; exact at k = n, else random k-subsets."""
    keys, scores, correct = pool.keys, pool.scores, pool.correct
    value = expected_over_subsets(len(keys), k, lambda sub: weighted_vote(keys, scores, correct, sub),
                                  pool.rng, pool.config.subsets)
    sums: dict[str, float] = defaultdict(float)
    for key, sc in zip(keys, scores):
        if key is not None:
            sums[key] += sc
    top = max(sums, key=sums.get) if sums else None
    return Pick(pool.answer_of(top), value, pool.samples[0].completion.text)
