"""Unbiased estimators over a pool of n samples: pass@k and maj@k over ALL k-subsets.

Taking "the first k" of the pool (lm-eval before PR #3351, verl before PR #7240) is a
high-variance estimate that also depends on sample order; these are exact expectations.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Hashable, Sequence
from fractions import Fraction
from math import comb


def pass_at_k(n: int, c: int, k: int) -> float:
    """P(at least one of k samples drawn without replacement from n is correct), Chen et al. 2021."""
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"need 0 <= c <= n and 1 <= k <= n, got n={n} c={c} k={k}")
    if n - c < k:
        return 1.0
    return 1.0 - comb(n - c, k) / comb(n, k)


def maj_at_k(answers: Sequence[Hashable | None], correct: Sequence[bool], k: int) -> float:
    """Expected correctness of a majority vote over a uniformly random k-subset of the pool.

    `answers[i]` is sample i's voting key (None: no answer, which never wins a vote);
    `correct[i]` says whether that answer is right (equal keys must agree). Ties are broken
    uniformly at random among the tied answers. Computed exactly by counting subsets.
    """
    n = len(answers)
    if len(correct) != n or not 1 <= k <= n:
        raise ValueError(f"need len(correct) == len(answers) and 1 <= k <= n, got n={n} k={k}")
    counts = Counter(a for a in answers if a is not None)
    right = {a for a, ok in zip(answers, correct) if a is not None and ok}
    abstain = n - sum(counts.values())
    total = Fraction(0)
    for target in right:
        others = [c for a, c in counts.items() if a != target]
        for x in range(1, min(counts[target], k) + 1):
            # ways[j][t]: choose j samples from the other answers, each with < x votes except
            # t of them tied at exactly x (the target then wins with probability 1 / (t + 1)).
            ways = [[0] * (len(others) + 1) for _ in range(k + 1)]
            ways[0][0] = 1
            for c in others:
                nxt = [[0] * (len(others) + 1) for _ in range(k + 1)]
                for j in range(k + 1):
                    for t, w in enumerate(ways[j]):
                        if not w:
                            continue
                        for y in range(0, min(c, x) + 1):
                            if j + y > k:
                                break
                            nxt[j + y][t + (y == x)] += w * comb(c, y)
                ways = nxt
            for j in range(k - x + 1):
                rest = k - x - j  # filled by abstaining samples
                if rest > abstain:
                    continue
                base = comb(counts[target], x) * comb(abstain, rest)
                for t, w in enumerate(ways[j]):
                    if w:
                        total += Fraction(base * w, t + 1)
    return float(total / comb(n, k))


def best_of_k(scores: Sequence[float], correct: Sequence[bool], k: int) -> float:
    """Expected correctness of the highest-scored of a random k-subset (ties: uniform), exactly.

    A sample is picked when it is in the subset, no higher-scored sample is, and it wins the
    draw among the equal-scored ones that are.
    """
    n = len(scores)
    if len(correct) != n or not 1 <= k <= n:
        raise ValueError(f"need len(correct) == len(scores) and 1 <= k <= n, got n={n} k={k}")
    total = Fraction(0)
    for value in set(scores):
        tied = [i for i in range(n) if scores[i] == value]
        lower = sum(s < value for s in scores)
        right = sum(correct[i] for i in tied)
        if not right:
            continue
        t = len(tied)
        # j of the t tied samples in the subset (at least one), the rest from the lower ones.
        for j in range(1, min(t, k) + 1):
            ways = comb(t, j) * comb(lower, k - j)
            total += Fraction(ways * right, t)  # each tied sample is the pick with prob. j/t · 1/j
    return float(total / comb(n, k))


def expected_over_subsets(n: int, k: int, value: Callable[[Sequence[int]], float],
                          rng, draws: int = 512) -> float:
    """E[value(S)] over uniformly random k-subsets S of range(n): exact at k = n (one subset),
    else an unbiased Monte-Carlo mean over `draws` seeded subsets (for rules with no closed form)."""
    if k == n:
        return float(value(range(n)))
    return float(sum(value(rng.choice(n, k, replace=False)) for _ in range(draws)) / draws)
