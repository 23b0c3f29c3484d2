"""Accuracy with 95 % confidence intervals, aggregated from records."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

Z95 = 1.959963984540054
KEYS = ["task", "checkpoint", "method", "budget"]
# Axes that count tokens: a token costs ~2 · params FLOPs, so a token of one checkpoint is not a
# token of another, and no frontier on these axes may span checkpoints. They also leave out the
# verifier's compute (a process reward model reads the solution: prompt tokens and FLOPs only).
TOKEN_AXES = frozenset({"generated_tokens"})


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

    Seeds are averaged per problem first, so the interval is over problems. `verifier` is the
    registered verifier's name ("" for none); `oracle` marks points that know the answers.
    """
    oracle = (records["method_name"] == "oracle_best_of_n") | (records["verifier"] == "oracle")
    per_problem = (records.assign(errors=records["error"].notna().astype(int), oracle=oracle,
                                  verifier=records["verifier"].fillna(""))
                   .groupby(KEYS + ["problem_id"], as_index=False)
                   .agg(correct=("correct", "mean"), oracle=("oracle", "max"),
                        generated_tokens=("generated_tokens", "mean"),
                        prompt_tokens=("prompt_tokens", "mean"), flops=("flops", "mean"),
                        wall_s=("wall_s", "mean"), train_flops=("train_flops", "max"),
                        post_train_flops=("post_train_flops", "max"),
                        errors=("errors", "sum"), seeds=("seed", "nunique"),
                        verifier=("verifier", "max"), method_name=("method_name", "first")))
    rows = []
    for key, g in per_problem.groupby(KEYS, sort=True):
        lo, hi = ci95(g["correct"].to_numpy())
        rows.append(dict(zip(KEYS, key)) | {
            "n": len(g), "seeds": int(g["seeds"].max()), "accuracy": float(g["correct"].mean()),
            "ci_low": lo, "ci_high": hi, "generated_tokens": float(g["generated_tokens"].mean()),
            "flops": float(g["flops"].mean()), "wall_s": float(g["wall_s"].mean()),
            "train_flops": float(g["train_flops"].max()),
            "post_train_flops": float(g["post_train_flops"].max()), "errors": int(g["errors"].sum()),
            "oracle": bool(g["oracle"].max()), "verifier": str(g["verifier"].max()),
            "method_name": str(g["method_name"].iloc[0])})
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
            mean, lo, hi = _paired_ci(diff)
            rows.append({"task": task, "checkpoint": ckpt, "method": method, "budget": int(m["budget"].max()),
                         "baseline": baseline, "n": len(diff), "difference": mean,
                         "ci_low": lo, "ci_high": hi})
    return pd.DataFrame(rows)


def _paired_ci(diff: pd.Series) -> tuple[float, float, float]:
    """Mean of per-problem differences and its 95 % normal interval (needs two or more)."""
    mean = float(diff.mean())
    half = Z95 * float(diff.std(ddof=1)) / math.sqrt(len(diff))
    return mean, mean - half, mean + half


def paired_difference(records: pd.DataFrame, a: dict, b: dict) -> dict:
    """Accuracy of configuration `a` minus configuration `b`, paired over the problems both ran.

    `a` and `b` give task, checkpoint, method and budget. Seeds are averaged per problem first.
    Returns n, difference, ci_low, ci_high (nan where fewer than two problems are shared).
    """
    def per_problem(key: dict) -> pd.Series:
        mask = np.logical_and.reduce([records[k] == key[k] for k in KEYS])
        return records[mask].groupby("problem_id")["correct"].mean()

    diff = (per_problem(a) - per_problem(b)).dropna()  # inner join on problem id
    if len(diff) < 2:
        return {"n": len(diff), "difference": math.nan, "ci_low": math.nan, "ci_high": math.nan}
    mean, lo, hi = _paired_ci(diff)
    return {"n": len(diff), "difference": mean, "ci_low": lo, "ci_high": hi}


def envelope(agg: pd.DataFrame, x: str = "flops") -> pd.DataFrame:
    """The compute-optimal envelope (Snell et al. 2024): the real (checkpoint, method, budget)
    points no other point beats with less or equal compute, sorted by compute.

    Only measured points: the best accuracy reachable with compute c is that of the last point at
    or left of c (a staircase); nothing between two points is implied to be runnable. Oracle
    points (coverage, the oracle verifier: the `oracle` column) are left out: they know the
    answers. The caller chooses the candidates (see `envelopes` for which may share a frontier).
    """
    frontier, best = [], -1.0
    real = agg[~agg["oracle"]]
    for _, row in real.sort_values([x, "accuracy"], ascending=[True, False]).iterrows():
        if row["accuracy"] > best:
            frontier.append(row)
            best = row["accuracy"]
    return pd.DataFrame(frontier, columns=agg.columns)


