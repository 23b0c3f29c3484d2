"""Scaling-law fits on synthetic records drawn from known curves: the fits must recover the
parameters (inside their bootstrap intervals, point estimates close), flag what cannot be
identified, and invert to the compute that reaches a target."""
from __future__ import annotations

import math
from dataclasses import MISSING, fields

import numpy as np
import pandas as pd
import pytest

from harness.contracts import Record
from harness.report.colors import color_for, with_alpha
from harness.report.fits import (
    POWER_LAW,
    compute_to_target,
    fit_accuracy,
    fit_coverage,
    fit_figure,
    fit_total_compute,
    fits_table,
    power_law,
    power_law_inverse,
    sigmoid,
    sigmoid_inverse,
)

DEFAULTS = {f.name: (None if f.default is MISSING else f.default) for f in fields(Record)}
TRUE_SIGMOID = {"R0": 0.1, "A": 0.8, "C_mid": 4e8, "B": 1.5}  # 5 % to 96 % of the rise measured
TRUE_POWER = {"a": -1.2, "b": -0.6}


def records(curve: dict[int, float], costs: dict[int, float], n: int, seed: int, method: str = "m",
            method_name: str = "majority", checkpoint: str = "c", post_train: float = 0.0) -> list[dict]:
    """Per-problem 0/1 rows whose accuracy at each budget is `curve[budget]` plus binomial noise.

    Problem i has a difficulty u_i ~ U(0, 1) and is right at a budget iff u_i < curve[budget]: a
    problem solved with little compute stays solved with more, so the points of a curve are
    paired over problems as real ones are."""
    u = np.random.default_rng(seed).uniform(size=n)
    return [DEFAULTS | {"run": "r", "task": "t", "checkpoint": checkpoint, "method": method,
                        "method_name": method_name, "verifier": None, "budget": k, "seed": 0,
                        "problem_id": f"p{i}", "correct": float(u[i] < acc), "flops": costs[k],
                        "generated_tokens": costs[k] / 1e6, "post_train_flops": post_train}
            for k, acc in curve.items() for i in range(n)]


def frame(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=Record.columns())


BUDGETS = [1, 2, 4, 8, 16, 32, 64]
COSTS = {k: 1e7 + 5e7 * k for k in BUDGETS}  # a prompt read once plus 5e7 FLOPs per sample: 6e7 .. 3.2e9


def sigmoid_records(n: int = 400, seed: int = 1) -> pd.DataFrame:
    return frame(records({k: float(sigmoid(COSTS[k], *TRUE_SIGMOID.values())) for k in BUDGETS}, COSTS, n, seed))


def test_sigmoid_recovers_known_parameters() -> None:
    (fit,) = fit_accuracy(sigmoid_records(), n_boot=120, seed=0)
    for name, true in TRUE_SIGMOID.items():
        lo, hi = fit.intervals[name]
        assert lo <= true <= hi, (name, true, lo, hi)
    assert fit.params["R0"] == pytest.approx(0.1, abs=0.05)
    assert fit.params["A"] == pytest.approx(0.8, abs=0.05)
    assert math.log(fit.params["C_mid"]) == pytest.approx(math.log(4e8), abs=0.3)
    assert fit.params["B"] == pytest.approx(1.5, rel=0.3)
    assert fit.converged and not fit.flags, fit.flags
    # Residuals are observed minus fitted, point by point; the band holds the fitted curve.
    p = fit.points
    assert np.allclose(p["residual"], p["accuracy"] - fit.predict(p["x"].to_numpy()))
    assert np.all(fit.curve["low"] <= fit.curve["fitted"] + 1e-9)
    assert np.all(fit.curve["fitted"] <= fit.curve["high"] + 1e-9)


def test_bootstrap_is_seeded_and_pairs_budgets() -> None:
    rec = sigmoid_records(n=200)
    a, b = fit_accuracy(rec, n_boot=30, seed=3), fit_accuracy(rec, n_boot=30, seed=3)
    c = fit_accuracy(rec, n_boot=30, seed=4)
    assert a[0].intervals == b[0].intervals and np.array_equal(a[0].boot_params, b[0].boot_params)
    assert a[0].intervals != c[0].intervals
    # Budgets paired: nested correctness means every refit's points stay monotone, which an
    # independent draw per budget would break; the band is then much narrower than unpaired.
    assert a[0].n_boot == 30 and a[0].boot_failed == 0


