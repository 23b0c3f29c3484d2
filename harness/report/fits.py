"""Scaling-law fits over records: how accuracy grows with compute, with bootstrap uncertainty.

Two models, each fitted to the measured points of one curve (task, checkpoint, method):
- coverage (pass@k of `oracle_best_of_n`): the exponentiated power law of "Large Language
  Monkeys" (Brown et al. 2024), log c(k) = a·k^b, with a <= 0 and b <= 0 (coverage never falls);
- accuracy: a sigmoid in log-compute, acc(C) = R0 + (A - R0) / (1 + (C_mid / C)^B), with
  0 <= R0 <= A <= 1 and B > 0. x is a compute-per-problem column (`flops`, `generated_tokens`,
  `wall_s`) or, for runs with trainers, the total axis of `training.with_total_compute`.

Uncertainty: a bootstrap over problems. One draw of problem ids serves every point of every curve
of a task (the points of a curve stay paired, as they were measured on the same problems); each
draw is refitted; bands and parameter intervals are percentiles of the refits. Seeded.

Nothing is dropped: a fit that is poor or not identified (a parameter on its bound, C_mid outside
the measured compute, as many parameters as points, no convergence, points the curve misses) is
returned with `flags` saying so, and drawn labelled as flagged.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots
from scipy.optimize import least_squares

from harness.report.colors import color_for, with_alpha
from harness.report.stats import ci95
from harness.report.training import TRAINED_NAME

SIGMOID = "sigmoid"
POWER_LAW = "power_law"
PARAMS = {SIGMOID: ("R0", "A", "C_mid", "B"), POWER_LAW: ("a", "b")}
COVERAGE_METHOD = "oracle_best_of_n"  # the registered method whose points are pass@k
AXIS_LABELS = {"flops": "inference FLOPs / problem", "generated_tokens": "generated tokens / problem",
               "wall_s": "wall seconds / problem",
               "total_flops": "post-training + test-time FLOPs (all evaluated problems)"}

# Bounds of the search box. B is the slope per unit of ln C: 50 is a step, 0.01 a flat line over
# any measured range. b <= 0 and a <= 0 because pass@k never falls with k and never exceeds 1.
B_BOUNDS = (0.01, 50.0)
A_BOUNDS = (-50.0, 0.0)
b_BOUNDS = (-5.0, 0.0)
ON_BOUND = 1e-3        # relative distance to a bound that counts as "on" it
FLAT = 0.01            # A - R0 below this: no rise, so C_mid and B say nothing
SEEN = 0.9             # share of the rise the points must span for a plateau to count as measured
FAILED_SHARE = 0.1     # share of bootstrap refits that may fail before the fit is flagged


@dataclass(frozen=True)
class Fit:
    """One fitted curve.

    `checkpoint` is the checkpoint, or the trainer label on the total-compute axis (where a curve
    runs through a trainer's checkpoints and `method` is "method@budget"). `points` has one row
    per measured point: label, budget, x, accuracy, ci_low, ci_high, fitted, residual (observed
    minus fitted) and outside_ci (the curve misses the point's 95 % interval). `curve` has x,
    fitted, low, high (the 95 % bootstrap band) on a grid over the measured x range. For the power
    law, x is the compute on `axis` of k samples, x_fixed + x_per_budget · k, a line fitted
    through the measured points (a pool's cost is affine in k: the prompt is read once).
    """
    task: str
    checkpoint: str
    method: str
    model: str
    axis: str
    oracle: bool
    params: dict[str, float]
    intervals: dict[str, tuple[float, float]]
    points: pd.DataFrame
    curve: pd.DataFrame
    flags: tuple[str, ...]
    converged: bool
    n_problems: int
    n_boot: int
    boot_failed: int
    x_per_budget: float = math.nan
    x_fixed: float = 0.0
    boot_params: np.ndarray = field(default_factory=lambda: np.empty((0, 0)), repr=False)

    @property
    def flagged(self) -> bool:
        return bool(self.flags)

    @property
    def label(self) -> str:
        return f"{self.method} · {self.checkpoint}"

    def predict(self, x: np.ndarray | float) -> np.ndarray:
        """The fitted accuracy at compute `x` (on `axis`)."""
        theta = tuple(self.params[p] for p in PARAMS[self.model])
        x = np.asarray(x, float)
        return _value(self.model, theta, x if self.model == SIGMOID else self.budget_at(x))

    def budget_at(self, x: np.ndarray | float) -> np.ndarray:
        """Power law: the number of samples k whose compute is `x`."""
        return (np.asarray(x, float) - self.x_fixed) / self.x_per_budget


@dataclass(frozen=True)
class Reach:
    """Compute per problem (on the fit's axis) at which the fitted curve reaches `target`.

    status: "reached"; "not reached within the fitted asymptote" (the plateau is below the target:
    no compute is given, nothing is extrapolated past it); or "at or below the fitted floor" (R0
    already reaches it). `low`/`high` is the bootstrap percentile interval (inf where more than
    2.5 % of refits never reach it); `reached_share` the share of refits that reach it;
    `beyond_measured` says the point estimate lies right of the largest measured compute.
    `budget` is k for the power law (samples needed), else nan.
    """
    target: float
    status: str
    compute: float
    low: float
    high: float
    reached_share: float
    beyond_measured: bool
    budget: float = math.nan


# ---------------------------------------------------------------------------------------- models

def sigmoid(x: np.ndarray, r0: float, a: float, c_mid: float, b: float) -> np.ndarray:
    """R0 + (A - R0) / (1 + (C_mid / x)^B), computed in log space (x spans decades)."""
    t = np.log(np.asarray(x, float)) - math.log(c_mid)
    return r0 + (a - r0) / (1.0 + np.exp(-b * t))


def power_law(k: np.ndarray, a: float, b: float) -> np.ndarray:
    """Coverage exp(a·k^b) at k samples."""
    return np.exp(a * np.power(np.asarray(k, float), b))


def _value(model: str, theta: tuple[float, ...], x: np.ndarray) -> np.ndarray:
    """The model at x (sigmoid: compute; power law: k)."""
    return sigmoid(x, *theta) if model == SIGMOID else power_law(x, *theta)


def sigmoid_inverse(target: float, r0: float, a: float, c_mid: float, b: float) -> float:
    """The x where the sigmoid equals `target` (R0 < target < A), in closed form."""
    return c_mid * ((a - r0) / (target - r0) - 1.0) ** (-1.0 / b)


def power_law_inverse(target: float, a: float, b: float) -> float:
    """The k where exp(a·k^b) equals `target` (a < 0, b < 0, exp(a) <= target < 1)."""
    return (math.log(target) / a) ** (1.0 / b)


# ------------------------------------------------------------------------------------ the data

@dataclass(frozen=True)
class _Curve:
    """Per-problem scores behind one curve: rows are the task's problems, columns its points."""
    task: str
    checkpoint: str
    method: str
    oracle: bool
    labels: list[str]
    budgets: np.ndarray
    correct: np.ndarray  # problems × points, nan where a problem was not run
    cost: np.ndarray     # problems × points, per-problem compute on the axis
    offset: np.ndarray   # per point: compute spent once (post-training FLOPs on the total axis)
    per_problem: bool    # x is per problem (mean cost) or summed over the evaluated problems

    def xy(self, rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        c = self.correct if rows is None else self.correct[rows]
        k = self.cost if rows is None else self.cost[rows]
        with np.errstate(invalid="ignore"):
            y = np.nanmean(c, axis=0)
            x = np.nanmean(k, axis=0)
        if not self.per_problem:
            x = x * np.sum(~np.isnan(self.correct), axis=0)  # the total over the evaluated problems
        return x + self.offset, y


def _per_problem(records: pd.DataFrame, x: str) -> pd.DataFrame:
    """Seeds averaged per problem (as `stats.aggregate` does), the oracle flag per row."""
    oracle = (records["method_name"] == COVERAGE_METHOD) | (records["verifier"] == "oracle")
    return (records.assign(oracle=oracle, cost=records[x])
            .groupby(["task", "checkpoint", "method", "budget", "problem_id"], as_index=False)
            .agg(correct=("correct", "mean"), cost=("cost", "mean"), oracle=("oracle", "max"),
                 method_name=("method_name", "first"), post_train_flops=("post_train_flops", "max")))


def _matrix(g: pd.DataFrame, columns: list, column_key: str, problems: pd.Index, value: str) -> np.ndarray:
    wide = g.pivot_table(index="problem_id", columns=column_key, values=value, aggfunc="mean")
    return wide.reindex(index=problems, columns=columns).to_numpy(dtype=float)


def _test_curves(records: pd.DataFrame, x: str, min_points: int, method_names: set[str] | None
                 ) -> dict[str, list[_Curve]]:
    pp = _per_problem(records, x)
    out: dict[str, list[_Curve]] = {}
    for task, t in pp.groupby("task", sort=True):
        problems = pd.Index(sorted(t["problem_id"].unique()))
        curves = []
        for (ckpt, method), g in t.groupby(["checkpoint", "method"], sort=True):
            if method_names is not None and not set(g["method_name"]) & method_names:
                continue
            budgets = sorted(g["budget"].unique())
            if len(budgets) < min_points:
                continue
            curves.append(_Curve(task, ckpt, method, bool(g["oracle"].max()), [str(b) for b in budgets],
                                 np.array(budgets, float), _matrix(g, budgets, "budget", problems, "correct"),
                                 _matrix(g, budgets, "budget", problems, "cost"), np.zeros(len(budgets)), True))
        out[str(task)] = curves
    return out


def _training_curves(records: pd.DataFrame, min_points: int) -> dict[str, list[_Curve]]:
    """Curves through a trainer's checkpoints at one method@budget, the base's point first (the
    curves of `training.training_figure`); x = post-training FLOPs + test FLOPs over the problems."""
    pp = _per_problem(records, "flops")
    trained = pp["post_train_flops"] > 0
    names = pp["checkpoint"].map(TRAINED_NAME.match)
    pp["trainer"] = [m["trainer"] if t and m else ("base" if not t else c)
                     for c, m, t in zip(pp["checkpoint"], names, trained)]
    out: dict[str, list[_Curve]] = {}
    for task, t in pp.groupby("task", sort=True):
        problems = pd.Index(sorted(t["problem_id"].unique()))
        curves = []
        for (method, budget), g in t.groupby(["method", "budget"], sort=True):
            base = g[g["trainer"] == "base"]
            for trainer in sorted(set(g["trainer"]) - {"base"}):
                line = pd.concat([base, g[g["trainer"] == trainer]])
                ckpts = (line.groupby("checkpoint")["post_train_flops"].max().sort_values().index.tolist())
                if len(ckpts) < min_points:
                    continue
                offset = line.groupby("checkpoint")["post_train_flops"].max().reindex(ckpts).to_numpy(float)
                curves.append(_Curve(task, trainer, f"{method}@{budget}", bool(line["oracle"].max()), ckpts,
                                     np.full(len(ckpts), float(budget)),
                                     _matrix(line, ckpts, "checkpoint", problems, "correct"),
                                     _matrix(line, ckpts, "checkpoint", problems, "cost"), offset, False))
        out[str(task)] = curves
    return out


# ---------------------------------------------------------------------------------- least squares

def _se(correct: np.ndarray) -> np.ndarray:
    """Standard error of each point's mean over problems, never below that of one success (or
    failure) in n + 2: a point at 0 or 1 is not known exactly, and must not get infinite weight."""
    n = np.sum(~np.isnan(correct), axis=0)
    sd = np.nanstd(correct, axis=0, ddof=1)
    q = 1.0 / (n + 2)
    return np.maximum(sd, np.sqrt(q * (1 - q))) / np.sqrt(n)


@dataclass(frozen=True)
class _Solution:
    theta: tuple[float, ...]  # natural parameters, PARAMS order
    ok: bool


def _converged(res) -> bool:  # res: scipy's OptimizeResult
    """A tolerance was met, or the curve passes through every point (with as many parameters as
    points the cost falls towards 0 along a ridge and no relative tolerance is ever met: that is
    an interpolation, flagged as too few points, not a failure)."""
    return bool(res.status > 0 or 2 * res.cost < 1e-6 * len(res.fun))


def _solve_sigmoid(x: np.ndarray, y: np.ndarray, se: np.ndarray, starts: list[np.ndarray] | None,
                   box: tuple[float, float], max_nfev: int) -> tuple[_Solution, list[np.ndarray]]:
    """Weighted least squares for the sigmoid, several starts. Internally R0 = r, A = r + (1-r)s
    (so R0 <= A is a box constraint) and u = ln C_mid - the reference log compute."""
    t = np.log(x)
    ref = float(np.mean(t))
    t = t - ref
    lo = np.array([0.0, 0.0, box[0] - ref, B_BOUNDS[0]])
    hi = np.array([1.0, 1.0, box[1] - ref, B_BOUNDS[1]])

    def resid(p: np.ndarray) -> np.ndarray:
        sig = 1.0 / (1.0 + np.exp(-p[3] * (t - p[2])))
        return (p[0] + (1 - p[0]) * p[1] * sig - y) / se

    def jac(p: np.ndarray) -> np.ndarray:  # analytic: refits are the report's main cost
        sig = 1.0 / (1.0 + np.exp(-p[3] * (t - p[2])))
        rise = (1 - p[0]) * p[1] * sig * (1 - sig)
        return np.stack([1 - p[1] * sig, (1 - p[0]) * sig, -p[3] * rise, (t - p[2]) * rise], axis=1) / se[:, None]

    if starts is None:
        r0 = min(max(float(y.min()) - 0.02, 0.0), 0.98)
        s = min(max((float(y.max()) + 0.02 - r0) / (1 - r0), 0.0), 1.0)
        span = max(float(t.max() - t.min()), 1e-6)
        starts = [np.array([r0, s, u, b / span]) for u in (t.min(), 0.0, t.max()) for b in (1.0, 4.0, 16.0)]
    else:  # given with absolute u = ln C_mid (refits: the reference moves with the draw)
        starts = [np.array(s_, float) - np.array([0.0, 0.0, ref, 0.0]) for s_ in starts]
    best = None
    for s0 in starts:
        s0 = np.clip(s0, lo + 1e-9 * (hi - lo), hi - 1e-9 * (hi - lo))
        try:
            res = least_squares(resid, s0, jac=jac, bounds=(lo, hi), x_scale="jac", max_nfev=max_nfev)
        except (ValueError, FloatingPointError):
            continue
        if best is None or res.cost < best.cost:
            best = res
    if best is None or not np.all(np.isfinite(best.x)):
        return _Solution((math.nan,) * 4, False), []
    p = best.x
    theta = (float(p[0]), float(p[0] + (1 - p[0]) * p[1]), float(math.exp(p[2] + ref)), float(p[3]))
    internal = np.array([p[0], p[1], p[2] + ref, p[3]])
    return _Solution(theta, _converged(best)), [internal]


def _solve_power(k: np.ndarray, y: np.ndarray, se: np.ndarray, starts: list[np.ndarray] | None,
                 max_nfev: int) -> tuple[_Solution, list[np.ndarray]]:
    """Weighted least squares of exp(a·k^b) on coverage itself (not on log c, where a point with
    no correct sample at all would sit at minus infinity; the model is the same)."""
    lo, hi = np.array([A_BOUNDS[0], b_BOUNDS[0]]), np.array([A_BOUNDS[1], b_BOUNDS[1]])

    def resid(p: np.ndarray) -> np.ndarray:
        return (np.exp(p[0] * np.power(k, p[1])) - y) / se

    if starts is None:
        c1 = float(y[np.argmin(k)])
        a0 = math.log(min(max(c1, 1e-6), 0.999)) / max(float(k.min()), 1.0)
        starts = [np.array([a0, b0]) for b0 in (-0.2, -0.6, -1.5)]
    best = None
    for s0 in starts:
        s0 = np.clip(np.array(s0, float), lo + 1e-9, hi - 1e-9)
        try:
            res = least_squares(resid, s0, bounds=(lo, hi), x_scale="jac", max_nfev=max_nfev)
        except (ValueError, FloatingPointError):
            continue
        if best is None or res.cost < best.cost:
            best = res
    if best is None or not np.all(np.isfinite(best.x)):
        return _Solution((math.nan,) * 2, False), []
    return _Solution((float(best.x[0]), float(best.x[1])), _converged(best)), [best.x.copy()]


# ------------------------------------------------------------------------------------ fitting

def _on(value: float, bound: float, scale: float) -> bool:
    return abs(value - bound) <= ON_BOUND * max(scale, 1e-12)


def _flags(model: str, theta: tuple[float, ...], n_points: int, converged: bool, x: np.ndarray,
           box: tuple[float, float], outside: int, boot_failed: int, n_boot: int) -> tuple[str, ...]:
    flags = []
    n_params = len(PARAMS[model])
    if n_points <= n_params:
        flags.append(f"too few points: {n_points} points for {n_params} parameters (no bootstrap)")
    if not converged:
        flags.append("did not converge")
    if model == SIGMOID and converged:
        r0, a, c_mid, b = theta
        if a - r0 < FLAT:
            flags.append(f"flat: A - R0 = {a - r0:.3f}, so C_mid and B are not identified")
        if _on(a, 1.0, 1.0):
            flags.append("A on its bound 1: the plateau is not identified")
        u, span = math.log(c_mid), box[1] - box[0]
        if _on(u, box[0], span) or _on(u, box[1], span):
            flags.append("C_mid on the edge of the search box")
        elif not x.min() <= c_mid <= x.max():
            flags.append(f"C_mid = {c_mid:.3g} outside the measured compute [{x.min():.3g}, {x.max():.3g}]")
        if _on(b, B_BOUNDS[0], B_BOUNDS[1]) or _on(b, B_BOUNDS[1], B_BOUNDS[1]):
            flags.append(f"B on its bound {b:.3g}")
        # How much of the rise the measured points span: a plateau the points never approach is
        # an extrapolation of the model's shape, not a measurement.
        if a - r0 >= FLAT:
            seen_top = float(1 / (1 + math.exp(-b * (math.log(x.max()) - u))))
            seen_bottom = float(1 / (1 + math.exp(-b * (math.log(x.min()) - u))))
            if seen_top < SEEN:
                flags.append(f"A extrapolated: the largest compute reaches {seen_top:.0%} of the fitted rise")
            if seen_bottom > 1 - SEEN:
                flags.append(f"R0 extrapolated: the smallest compute is already {seen_bottom:.0%} up the fitted rise")
        # A rise (10 % to 90 % of A - R0, 2 ln 9 / B wide in ln C) that fits between two
        # neighbouring measured points: any steeper B and any C_mid between them fit as well.
        xs = np.sort(x)
        left, right = xs[xs <= c_mid], xs[xs > c_mid]
        if a - r0 >= FLAT and len(left) and len(right) and 2 * math.log(9) / b < math.log(right[0] / left[-1]):
            flags.append(f"step between two measured points ({left[-1]:.3g}, {right[0]:.3g}): "
                         "B is only bounded below, C_mid only known to lie between them")
    if model == POWER_LAW and converged:
        a, b = theta
        if _on(a, A_BOUNDS[0], -A_BOUNDS[0]) or _on(a, A_BOUNDS[1], -A_BOUNDS[0]):
            flags.append(f"a on its bound {a:.3g}")
        if _on(b, b_BOUNDS[1], -b_BOUNDS[0]):
            flags.append("b on its bound 0: no growth with k, the plateau exp(a) < 1 is not identified")
        elif _on(b, b_BOUNDS[0], -b_BOUNDS[0]):
            flags.append(f"b on its bound {b_BOUNDS[0]:g}")
    if outside:
        flags.append(f"curve misses the 95 % CI of {outside} of {n_points} points")
    if n_boot and boot_failed > FAILED_SHARE * n_boot:
        flags.append(f"{boot_failed} of {n_boot} bootstrap refits failed")
    return tuple(flags)


COVER_TOL = 1e-6  # of an interval's width: an end that close to the estimate is the estimate


def cover(params: dict[str, float], intervals: dict[str, tuple[float, float]]
          ) -> tuple[dict[str, tuple[float, float]], tuple[str, ...]]:
    """Intervals that contain their estimate, and a flag for each that cannot.

    A parameter on its bound (R0 = 0) is fitted to ~1e-27 while the refits' 2.5 % quantile
    lands at ~1e-25: the same value to the optimiser, but printed as an interval that misses
    its estimate. An end within `COVER_TOL` of the interval's width (or 1e-12) of the estimate
    is moved onto it. One farther off is left as measured and the fit is flagged, saying so:
    the refits' percentiles then do not describe the estimate's uncertainty (the optimum of
    the data is not typical of the refits: a bound, a ridge, a second basin)."""
    out, flags = {}, []
    for name, (lo, hi) in intervals.items():
        v = params[name]
        if not (math.isfinite(lo) and math.isfinite(hi) and math.isfinite(v)):
            out[name] = (lo, hi)
            continue
        tol = max(COVER_TOL * abs(hi - lo), 1e-12)
        if lo - tol <= v <= hi + tol:
            out[name] = (min(lo, v), max(hi, v))
        else:
            out[name] = (lo, hi)
            flags.append(f"{name} = {v:.3g} lies outside its bootstrap interval [{lo:.3g}, {hi:.3g}]: "
                         "the refits do not centre on the fit (a bound, a ridge or another optimum)")
    return out, tuple(flags)


def _fit_curve(curve: _Curve, model: str, axis: str, draws: np.ndarray, grid_points: int) -> Fit:
    x, y = curve.xy()
    se = _se(curve.correct)
    x_per_budget, x_fixed = math.nan, 0.0
    # Where the model is evaluated: compute for the sigmoid, k for the power law.
    at, lo_hi = (x, (x.min(), x.max())) if model == SIGMOID else (curve.budgets, (curve.budgets.min(), curve.budgets.max()))
    if model == POWER_LAW:
        x_per_budget, x_fixed = (float(v) for v in np.polyfit(curve.budgets, x, 1))
        if x_per_budget <= 0:  # costs that do not grow with k: place the curve proportionally
            x_per_budget, x_fixed = float(np.sum(x) / np.sum(curve.budgets)), 0.0
    # C_mid may leave the measured range (a flag), but only so far: a decade and a half beyond
    # the range on either side (on a log axis), or the range's own width if that is wider.
    span = max(float(np.log(x.max()) - np.log(x.min())), math.log(10) * 1.5)
    box = (float(np.log(x.min())) - span, float(np.log(x.max())) + span)

    def solve(xs: np.ndarray, ys: np.ndarray, starts: list[np.ndarray] | None) -> tuple[_Solution, list]:
        # Refits start at the optimum of the full data, a few steps away: fewer evaluations.
        nfev = (1000 if identified else 200) if starts is None else 300
        if model == SIGMOID:
            return _solve_sigmoid(xs, ys, se, starts, box, nfev)
        return _solve_power(curve.budgets, ys, se, starts, nfev)

    # As many parameters as points: the curve interpolates them and any of a ridge of parameter
    # vectors does so; refits would only wander along it. No band, no intervals (flagged).
    identified = len(x) > len(PARAMS[model])
    sol, internal = solve(x, y, None)
    grid = np.exp(np.linspace(math.log(lo_hi[0]), math.log(lo_hi[1]), grid_points))
    grid_x = grid if model == SIGMOID else x_fixed + x_per_budget * grid
    fitted_pts = _value(model, sol.theta, at)
    # Refits start from the point estimate (and the default starts where it failed): same optimum
    # basin, a fraction of the cost.
    boot, failed = [], 0
    for rows in (draws if identified else []):
        bx, by = curve.xy(rows)
        if not (np.all(np.isfinite(by)) and np.all(bx > 0)):
            failed += 1
            continue
        bsol, _ = solve(bx, by, internal or None)
        if not bsol.ok:
            failed += 1
            continue
        boot.append(bsol.theta)
    boot_params = np.array(boot, float).reshape(len(boot), len(PARAMS[model]))
    if len(boot):
        band = np.array([_value(model, tuple(p), grid) for p in boot_params])
        low, high = np.percentile(band, [2.5, 97.5], axis=0)
        intervals = {name: (float(np.percentile(boot_params[:, i], 2.5)), float(np.percentile(boot_params[:, i], 97.5)))
                     for i, name in enumerate(PARAMS[model])}
    else:
        low = high = np.full(len(grid), math.nan)
        intervals = {name: (math.nan, math.nan) for name in PARAMS[model]}
    intervals, uncovered = cover(dict(zip(PARAMS[model], sol.theta)), intervals)
    cis = [ci95(col[~np.isnan(col)]) for col in curve.correct.T]
    ci_low, ci_high = np.array([c[0] for c in cis]), np.array([c[1] for c in cis])
    outside = (fitted_pts < ci_low - 1e-9) | (fitted_pts > ci_high + 1e-9)
    points = pd.DataFrame({"label": curve.labels, "budget": curve.budgets, "x": x, "accuracy": y,
                           "ci_low": ci_low, "ci_high": ci_high, "fitted": fitted_pts,
                           "residual": y - fitted_pts, "outside_ci": outside,
                           "n": np.sum(~np.isnan(curve.correct), axis=0)})
    flags = _flags(model, sol.theta, len(x), sol.ok, x, box, int(outside.sum()) if sol.ok else 0,
                   failed, len(draws) if identified else 0) + uncovered
    return Fit(curve.task, curve.checkpoint, curve.method, model, axis, curve.oracle,
               dict(zip(PARAMS[model], sol.theta)), intervals, points,
               pd.DataFrame({"x": grid_x, "fitted": _value(model, sol.theta, grid), "low": low, "high": high}),
               flags, sol.ok, int(np.sum(np.any(~np.isnan(curve.correct), axis=1))),
               len(draws) if identified else 0, failed,
               x_per_budget, x_fixed, boot_params)


def _draws(n_problems: int, n_boot: int, seed: int, task: str) -> np.ndarray:
    """Bootstrap draws of problem rows for one task: seeded by (seed, task), so a task's intervals
    do not depend on which other tasks the run has."""
    task_seed = int(hashlib.sha256(task.encode("utf-8")).hexdigest()[:8], 16)
    rng = np.random.default_rng([seed, task_seed])
    return rng.integers(0, n_problems, size=(n_boot, n_problems))


def _fit_all(curves: dict[str, list[_Curve]], model: str, axis: str, n_boot: int, seed: int,
             grid_points: int) -> list[Fit]:
    fits = []
    for task, cs in curves.items():
        if not cs:
            continue
        draws = _draws(cs[0].correct.shape[0], n_boot, seed, task)  # the same rows for every curve
        fits += [_fit_curve(c, model, axis, draws, grid_points) for c in cs]
    return fits


def fit_accuracy(records: pd.DataFrame, x: str = "flops", n_boot: int = 200, seed: int = 0,
                 min_budgets: int = 3, grid_points: int = 80) -> list[Fit]:
    """A sigmoid-in-log-compute fit per (task, checkpoint, method) with `min_budgets` budgets or more.

    `x` is a per-problem compute column of the records (flops, generated_tokens, wall_s). Every
    method is fitted, the oracle ones too (`Fit.oracle` marks them: an upper bound, not a method).
    """
    return _fit_all(_test_curves(records, x, min_budgets, None), SIGMOID, x, n_boot, seed, grid_points)


def fit_coverage(records: pd.DataFrame, x: str = "flops", n_boot: int = 200, seed: int = 0,
                 min_budgets: int = 3, grid_points: int = 80) -> list[Fit]:
    """The exponentiated power law c(k) = exp(a·k^b) per (task, checkpoint) curve of the coverage
    method (`oracle_best_of_n`: pass@k). Fitted in k; `x` only places the curve on a compute axis."""
    curves = _test_curves(records, x, min_budgets, {COVERAGE_METHOD})
    return _fit_all(curves, POWER_LAW, x, n_boot, seed, grid_points)


def fit_total_compute(records: pd.DataFrame, n_boot: int = 200, seed: int = 0, min_points: int = 3,
                      grid_points: int = 80) -> list[Fit]:
    """Sigmoid fits on the total axis (post-training + test-time FLOPs over the evaluated
    problems): one curve per trainer and method@budget through the base and that trainer's
    checkpoints, as `training.training_figure` draws them. Empty without trained checkpoints."""
    if not (records["post_train_flops"] > 0).any():
        return []
    return _fit_all(_training_curves(records, min_points), SIGMOID, "total_flops", n_boot, seed, grid_points)


# --------------------------------------------------------------------------- compute to target

def _reach_one(model: str, theta: tuple[float, ...], target: float, x_fixed: float, x_per_budget: float
               ) -> tuple[str, float, float]:
    """(status, compute, budget) for one parameter vector."""
    if model == SIGMOID:
        r0, a, _, _ = theta
        if target <= r0:
            return "at or below the fitted floor", 0.0, math.nan
        if target >= a:
            return "not reached within the fitted asymptote", math.inf, math.nan
        return "reached", sigmoid_inverse(target, *theta), math.nan
    a, b = theta
    plateau = 1.0 if b < 0 else math.exp(a)  # b = 0: constant coverage exp(a)
    if target >= plateau:
        return "not reached within the fitted asymptote", math.inf, math.inf
    if target <= math.exp(a):  # c(1) = exp(a): one sample reaches it (also a target of 0)
        return "reached", x_fixed + x_per_budget, 1.0
    k = max(power_law_inverse(target, a, b), 1.0) if b < 0 else 1.0
    return "reached", x_fixed + x_per_budget * k, k


def compute_to_target(fit: Fit, target: float) -> Reach:
    """Compute per problem at which `fit` reaches `target`, with its bootstrap interval.

    Where the fitted asymptote (A, or 1 for coverage) is below the target the status says so and
    no compute is given. Power law: the compute is that of k* = (ln target / a)^(1/b) samples, at
    least one.
    """
    theta = tuple(fit.params[p] for p in PARAMS[fit.model])
    if not fit.converged:
        return Reach(target, "fit did not converge", math.nan, math.nan, math.nan, math.nan, False)
    status, compute, budget = _reach_one(fit.model, theta, target, fit.x_fixed, fit.x_per_budget)
    values = np.array([_reach_one(fit.model, tuple(p), target, fit.x_fixed, fit.x_per_budget)[1]
                       for p in fit.boot_params])
    if len(values):
        # Order statistics, not interpolation: refits that never reach the target are +inf.
        low, high = (float(v) for v in np.quantile(values, [0.025, 0.975], method="inverted_cdf"))
        share = float(np.mean(np.isfinite(values)))
    else:
        low = high = share = math.nan
    if status == "not reached within the fitted asymptote":
        compute = budget = math.nan
    return Reach(target, status, compute, low, high, share,
                 bool(np.isfinite(compute) and compute > fit.points["x"].max()), budget)


def best_measured(agg: pd.DataFrame, task: str) -> float:
    """A task's best measured accuracy among real (non-oracle) points: the default target."""
    sub = agg[(agg["task"] == task) & ~agg["oracle"]]
    return float(sub["accuracy"].max()) if len(sub) else math.nan


# ------------------------------------------------------------------------------------ display

def _fmt(v: float) -> str:
    return "n/a" if not np.isfinite(v) else f"{v:.3g}"


def _fmt_interval(lo: float, hi: float) -> str:
    return f"[{'inf' if lo == math.inf else _fmt(lo)}, {'inf' if hi == math.inf else _fmt(hi)}]"


def fits_table(fits: list[Fit], targets: dict[str, float] | None = None) -> pd.DataFrame:
    """One row per fit: its parameters with 95 % bootstrap intervals, the compute to reach the
    task's target (`targets[task]`; none given: no column), the worst residual and the flags."""
    rows = []
    for f in fits:
        row = {"task": f.task, "checkpoint": f.checkpoint, "method": f.method + (" (oracle)" if f.oracle else ""),
               "model": ("acc = R0 + (A-R0)/(1+(C_mid/C)^B)" if f.model == SIGMOID else "log c = a*k^b"),
               "x": f.axis, "points": len(f.points), "problems": f.n_problems,
               "parameters [95% CI]": "; ".join(f"{p} = {_fmt(f.params[p])} {_fmt_interval(*f.intervals[p])}"
                                                for p in PARAMS[f.model]),
               "max |residual|": f"{float(np.nanmax(np.abs(f.points['residual']))):.3f}"
               if f.converged else "n/a"}
        if targets is not None and f.task in targets and np.isfinite(targets[f.task]):
            r = compute_to_target(f, targets[f.task])
            where = (f"{_fmt(r.compute)} {_fmt_interval(r.low, r.high)}" if r.status == "reached" else r.status)
            if r.status == "reached" and f.model == POWER_LAW:
                where += f" (k = {r.budget:.3g})"
            if r.beyond_measured:
                where += " (beyond the measured compute)"
            row |= {"target": f"{r.target:.3f}", "compute to target [95% CI]": where,
                    "refits reaching it": _fmt(r.reached_share)}
        row["flags"] = "; ".join(f.flags) if f.flags else "none"
        rows.append(row)
    return pd.DataFrame(rows)


def fit_traces(fit: Fit) -> list[go.Scatter]:
    """The fitted curve of one fit and its 95 % band, in the method's colour (dashed and named
    "(flagged)" when flagged): to add to a figure whose x-axis is `fit.axis`."""
    color = color_for(fit.method.split("@")[0] if fit.axis == "total_flops" else fit.method)
    name = f"{fit.label} fit" + (" (flagged)" if fit.flagged else "")
    xs = fit.curve["x"].tolist()
    band = go.Scatter(x=xs + xs[::-1], y=fit.curve["high"].tolist() + fit.curve["low"].tolist()[::-1],
                      mode="lines", fill="toself", fillcolor=with_alpha(color, 0.15), line={"width": 0},
                      hoverinfo="skip", legendgroup=name, showlegend=False, name=name)
    params = ", ".join(f"{p}={_fmt(fit.params[p])}" for p in PARAMS[fit.model])
    line = go.Scatter(x=xs, y=fit.curve["fitted"].tolist(), mode="lines", name=name, legendgroup=name,
                      line={"color": color, "dash": "dash" if fit.flagged else "solid", "width": 2},
                      hovertemplate=f"{name}<br>{params}<br>x=%{{x:.3g}} fit=%{{y:.3f}}<extra></extra>")
    return [band, line]


def fit_figure(fits: list[Fit], task: str) -> go.Figure:
    """One task's fits on their axis: measured points with 95 % CIs, each fitted curve with its
    bootstrap band (flagged fits dashed), and below, the residuals (observed - fitted) with the
    points' CI half-widths. `fits` should share one axis (pass the fits of one x column)."""
    mine = [f for f in fits if f.task == task]
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.72, 0.28], vertical_spacing=0.06)
    for f in mine:
        color = color_for(f.method.split("@")[0] if f.axis == "total_flops" else f.method)
        name = f"{f.label} fit" + (" (flagged)" if f.flagged else "")
        for tr in fit_traces(f):
            fig.add_trace(tr, row=1, col=1)
        p = f.points
        err = {"type": "data", "array": (p["ci_high"] - p["accuracy"]).tolist(),
               "arrayminus": (p["accuracy"] - p["ci_low"]).tolist(), "thickness": 1, "width": 3}
        text = [f"{f.label} {lab}<br>acc {a:.3f} [{lo:.3f}, {hi:.3f}]<br>fit {ft:.3f}"
                for lab, a, lo, hi, ft in zip(p["label"], p["accuracy"], p["ci_low"], p["ci_high"], p["fitted"])]
        fig.add_trace(go.Scatter(x=p["x"].tolist(), y=p["accuracy"].tolist(), mode="markers", error_y=err,
                                 marker={"color": color, "symbol": "diamond-open" if f.oracle else "circle"},
                                 name=f.label, legendgroup=name, showlegend=False, text=text,
                                 hovertemplate="%{text}<extra></extra>"), row=1, col=1)
        half = ((p["ci_high"] - p["ci_low"]) / 2).tolist()
        fig.add_trace(go.Scatter(x=p["x"].tolist(), y=p["residual"].tolist(), mode="markers",
                                 error_y={"type": "data", "array": half, "thickness": 1, "width": 3},
                                 marker={"color": color}, legendgroup=name, showlegend=False, name=name,
                                 hovertemplate=f"{f.label}<br>residual %{{y:+.3f}}<extra></extra>"), row=2, col=1)
    axis = mine[0].axis if mine else "flops"
    flagged = sum(f.flagged for f in mine)
    fig.add_hline(y=0, line={"color": "grey", "width": 1}, row=2, col=1)
    fig.update_xaxes(type="log", row=1, col=1)
    fig.update_xaxes(type="log", title_text=AXIS_LABELS.get(axis, axis), row=2, col=1)
    fig.update_yaxes(title_text="accuracy", range=[0, 1.02], row=1, col=1)
    fig.update_yaxes(title_text="observed - fitted", row=2, col=1)
    fig.update_layout(title=f"{task}: fitted scaling curves (95 % bootstrap bands)"
                      + (f"; {flagged} flagged fit(s), dashed" if flagged else ""),
                      template="plotly_white", height=640, legend={"title": "fit"})
    return fig
