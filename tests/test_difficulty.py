"""Compute-optimal per difficulty bin: a deterministic split into disjoint halves, and on a case
built so that easy problems need one sample and hard ones many, per-bin allocation beats the
single global configuration on the held-out half."""
from __future__ import annotations

from dataclasses import MISSING, fields

import numpy as np
import pandas as pd

from harness.contracts import Record
from harness.report.difficulty import (
    compute_optimal_by_difficulty,
    difficulty_figure,
    difficulty_table,
    half_of,
    pass_at_1,
)

DEFAULTS = {f.name: (None if f.default is MISSING else f.default) for f in fields(Record)}
BUDGETS = [1, 2, 3, 4, 6, 8, 12, 16, 24, 32]
POOL = 32


def case(n: int = 400, seed: int = 0) -> pd.DataFrame:
    """Half the problems easy (a sample is right with p ~ U(0.97, 1)), half hard (p ~ U(0.03, 0.1)).
    `sample` gives pass@1 from a pool of 32; `bon`@k (a perfect verifier over k samples, cost k)
    is right with probability 1 - (1 - p)^k."""
    rng = np.random.default_rng(seed)
    hard = rng.uniform(size=n) < 0.5
    p = np.where(hard, rng.uniform(0.03, 0.1, n), rng.uniform(0.97, 1.0, n))
    right = rng.binomial(POOL, p)
    rows = []
    base = DEFAULTS | {"run": "r", "task": "t", "checkpoint": "c", "verifier": None, "seed": 0}
    for i in range(n):
        pid = f"q{i}"
        rows.append(base | {"problem_id": pid, "method": "sample", "method_name": "sample", "budget": 1,
                            "correct": right[i] / POOL, "n_samples": POOL, "n_correct": float(right[i]),
                            "flops": 1.0})
        for k in BUDGETS:
            rows.append(base | {"problem_id": pid, "method": "bon", "method_name": "best_of_n", "budget": k,
                                "correct": 1 - (1 - p[i]) ** k, "flops": float(k)})
    return pd.DataFrame(rows, columns=Record.columns())


def test_split_is_deterministic_and_disjoint() -> None:
    ids = [f"prob-{i}" for i in range(2000)]
    halves = [half_of(p) for p in ids]
    assert halves == [half_of(p) for p in reversed(ids)][::-1]  # order does not matter
    one = {p for p, h in zip(ids, halves) if h == 1}
    two = {p for p, h in zip(ids, halves) if h == 2}
    assert one.isdisjoint(two) and one | two == set(ids)
    assert 0.45 < len(one) / len(ids) < 0.55
    assert half_of("add4-9461+7939") == half_of("add4-9461+7939")


def test_pass_at_1_reads_the_pool() -> None:
    rec = case(n=20)
    p, source = pass_at_1(rec)
    assert "sample" in source
    expected = rec[rec["method"] == "sample"].set_index("problem_id")["n_correct"] / POOL
    assert np.allclose(p.sort_index(), expected.sort_index())


def test_per_bin_allocation_beats_global_where_easy_needs_one_sample() -> None:
    res = compute_optimal_by_difficulty(case(), n_bins=2)
    t = res.table
    assert len(t) == len(BUDGETS) and set(res.bins["bin"]) == {1, 2}  # levels: the distinct costs
    assert not t["note"].str.contains("worse").any()
    # Never worse on held-out problems beyond rounding, and clearly better at some level.
    assert (t["difference"] >= -0.005).all(), t[["level", "difference"]]
    best = t.loc[t["difference"].idxmax()]
    assert best["difference"] > 0.05 and best["difference ci_low"] > 0
    # There, the hard bin (bin 1) gets more samples than the level buys, the easy one fewer
    # (a sample costs 1 here, so the level is the global choice's budget).
    ch = res.choices[res.choices["level"] == best["level"]].set_index("bin")
    assert ch.loc[1, "budget"] > best["level"] > ch.loc[2, "budget"]
    # Per-bin spends at most the level in expectation on half 1, and about that on half 2.
    assert best["per-bin compute (half 2)"] <= best["level"] * 1.15
    # Matched-budget selection (no reallocation) cannot buy this gain: a bigger budget is never
    # worse here, so every bin takes the largest affordable one, as the global choice does (at
    # level 1, sample@1 and bon@1 cost the same and differ by pool noise only).
    same = compute_optimal_by_difficulty(case(), n_bins=2, allocate=False).table
    assert np.allclose(same["difference"], 0.0, atol=0.005) and np.allclose(same["difference"][1:], 0.0)
    assert difficulty_table(res).shape[0] == len(t)
    fig = difficulty_figure(res, "t", "c")
    assert {tr.name for tr in fig.data} >= {"global best (one configuration)", "per difficulty bin", "bon"}


def test_small_halves_are_said_to_be_small() -> None:
    res = compute_optimal_by_difficulty(case(n=40), n_bins=5)
    assert res.table["note"].str.contains("fewer than 10 held-out problems").all()
    # Intervals are given, and wide.
    assert ((res.table["per-bin ci_high"] - res.table["per-bin ci_low"]) > 0.1).any()
