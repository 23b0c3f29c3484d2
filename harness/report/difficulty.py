"""Compute-optimal test-time strategy per difficulty bin (Snell et al. 2024), honestly held out.

Per (task, checkpoint): problems split in two halves by a stable hash of their id. Difficulty is
each problem's pass@1 (from the run's sample pool where it has one). Bins are quantiles of
difficulty on half 1. At each compute level the best configuration (method, budget) is chosen per
bin on half 1, and the single best configuration overall (the global envelope's point) likewise;
both choices are then scored on half 2, paired over its problems.

Two caveats the output repeats: bins use the problem's own pass@1, which knows the answers (Snell
et al.'s "oracle difficulty"): the gain is what a perfect difficulty predictor could buy, not a
strategy one can deploy as is. And half 2 is small: the paired interval says whether the gain is
more than noise.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from harness.report.colors import color_for
from harness.report.stats import Z95

SALT = "thinkbench-difficulty-split"
# Where a problem's pass@1 comes from, best first: the sample pool of these registered methods
# (n_correct of n_samples), else greedy's 0/1 (two bins at most).
POOLED = ("oracle_best_of_n", "sample", "majority")
MIN_BIN = 10  # held-out problems per bin below which the output says the bins are too small


def half_of(problem_id: str) -> int:
    """1 or 2: the half a problem belongs to, from a hash of its id (stable across runs, machines
    and Python's hash seed; independent of which other problems the run has)."""
    return 1 + hashlib.sha256(f"{SALT}:{problem_id}".encode()).digest()[0] % 2


def pass_at_1(records: pd.DataFrame) -> tuple[pd.Series, str]:
    """Per-problem pass@1 for one (task, checkpoint)'s records, and where it came from."""
    for name in POOLED:
        rows = records[(records["method_name"] == name) & (records["n_samples"] > 0) & records["n_correct"].notna()]
        if len(rows):
            p = (rows["n_correct"] / rows["n_samples"]).groupby(rows["problem_id"]).mean()
            return p, f"pass@1 of the sample pool ({name}: n_correct / n_samples)"
    rows = records[records["method_name"] == "greedy"]
    if len(rows):
        return rows.groupby("problem_id")["correct"].mean(), "greedy correctness (0/1: at most two bins)"
    raise ValueError("no pass@1 in these records: need a pooled method (sample, majority, "
                     "oracle_best_of_n) or greedy")


@dataclass(frozen=True)
class DifficultyResult:
    """`table`: one row per (task, checkpoint, compute level): the global choice and the per-bin
    choices, their held-out accuracy with 95 % intervals, the paired difference, the held-out
    compute per problem of each, and a note. `choices`: one row per (task, checkpoint, level,
    bin): the configuration chosen, its accuracy on half 1 and half 2. `bins`: each bin's pass@1
    range and its problems per half. `source`: where difficulty came from, per (task, checkpoint).
    """
    table: pd.DataFrame
    choices: pd.DataFrame
    bins: pd.DataFrame
    source: dict[tuple[str, str], str]
    x: str


def _mean_ci(v: np.ndarray) -> tuple[float, float, float]:
    """Mean and 95 % normal interval (the paired scores are fractions as often as 0/1)."""
    m = float(np.mean(v))
    if len(v) < 2:
        return m, math.nan, math.nan
    half = Z95 * float(np.std(v, ddof=1)) / math.sqrt(len(v))
    return m, m - half, m + half


def _bins(d1: np.ndarray, d: np.ndarray, n_bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Bin index of every value in `d` from quantile edges of `d1` (half 1); ties share a bin, so
    heavily tied pass@1 (many 0s and 1s) gives fewer bins. Bin 0 is the hardest (lowest pass@1)."""
    edges = np.unique(np.quantile(d1, np.linspace(0, 1, n_bins + 1)[1:-1]))
    idx = np.searchsorted(edges, d, side="left")
    used = np.unique(idx[: len(d1)])  # bins with half-1 problems (d1 comes first in d)
    remap = {b: i for i, b in enumerate(used)}
    # A half-2 value in a bin empty on half 1 joins the nearest non-empty bin below it or above.
    out = np.array([remap.get(b, remap[used[np.argmin(np.abs(used - b))]]) for b in idx])
    return out, used


def _allocate(acc: np.ndarray, cost: np.ndarray, weights: np.ndarray, level: float) -> list[int] | None:
    """One configuration per bin maximizing sum_b w_b·acc[b, c] under sum_b w_b·cost[b, c] <= level
    (a multiple-choice knapsack), exactly: a Pareto front of (cost, accuracy) over the bins so far.
    Ties go to the cheaper allocation. None when even the cheapest allocation costs too much."""
    front: list[tuple[float, float, list[int]]] = [(0.0, 0.0, [])]
    for b in range(acc.shape[0]):
        grown = [(c + weights[b] * cost[b, j], a + weights[b] * acc[b, j], pick + [j])
                 for c, a, pick in front for j in range(acc.shape[1])]
        grown = [g for g in grown if g[0] <= level * (1 + 1e-12)]
        grown.sort(key=lambda g: (g[0], -g[1]))
        front, best = [], -1.0
        for g in grown:  # keep only allocations no cheaper one beats
            if g[1] > best + 1e-12:
                front.append(g)
                best = g[1]
        if not front:
            return None
    return max(front, key=lambda g: (g[1], -g[0]))[2]


def compute_optimal_by_difficulty(records: pd.DataFrame, x: str = "flops", n_bins: int = 5,
                                  allocate: bool = True) -> DifficultyResult:
    """Per-bin vs global compute-optimal choices, chosen on half 1 and scored on half 2.

    Candidates are the real (non-oracle) configurations run on every problem of the (task,
    checkpoint). Compute levels are the candidates' mean compute per problem on half 1 (column
    `x`). With `allocate` (default), the per-bin strategy may spend unequally across bins, as long
    as its expected compute per problem on half 1 is at most the level (easy problems get less,
    hard ones more: the adaptive allocation Snell et al. argue for). Without it, each bin's
    choice must itself cost at most the level (their matched-budget selection).
    """
    oracle = (records["method_name"] == "oracle_best_of_n") | (records["verifier"] == "oracle")
    tables, choice_rows, bin_rows, source = [], [], [], {}
    for (task, ckpt), g in records.groupby(["task", "checkpoint"], sort=True):
        p1, src = pass_at_1(g)
        source[(str(task), str(ckpt))] = src
        real = g[~oracle.loc[g.index]]
        per = real.groupby(["method", "budget", "problem_id"]).agg(correct=("correct", "mean"), cost=(x, "mean"))
        correct = per["correct"].unstack(["method", "budget"])
        cost = per["cost"].unstack(["method", "budget"])
        configs = [c for c in correct.columns if correct[c].notna().all()]  # run on every problem
        problems = [p for p in correct.index if p in p1.index]
        if not configs or len(problems) < 4:
            continue
        correct, cost = correct.loc[problems, configs].to_numpy(float), cost.loc[problems, configs].to_numpy(float)
        half = np.array([half_of(p) for p in problems])
        d = p1.reindex(problems).to_numpy(float)
        h1, h2 = np.flatnonzero(half == 1), np.flatnonzero(half == 2)
        if len(h1) < 2 or len(h2) < 2:
            continue
        order = np.concatenate([h1, h2])
        binned, used = _bins(d[h1], d[order], n_bins)
        bin_of = np.empty(len(problems), int)
        bin_of[order] = binned
        nb = len(used)
        for b in range(nb):
            m1, m2 = bin_of[h1] == b, bin_of[h2] == b
            bin_rows.append({"task": task, "checkpoint": ckpt, "bin": b + 1,
                             "pass@1 range (half 1)": f"[{d[h1][m1].min():.2f}, {d[h1][m1].max():.2f}]",
                             "half 1 problems": int(m1.sum()), "half 2 problems": int(m2.sum())})
        w = np.array([np.mean(bin_of[h1] == b) for b in range(nb)])
        acc1 = np.array([[correct[h1][bin_of[h1] == b, c].mean() for c in range(len(configs))] for b in range(nb)])
        cost1 = np.array([[cost[h1][bin_of[h1] == b, c].mean() for c in range(len(configs))] for b in range(nb)])
        glob_acc, glob_cost = correct[h1].mean(axis=0), cost[h1].mean(axis=0)
        names = [f"{m}@{k}" for m, k in configs]
        small = min(int(np.sum(bin_of[h2] == b)) for b in range(nb)) < MIN_BIN
        for level in sorted(set(glob_cost.tolist())):
            ok = np.flatnonzero(glob_cost <= level)
            # Ties: the cheaper, then the name (deterministic).
            gi = min(ok, key=lambda c: (-glob_acc[c], glob_cost[c], names[c]))
            if allocate:
                pick = _allocate(acc1, cost1, w, level)
            else:
                # Snell's matched budget: each bin's choice costs at most the level in that bin.
                fits = [np.flatnonzero(cost1[b] <= level) for b in range(nb)]
                pick = None if any(len(f) == 0 for f in fits) else [
                    min(f, key=lambda c, b=b: (-acc1[b, c], cost1[b, c], names[c])) for b, f in enumerate(fits)]
            if pick is None:
                continue
            chosen = np.array([pick[bin_of[i]] for i in h2])
            per_bin = correct[h2, chosen]
            glob = correct[h2, gi]
            a_pb, lo_pb, hi_pb = _mean_ci(per_bin)
            a_g, lo_g, hi_g = _mean_ci(glob)
            diff, lo_d, hi_d = _mean_ci(per_bin - glob)
            if np.allclose(per_bin, glob, rtol=0, atol=1e-9):
                note = "the same score on every held-out problem"
            elif lo_d > 1e-9:
                note = "per-bin better beyond noise"
            elif hi_d < -1e-9:
                note = "per-bin worse beyond noise (chosen on half 1, overfit)"
            else:
                note = f"no difference beyond noise at n = {len(h2)}"
            if small:
                note += f"; some bins have fewer than {MIN_BIN} held-out problems"
            tables.append({
                "task": task, "checkpoint": ckpt, "level": level, "global": names[gi],
                "global accuracy": a_g, "global ci_low": lo_g, "global ci_high": hi_g,
                "per-bin": "; ".join(f"{b + 1}: {names[c]}" for b, c in enumerate(pick)),
                "per-bin accuracy": a_pb, "per-bin ci_low": lo_pb, "per-bin ci_high": hi_pb,
                "difference": diff, "difference ci_low": lo_d, "difference ci_high": hi_d,
                "global compute (half 2)": float(cost[h2, gi].mean()),
                "per-bin compute (half 2)": float(cost[h2, chosen].mean()),
                "n (half 2)": len(h2), "bins": nb, "note": note})
            for b, c in enumerate(pick):
                m2 = bin_of[h2] == b
                choice_rows.append({"task": task, "checkpoint": ckpt, "level": level, "bin": b + 1,
                                    "method": configs[c][0], "budget": configs[c][1], "choice": names[c],
                                    "accuracy (half 1)": acc1[b, c],
                                    "accuracy (half 2)": float(correct[h2][m2, c].mean()) if m2.any() else math.nan,
                                    "half 2 problems": int(m2.sum())})
    return DifficultyResult(pd.DataFrame(tables), pd.DataFrame(choice_rows), pd.DataFrame(bin_rows), source, x)


def difficulty_table(result: DifficultyResult) -> pd.DataFrame:
    """The per-level rows as the report shows them (strings with intervals)."""
    t = result.table
    if t.empty:
        return t

    def ci(value: str, signed: bool = False) -> list[str]:
        f = "{:+.3f}" if signed else "{:.3f}"
        return [f"{f.format(a)} [{f.format(lo)}, {f.format(hi)}]"
                for a, lo, hi in zip(t[value], t[value.replace("accuracy", "").strip() + " ci_low"],
                                     t[value.replace("accuracy", "").strip() + " ci_high"])]

    return pd.DataFrame({
        "task": t["task"], "checkpoint": t["checkpoint"], f"{result.x} level": t["level"].map(lambda v: f"{v:.4g}"),
        "global (half 1 choice)": t["global"], "held-out accuracy [95% CI]": ci("global accuracy"),
        "per-bin choices (bin: config; bin 1 hardest)": t["per-bin"],
        "per-bin held-out accuracy [95% CI]": ci("per-bin accuracy"),
        "per-bin - global, paired [95% CI]": ci("difference", signed=True),
        "held-out compute: global / per-bin": [f"{a:.3g} / {b:.3g}" for a, b in
                                               zip(t["global compute (half 2)"], t["per-bin compute (half 2)"])],
        "n (half 2)": t["n (half 2)"], "note": t["note"]})


def difficulty_figure(result: DifficultyResult, task: str, checkpoint: str) -> go.Figure:
    """Top: held-out accuracy of the per-bin and the global choice at each compute level, with 95 %
    intervals. Bottom: which configuration each bin chose at each level (coloured by method)."""
    t = result.table[(result.table["task"] == task) & (result.table["checkpoint"] == checkpoint)]
    ch = result.choices[(result.choices["task"] == task) & (result.choices["checkpoint"] == checkpoint)]
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.6, 0.4], vertical_spacing=0.08)
    for label, prefix, color, dash in (("global best (one configuration)", "global", "black", "dash"),
                                       ("per difficulty bin", "per-bin", "#1CA71C", "solid")):
        err = {"type": "data", "array": (t[f"{prefix} ci_high"] - t[f"{prefix} accuracy"]).tolist(),
               "arrayminus": (t[f"{prefix} accuracy"] - t[f"{prefix} ci_low"]).tolist(), "thickness": 1, "width": 3}
        text = t["global"] if prefix == "global" else t["per-bin"]
        fig.add_trace(go.Scatter(x=t["level"].tolist(), y=t[f"{prefix} accuracy"].tolist(), mode="lines+markers",
                                 name=label, error_y=err, line={"color": color, "dash": dash, "shape": "hv"},
                                 text=text.tolist(), hovertemplate="%{text}<br>held-out acc %{y:.3f}<extra></extra>"),
                      row=1, col=1)
    shown: set[str] = set()
    for method, g in ch.groupby("method", sort=True):
        fig.add_trace(go.Scatter(x=g["level"].tolist(), y=g["bin"].tolist(), mode="markers+text",
                                 text=g["budget"].astype(str).tolist(), textposition="top center",
                                 marker={"color": color_for(str(method)), "size": 10, "symbol": "square"},
                                 name=str(method), legendgroup=str(method), showlegend=str(method) not in shown,
                                 customdata=g["choice"].tolist(),
                                 hovertemplate="bin %{y}: %{customdata}<extra></extra>"), row=2, col=1)
        shown.add(str(method))
    n2 = int(t["n (half 2)"].iloc[0]) if len(t) else 0
    fig.update_xaxes(type="log", row=1, col=1)
    fig.update_xaxes(type="log", title_text=f"compute level: {result.x} / problem (half 1)", row=2, col=1)
    fig.update_yaxes(title_text=f"held-out accuracy (n = {n2})", range=[0, 1.02], row=1, col=1)
    fig.update_yaxes(title_text="bin (1 = hardest)", dtick=1, row=2, col=1)
    fig.update_layout(title=f"{task} / {checkpoint}: compute-optimal per difficulty bin vs global "
                            "(chosen on half 1, scored on half 2; oracle difficulty)",
                      template="plotly_white", height=620, legend={"title": "strategy / method (budget)"})
    return fig
