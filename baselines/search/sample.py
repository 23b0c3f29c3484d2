"""`sample`: the accuracy of one sampled completion (pass@1 = maj@1), estimated from the pool."""
from __future__ import annotations

from harness.methods import Pick, Pool, register_pooled


@register_pooled("sample", uses_budget=False)
def pick(pool: Pool, k: int) -> Pick:
    """One sample at the cell's temperature; accuracy = mean over all pooled samples."""
    first = pool.samples[0]
    return Pick(first.answer, sum(pool.correct) / len(pool.samples), first.completion.text)