def test_power_law_recovers_known_parameters() -> None:
    curve = {k: float(power_law(k, *TRUE_POWER.values())) for k in BUDGETS}
    rec = frame(records(curve, COSTS, 300, seed=2, method="oracle_best_of_n", method_name="oracle_best_of_n"))
    (fit,) = fit_coverage(rec, n_boot=150, seed=0)
    assert fit.model == POWER_LAW and fit.oracle
    for name, true in TRUE_POWER.items():
        lo, hi = fit.intervals[name]
        assert lo <= true <= hi, (name, true, lo, hi)
    # Close within about three standard errors at n = 300 (c(1) alone moves a by ~0.09 per se).
    assert fit.params["a"] == pytest.approx(-1.2, abs=0.25)
    assert fit.params["b"] == pytest.approx(-0.6, abs=0.12)
    true = np.array([curve[k] for k in BUDGETS])
    assert np.all(np.abs(fit.points["fitted"] - true) < 3 * np.sqrt(true * (1 - true) / 300))
    # Costs are affine in k: the curve is placed on the compute axis by that line.
    assert fit.x_per_budget == pytest.approx(5e7) and fit.x_fixed == pytest.approx(1e7)
    reach = compute_to_target(fit, 0.9)
    k = power_law_inverse(0.9, fit.params["a"], fit.params["b"])
    assert reach.status == "reached" and reach.budget == pytest.approx(k)
    assert reach.compute == pytest.approx(1e7 + 5e7 * k)
    assert reach.low <= reach.compute <= reach.high
    assert fit.predict(reach.compute) == pytest.approx(0.9)
    # Coverage never reaches 1 with b < 0: said, not extrapolated.
    full = compute_to_target(fit, 1.0)
    assert full.status == "not reached within the fitted asymptote" and math.isnan(full.compute)
    # A target one sample reaches (c(1) = exp(a)), down to 0 (a run whose best accuracy is 0):
    # one sample's compute (was: a math domain error that killed the report).
    for easy in (0.0, math.exp(fit.params["a"]) / 2):
        one = compute_to_target(fit, easy)
        assert one.status == "reached" and one.budget == 1.0 and one.compute == pytest.approx(6e7)


def test_compute_to_target_is_the_analytic_inverse() -> None:
    (fit,) = fit_accuracy(sigmoid_records(), n_boot=60, seed=0)
    p = fit.params
    for target in (0.3, 0.5, 0.7):
        reach = compute_to_target(fit, target)
        assert reach.status == "reached"
        assert reach.compute == pytest.approx(sigmoid_inverse(target, p["R0"], p["A"], p["C_mid"], p["B"]))
        assert fit.predict(reach.compute) == pytest.approx(target)
        # The closed form of the true curve lies in the interval.
        true = sigmoid_inverse(target, *TRUE_SIGMOID.values())
        assert reach.low <= true <= reach.high, (target, true, reach)
    above = compute_to_target(fit, min(p["A"] + 0.05, 0.99))
    assert above.status == "not reached within the fitted asymptote" and math.isnan(above.compute)
    below = compute_to_target(fit, p["R0"] / 2)
    assert below.status == "at or below the fitted floor"


def test_flat_curve_is_flagged_not_dropped() -> None:
    flat = frame(records({k: 0.5 for k in BUDGETS}, COSTS, 300, seed=5))
    (fit,) = fit_accuracy(flat, n_boot=30, seed=0)
    assert any(f.startswith("flat") for f in fit.flags), fit.flags
    assert fit.flagged and len(fit.curve) > 0  # still drawn
    table = fits_table([fit], {"t": 0.6})
    assert table.loc[0, "flags"].startswith("flat")
    assert table.loc[0, "compute to target [95% CI]"] == "not reached within the fitted asymptote"


