"""`majority` (self-consistency, Wang et al. 2022): the most common answer of k samples."""
from __future__ import annotations

from collections import Counter

from harness.estimators import maj_at_k
from harness.methods import Pick, Pool, register_pooled


@register_pooled("majority")
def pick(pool: Pool, k: int) -> Pick:
    """maj@k: expected accuracy of a vote over a random k-subset of the pool (ties: uniform)."""
    votes = Counter(key for key in pool.keys if key is not None)
    top = votes.most_common(1)[0][0] if votes else None
    return Pick(pool.answer_of(top), maj_at_k(pool.keys, pool.correct, k), pool.samples[0].completion.text)
