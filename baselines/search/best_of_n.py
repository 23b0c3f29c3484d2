"""`best_of_n`: the sample the verifier (ORM, PRM or oracle) scores highest, of k."""
from __future__ import annotations

from harness.estimators import best_of_k
from harness.methods import Pick, Pool, register_pooled


@register_pooled("best_of_n", scored=True)
def pick(pool: Pool, k: int) -> Pick:
    """The highest-scored of k samples; exact expectation over k-subsets, verifier cost at k/n."""
    scores = pool.scores
    best = pool.samples[max(range(len(scores)), key=lambda i: scores[i])]
    return Pick(best.answer, best_of_k(scores, pool.correct, k), best.completion.text)
