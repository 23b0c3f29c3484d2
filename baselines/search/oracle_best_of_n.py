"""`oracle_best_of_n`: coverage — is any of k samples right (pass@k, the verifier's ceiling)."""
from __future__ import annotations

from harness.estimators import pass_at_k
from harness.methods import Pick, Pool, register_pooled


@register_pooled("oracle_best_of_n")
def pick(pool: Pool, k: int) -> Pick:
    """pass@k with Chen et al.'s unbiased estimator over the whole pool."""
    best = next((s for s in pool.samples if s.correct), pool.samples[0])
    return Pick(best.answer, pass_at_k(len(pool.samples), sum(pool.correct), k), best.completion.text)
