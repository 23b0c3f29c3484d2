"""pass@k and maj@k against brute-force enumeration of every k-subset."""
from collections import Counter
from fractions import Fraction
from itertools import combinations

import numpy as np
import pytest

from harness.estimators import maj_at_k, pass_at_k


def brute_pass(n: int, c: int, k: int) -> float:
    flags = [True] * c + [False] * (n - c)
    subsets = list(combinations(range(n), k))
    return sum(any(flags[i] for i in s) for s in subsets) / len(subsets)


def brute_maj(answers, correct, k) -> float:
    ok = {a: c for a, c in zip(answers, correct)}
    total = Fraction(0)
    subsets = list(combinations(range(len(answers)), k))
    for s in subsets:
        votes = Counter(answers[i] for i in s if answers[i] is not None)
        if not votes:
            continue
        top = max(votes.values())
        winners = [a for a, v in votes.items() if v == top]
        total += Fraction(sum(ok[w] for w in winners), len(winners))  # uniform tie-break
    return float(total / len(subsets))


@pytest.mark.parametrize("n", [1, 2, 5, 8])
def test_pass_at_k_matches_enumeration(n: int) -> None:
    for c in range(n + 1):
        for k in range(1, n + 1):
            assert pass_at_k(n, c, k) == pytest.approx(brute_pass(n, c, k), abs=1e-12)


def test_pass_at_k_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError):
        pass_at_k(4, 5, 1)
    with pytest.raises(ValueError):
        pass_at_k(4, 1, 5)


def test_maj_at_k_matches_enumeration_on_random_pools() -> None:
    rng = np.random.default_rng(0)
    for trial in range(60):
        n = int(rng.integers(1, 10))
        kinds = int(rng.integers(1, 5))
        answers = [None if rng.random() < 0.15 else f"a{int(rng.integers(kinds))}" for _ in range(n)]
        right = f"a{int(rng.integers(kinds))}"
        correct = [a == right for a in answers]
        for k in range(1, n + 1):
            assert maj_at_k(answers, correct, k) == pytest.approx(brute_maj(answers, correct, k), abs=1e-12), (answers, k)


def test_maj_at_k_is_not_first_k() -> None:
    # The first two samples are wrong; over all 2-subsets the vote is right 1/2 of the time:
    # {r,r} right, {w1,w2} tie of two wrong, {r,w} ties split 1/2.
    answers, correct = ["w1", "w2", "r", "r"], [False, False, True, True]
    assert maj_at_k(answers, correct, 2) == pytest.approx(brute_maj(answers, correct, 2))
    assert maj_at_k(answers, correct, 2) == pytest.approx((1 + 4 * 0.5) / 6)


def test_maj_at_1_equals_pass_at_1() -> None:
    answers = ["x", "y", "x", None, "z"]
    correct = [True, False, True, False, False]
    assert maj_at_k(answers, correct, 1) == pytest.approx(pass_at_k(5, 2, 1))