def test_too_few_points_and_saturation_are_flagged() -> None:
    three = {k: float(sigmoid(COSTS[k], *TRUE_SIGMOID.values())) for k in (1, 8, 64)}
    (few,) = fit_accuracy(frame(records(three, COSTS, 300, seed=6)), n_boot=20, seed=0)
    assert any(f.startswith("too few points") for f in few.flags), few.flags
    assert few.n_boot == 0 and all(math.isnan(v) for v in few.intervals["A"])
    # A curve still rising steeply at the largest budget towards 1: the plateau is not seen.
    rising = {k: float(sigmoid(COSTS[k], 0.05, 1.0, 3e9, 2.0)) for k in BUDGETS}
    (fit,) = fit_accuracy(frame(records(rising, COSTS, 400, seed=7)), n_boot=30, seed=0)
    assert any(f.startswith("A extrapolated") for f in fit.flags), (fit.params, fit.flags)
    # A fall that no rising sigmoid follows: the curve misses the points' intervals.
    falling = {k: 0.9 - 0.12 * i for i, k in enumerate(BUDGETS)}
    (bad,) = fit_accuracy(frame(records(falling, COSTS, 300, seed=8)), n_boot=20, seed=0)
    assert any(f.startswith("curve misses") for f in bad.flags), bad.flags


def test_total_compute_axis_runs_through_a_trainers_checkpoints() -> None:
    test_costs = {1: 1e8}
    acc = {"base": 0.2, "rft@10": 0.35, "rft@20": 0.55, "rft@40": 0.7, "rft@80": 0.75}
    train = {"base": 0.0, "rft@10": 1e11, "rft@20": 2e11, "rft@40": 4e11, "rft@80": 8e11}
    rows = [r for i, (ck, a) in enumerate(acc.items())
            for r in records({1: a}, test_costs, 200, seed=11, checkpoint=ck, post_train=train[ck])]
    (fit,) = fit_total_compute(frame(rows), n_boot=20, seed=0)
    assert fit.axis == "total_flops" and fit.checkpoint == "rft" and fit.method == "m@1"
    assert fit.points["label"].tolist() == list(acc)
    # x = post-training FLOPs + the test FLOPs over the 200 evaluated problems.
    assert fit.points["x"].tolist() == pytest.approx([train[c] + 200 * 1e8 for c in acc])
    assert fit_total_compute(sigmoid_records(n=50), n_boot=5) == []  # no trainer, no fits


def test_figure_and_colours() -> None:
    fits = fit_accuracy(sigmoid_records(n=200), n_boot=20, seed=0)
    flat = fit_accuracy(frame(records({k: 0.5 for k in BUDGETS}, COSTS, 100, seed=5, method="flat")), n_boot=10)
    fig = fit_figure(fits + flat, "t")
    names = [t.name for t in fig.data if t.showlegend is not False]
    assert "m · c fit" in names and "flat · c fit (flagged)" in names
    assert fig.layout.xaxis2.type == "log"
    assert any(t.yaxis == "y2" for t in fig.data)  # the residual panel
    assert color_for("majority") == color_for("majority") != color_for("best_of_n")
    assert color_for("some(new)") == color_for("some(new)")
    assert with_alpha("#102030", 0.5) == "rgba(16,32,48,0.5)"


def test_intervals_contain_their_estimate_or_the_fit_says_why() -> None:
    """The quickstart printed R0 = 4.78e-27 [9.77e-26, 0.0465]: a parameter on its bound 0 whose
    interval misses it by round-off. Such an end is moved onto the estimate; an estimate truly
    outside its interval is left as measured and flagged, naming the parameter."""
    from harness.report.fits import cover
    intervals, flags = cover({"R0": 4.78e-27, "A": 0.6}, {"R0": (9.77e-26, 0.0465), "A": (0.55, 0.65)})
    assert intervals == {"R0": (4.78e-27, 0.0465), "A": (0.55, 0.65)} and flags == ()
    intervals, (flag,) = cover({"B": 0.9}, {"B": (1.2, 3.0)})
    assert intervals == {"B": (1.2, 3.0)} and flag.startswith("B = 0.9 lies outside its bootstrap interval [1.2, 3]")
    for seed in (1, 2, 3):  # fits of a curve whose true R0 is on its bound: every interval holds its estimate
        truth = {"R0": 0.0, "A": 0.7, "C_mid": 3e8, "B": 1.2}
        df = frame(records({k: float(sigmoid(COSTS[k], *truth.values())) for k in BUDGETS}, COSTS, 200, seed))
        (fit,) = fit_accuracy(df, n_boot=100)
        for name, value in fit.params.items():
            lo, hi = fit.intervals[name]
            assert lo <= value <= hi or any(f.startswith(f"{name} = ") for f in fit.flags)
