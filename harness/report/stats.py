"""Accuracy with 95 % confidence intervals, aggregated from records."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

Z95 = 1.959963984540054
KEYS = ["task", "checkpoint", "method", "budget"]


def wilson(successes: float, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (good near 0 and 1)."""
    if n == 0:
        return (math.nan, math.nan)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def ci95(values: np.ndarray) -> tuple[float, float]:
    """95 % interval of the mean of per-problem scores in [0, 1].

    0/1 scores: Wilson. Fractional scores (expectations such as maj@k over a pool): the
    normal interval of the mean with the sample standard deviation, clipped to [0, 1].
    """
    values = np.asarray(values, dtype=float)
    n = len(values)
    if n == 0:
        return (math.nan, math.nan)
    if np.all((values == 0) | (values == 1)):
        return wilson(float(values.sum()), n)
    if n == 1:
        return (float(values[0]), float(values[0]))
    half = Z95 * float(values.std(ddof=1)) / math.sqrt(n)
    mean = float(values.mean())
    return (max(0.0, mean - half), min(1.0, mean + half))


def aggregate(records: pd.DataFrame) -> pd.DataFrame:
    """One row per (task, checkpoint, method, budget): accuracy, its CI and mean cost per problem.

    Seeds are averaged per problem first, so the interval is over problems.
    """
    oracle = (records["method_name"] == "oracle_best_of_n") | (records["verifier"] == "oracle")
    per_problem = (records.assign(errors=records["error"].notna().astype(int), oracle=oracle)
                   .groupby(KEYS + ["problem_id"], as_index=False)
                   .agg(correct=("correct", "mean"), oracle=("oracle", "max"),
                        generated_tokens=("generated_tokens", "mean"),
                        prompt_tokens=("prompt_tokens", "mean"), flops=("flops", "mean"),
                        wall_s=("wall_s", "mean"), train_flops=("train_flops", "max"),
                        errors=("errors", "sum"), seeds=("seed", "nunique")))
    rows = []
    for key, g in per_problem.groupby(KEYS, sort=True):
        lo, hi = ci95(g["correct"].to_numpy())
        rows.append(dict(zip(KEYS, key)) | {
            "n": len(g), "seeds": int(g["seeds"].max()), "accuracy": float(g["correct"].mean()),
            "ci_low": lo, "ci_high": hi, "generated_tokens": float(g["generated_tokens"].mean()),
            "flops": float(g["flops"].mean()), "wall_s": float(g["wall_s"].mean()),
            "train_flops": float(g["train_flops"].max()), "errors": int(g["errors"].sum()),
            "oracle": bool(g["oracle"].max())})
    return pd.DataFrame(rows)


def paired_differences(records: pd.DataFrame, baseline: str) -> pd.DataFrame:
    """Each method at its largest budget minus `baseline`, paired over problems, with a 95 % CI.

    Pairing removes between-problem variance, so a difference can be significant even where the
    two accuracy intervals overlap.
    """
    per_problem = records.groupby(KEYS + ["problem_id"], as_index=False)["correct"].mean()
    rows = []
    for (task, ckpt), g in per_problem.groupby(["task", "checkpoint"], sort=True):
        base = g[g["method"] == baseline]
        if base.empty:
            continue
        base = base[base["budget"] == base["budget"].max()].set_index("problem_id")["correct"]
        for method, m in g[g["method"] != baseline].groupby("method", sort=True):
            top = m[m["budget"] == m["budget"].max()].set_index("problem_id")["correct"]
            diff = (top - base).dropna()
            if len(diff) < 2:
                continue
            half = Z95 * float(diff.std(ddof=1)) / math.sqrt(len(diff))
            rows.append({"task": task, "checkpoint": ckpt, "method": method, "budget": int(m["budget"].max()),
                         "baseline": baseline, "n": len(diff), "difference": float(diff.mean()),
                         "ci_low": float(diff.mean()) - half, "ci_high": float(diff.mean()) + half})
    return pd.DataFrame(rows)


def envelope(agg: pd.DataFrame, x: str = "flops") -> pd.DataFrame:
    """The compute-optimal envelope (Snell et al. 2024): the (method, budget) points no other
    point beats with less or equal compute — the best accuracy reachable at each compute.
    Oracle methods (coverage, the oracle verifier: the `oracle` column, from the records'
    method name and verifier) are left out: they know the answers."""
    frontier, best = [], -1.0
    real = agg[~agg["oracle"]]
    for _, row in real.sort_values([x, "accuracy"], ascending=[True, False]).iterrows():
        if row["accuracy"] > best:
            frontier.append(row)
            best = row["accuracy"]
    return pd.DataFrame(frontier)


def compute_to_reach(frontier: pd.DataFrame, accuracy: float, x: str = "flops") -> float:
    """Compute the envelope needs for `accuracy`, interpolated in log-compute (nan if never)."""
    xs, ys = frontier[x].to_numpy(dtype=float), frontier["accuracy"].to_numpy(dtype=float)
    if len(xs) == 0 or accuracy > ys.max():
        return math.nan
    i = int(np.argmax(ys >= accuracy))
    if i == 0 or ys[i] == ys[i - 1]:
        return float(xs[i])
    t = (accuracy - ys[i - 1]) / (ys[i] - ys[i - 1])
    return float(np.exp(np.log(xs[i - 1]) + t * (np.log(xs[i]) - np.log(xs[i - 1]))))


def efficiency(agg: pd.DataFrame, reference: str, x: str = "flops") -> pd.DataFrame:
    """For each point of `reference` (e.g. best_of_n): its compute over the envelope's compute
    at the same accuracy — how many times less compute the best method per budget needs."""
    rows = []
    for (task, ckpt), g in agg.groupby(["task", "checkpoint"], sort=True):
        front = envelope(g, x)
        for _, r in g[g["method"] == reference].sort_values("budget").iterrows():
            need = compute_to_reach(front, r["accuracy"], x)
            winner = front[front["accuracy"] >= r["accuracy"]].iloc[0] if not math.isnan(need) else None
            rows.append({"task": task, "checkpoint": ckpt, "reference": f"{reference}@{r['budget']}",
                         "accuracy": r["accuracy"], x: r[x], "envelope " + x: need,
                         "ratio": r[x] / need if need and not math.isnan(need) else math.nan,
                         "envelope method": f"{winner['method']}@{winner['budget']}" if winner is not None else ""})
    return pd.DataFrame(rows)