def envelopes(agg: pd.DataFrame, x: str = "flops") -> list[tuple[str, pd.DataFrame]]:
    """The envelopes to draw on axis `x`, as (label, frontier) pairs.

    FLOPs and wall seconds price every model in one unit: one envelope across checkpoints. On a
    token axis (`TOKEN_AXES`) a token of a large checkpoint costs more than one of a small one,
    so each checkpoint gets its own envelope; and points scored by a verifier are left out of it,
    since their verifier's compute is not on that axis (they would sit left of what they cost).
    """
    if x not in TOKEN_AXES:
        return [("all checkpoints", envelope(agg, x))]
    unscored = agg[agg["verifier"] == ""] if "verifier" in agg else agg
    return [(str(ckpt), envelope(g, x)) for ckpt, g in unscored.groupby("checkpoint", sort=True)]


def cheapest_achievable(candidates: pd.DataFrame, accuracy: float, x: str = "flops") -> pd.Series | None:
    """The candidate with the least compute `x` whose accuracy is at least `accuracy` (ties: the
    more accurate), or None. A real configuration: it can be run as it stands."""
    ok = candidates[candidates["accuracy"] >= accuracy]
    if ok.empty:
        return None
    return ok.sort_values([x, "accuracy"], ascending=[True, False]).iloc[0]


def cheapest_mixture(candidates: pd.DataFrame, accuracy: float, x: str = "flops"
                     ) -> tuple[float, pd.Series, pd.Series, float] | None:
    """The cheapest randomized mixture of two candidates reaching `accuracy` in expectation.

    Running `high` on a random fraction w of the problems and `low` on the rest has expected
    accuracy (1 - w)·acc_low + w·acc_high and expected compute (1 - w)·x_low + w·x_high: both
    linear, so it is achievable in expectation (time-sharing). Returns (compute, low, high, w)
    with w = 1 (low = high) where a single point is cheapest; None if nothing reaches `accuracy`.
    Never interpolates in log-compute, which no mixture achieves.
    """
    best = cheapest_achievable(candidates, accuracy, x)
    if best is None:
        return None
    result = (float(best[x]), best, best, 1.0)
    acc = candidates["accuracy"].to_numpy(dtype=float)
    cost = candidates[x].to_numpy(dtype=float)
    lows, highs = np.flatnonzero(acc < accuracy), np.flatnonzero(acc >= accuracy)
    for i in lows:
        w = (accuracy - acc[i]) / (acc[highs] - acc[i])  # in (0, 1]: acc[highs] > acc[i]
        mixed = (1 - w) * cost[i] + w * cost[highs]
        j = int(np.argmin(mixed))
        if mixed[j] < result[0]:
            result = (float(mixed[j]), candidates.iloc[i], candidates.iloc[highs[j]], float(w[j]))
    return result


def _label(row: pd.Series, with_checkpoint: bool) -> str:
    return f"{row['method']}@{row['budget']}" + (f" · {row['checkpoint']}" if with_checkpoint else "")


def efficiency(agg: pd.DataFrame, reference: str, x: str = "flops",
               records: pd.DataFrame | None = None) -> pd.DataFrame:
    """For each point of `reference` (e.g. best_of_n@N): the cheapest achievable configuration
    with at least its accuracy, and the ratio of their compute ("efficiency ×").

    Candidates are the task's real points on every checkpoint (FLOPs and wall seconds price every
    model alike); oracle points are left out. `ratio` uses a measured point only. `mixture ratio`
    uses the cheapest randomized mixture of two measured points (achievable in expectation, see
    `cheapest_mixture`). With `records`, the winner's accuracy minus the reference's is given
    paired over problems with a 95 % CI: "at least" is on point estimates, and the cheapest of
    many noisy candidates that clears a bar is apt to have cleared it by luck.
    """
    if x in TOKEN_AXES:
        raise ValueError(f"efficiency on {x!r}: a token axis leaves out the verifier's compute and "
                         "prices tokens of every checkpoint alike; use 'flops' or 'wall_s'")
    rows = []
    for task, g in agg.groupby("task", sort=True):
        candidates = g[~g["oracle"]]
        several = g["checkpoint"].nunique() > 1
        for _, r in g[g["method"] == reference].sort_values(["checkpoint", "budget"]).iterrows():
            win = cheapest_achievable(candidates, r["accuracy"], x)
            mix = cheapest_mixture(candidates, r["accuracy"], x)
            if win is None or mix is None:  # only an oracle reference could out-score every real point
                continue
            row = {"task": task, "checkpoint": r["checkpoint"], "reference": f"{reference}@{r['budget']}",
                   "accuracy": r["accuracy"], x: r[x],
                   "achievable": _label(win, several), "achievable accuracy": win["accuracy"],
                   "achievable " + x: float(win[x]),
                   "ratio": r[x] / win[x] if win[x] > 0 else math.nan}
            cost, low, high, w = mix
            row |= {"mixture": (_label(high, several) + " (no cheaper mixture)" if w == 1.0 else
                                f"{1 - w:.2f}·{_label(low, several)} + {w:.2f}·{_label(high, several)}"),
                    "mixture " + x: cost, "mixture ratio": r[x] / cost if cost > 0 else math.nan}
            if records is not None:
                paired = paired_difference(records, win[KEYS].to_dict(), r[KEYS].to_dict())
                row |= {"paired " + k: v for k, v in paired.items()}
            rows.append(row)
    return pd.DataFrame(rows)
