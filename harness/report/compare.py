"""`compare`: did a new checkpoint (or run) regress? Paired tests between two runs' records.

Records pair on (task, method, budget, problem id, prompt hash), seeds averaged per problem (and
on the checkpoint label when a run holds several checkpoints).
Per (task, method, budget): both accuracies, the paired difference with a 95 % interval (for 0/1
scores Bonett and Price's adjusted Wald interval for paired proportions, which agrees with
McNemar where a percentile bootstrap does not: with 4 problems lost and none gained of 200 the
bootstrap gives [-0.040, -0.005] beside McNemar p = 0.125; for fractions a bootstrap over
problems), and a p-value — McNemar's exact test on the discordant problems when every score is
0/1 (lm-eval's comparator uses an unpaired z-test, which ignores the pairing and is far less
sensitive), a sign-flip permutation test on the per-problem differences when scores are
fractions (maj@k expectations). p-values are Holm-corrected across the comparisons. A power
line says how many problems a drop of `max_drop` needs to be seen at this variance.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from harness.registry import ConfigError
from harness.report.stats import Z95

PAIR = ["task", "method", "budget"]
Z80 = 0.8416212335729143  # one-sided normal quantile for 80 % power


def mcnemar(b: int, c: int, mid: bool = False) -> float:
    """Two-sided exact McNemar p-value for b and c discordant pairs (binomial, p = 1/2);
    `mid`: the mid-p variant (half the probability of the observed count), less conservative."""
    n = b + c
    if n == 0:
        return 1.0
    k = min(b, c)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    if mid:
        tail -= math.comb(n, k) / 2**n / 2
    return min(1.0, 2 * tail)


def sign_flip(diff: np.ndarray, rounds: int = 10_000, seed: int = 0) -> float:
    """Two-sided sign-flip permutation p-value of the mean paired difference (exact when the
    problems are few enough to enumerate, else `rounds` seeded random flips)."""
    diff = diff[diff != 0]
    if len(diff) == 0:
        return 1.0
    observed = abs(diff.mean())
    if len(diff) <= 16:
        signs = np.array([[1 if (m >> i) & 1 else -1 for i in range(len(diff))] for m in range(2 ** len(diff))])
    else:
        signs = np.random.default_rng(seed).choice([-1, 1], size=(rounds, len(diff)))
    means = np.abs((signs * diff).mean(axis=1))
    return float((np.sum(means >= observed - 1e-12) + (0 if len(diff) <= 16 else 1))
                 / (len(means) + (0 if len(diff) <= 16 else 1)))


def bootstrap_ci(diff: np.ndarray, rounds: int = 10_000, seed: int = 0) -> tuple[float, float]:
    """Percentile 95 % interval of the mean paired difference, resampling problems."""
    rng = np.random.default_rng(seed)
    means = diff[rng.integers(0, len(diff), size=(rounds, len(diff)))].mean(axis=1)
    return float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975))


def paired_binary_ci(gained: int, lost: int, n: int) -> tuple[float, float]:
    """95 % interval of new − base accuracy from paired 0/1 scores: Bonett & Price (2012),
    the Wald interval with one pseudo-count added to each discordant cell."""
    if n == 0:
        return (math.nan, math.nan)
    p_gain, p_loss = (gained + 1) / (n + 2), (lost + 1) / (n + 2)
    centre = p_gain - p_loss
    half = Z95 * math.sqrt(max(p_gain + p_loss - centre ** 2, 0.0) / (n + 2))
    return (max(-1.0, centre - half), min(1.0, centre + half))


def holm(pvalues: list[float]) -> list[float]:
    """Holm's step-down adjusted p-values (family-wise error across the comparisons)."""
    order = sorted(range(len(pvalues)), key=lambda i: pvalues[i])
    adjusted, running = [0.0] * len(pvalues), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(pvalues) - rank) * pvalues[i]))
        adjusted[i] = running
    return adjusted


def problems_needed(diff: np.ndarray, drop: float) -> int | None:
    """Problems a two-sided paired test at 5 % needs to detect a drop of `drop` with 80 % power,
    at this comparison's per-problem variance (None when there is no variance to go on)."""
    sd = float(diff.std(ddof=1)) if len(diff) > 1 else 0.0
    if drop <= 0 or sd == 0:
        return None
    return math.ceil(((Z95 + Z80) * sd / drop) ** 2)


@dataclass(frozen=True)
class Gate:
    """Fail when a comparison drops by more than `max_drop` and its Holm-adjusted p < `alpha`."""

    max_drop: float = 0.0
    alpha: float = 0.05


def per_problem(records: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Seed-averaged score per (`keys`, problem id, prompt hash)."""
    return records.groupby(keys + ["problem_id", "prompt_hash"], as_index=False)["correct"].mean()


def compare(base: pd.DataFrame, new: pd.DataFrame, gate: Gate = Gate(), mid_p: bool = False) -> pd.DataFrame:
    """One row per (task, method, budget) both runs have: accuracies, paired difference (new −
    base) with its 95 % CI, test, p, Holm-adjusted p, verdict and the power line's n.

    Raises ConfigError when the two runs did not ask the same questions of a comparison (other
    problems, or the same ids with other prompts): such runs cannot be paired."""
    # One checkpoint per run (the usual gate: old vs new checkpoint): pair whatever their labels.
    # Several: pair checkpoint with checkpoint of the same label.
    one_each = base["checkpoint"].nunique(dropna=False) == 1 and new["checkpoint"].nunique(dropna=False) == 1
    keys = PAIR if one_each else ["checkpoint"] + PAIR
    a, b = per_problem(base, keys), per_problem(new, keys)
    rows = []
    for values, ga in a.groupby(keys, sort=True):
        gb = b[np.logical_and.reduce([b[k] == v for k, v in zip(keys, values)])]
        if gb.empty:
            continue
        key = values[-3:] if one_each else (f"{values[0]} · {values[1]}",) + tuple(values[2:])
        qa = set(zip(ga["problem_id"], ga["prompt_hash"]))
        qb = set(zip(gb["problem_id"], gb["prompt_hash"]))
        if qa != qb:
            same_ids = {i for i, _ in qa} == {i for i, _ in qb}
            why = "the same problem ids with different prompts" if same_ids else \
                f"different problems ({len(qa - qb)} only in the base run, {len(qb - qa)} only in the new one)"
            raise ConfigError(f"cannot compare {key[0]} / {key[1]}@{key[2]}: the runs asked {why}")
        joined = ga.merge(gb, on=["problem_id", "prompt_hash"], suffixes=("_base", "_new"))
        x, y = joined["correct_base"].to_numpy(), joined["correct_new"].to_numpy()
        diff = y - x
        binary = bool(np.all(np.isin(x, (0, 1))) and np.all(np.isin(y, (0, 1))))
        if binary:
            gained, lost = int(np.sum((x == 0) & (y == 1))), int(np.sum((x == 1) & (y == 0)))
            p, test = mcnemar(gained, lost, mid=mid_p), "McNemar mid-p" if mid_p else "McNemar exact"
            lo, hi = paired_binary_ci(gained, lost, len(diff))
        else:
            gained = lost = None
            p, test = sign_flip(diff), "sign-flip permutation"
            lo, hi = bootstrap_ci(diff)
        rows.append({"task": key[0], "method": key[1], "budget": int(key[2]), "n": len(diff),
                     "base": float(x.mean()), "new": float(y.mean()), "difference": float(diff.mean()),
                     "ci_low": lo, "ci_high": hi, "gained": gained, "lost": lost, "test": test, "p": p,
                     "problems_needed": problems_needed(diff, gate.max_drop) if gate.max_drop > 0 else None})
    if not rows:
        raise ConfigError("the two runs share no (task, method, budget): nothing to compare")
    out = pd.DataFrame(rows)
    out["p_holm"] = holm(out["p"].tolist())
    out["fails"] = (out["difference"] < -gate.max_drop) & (out["p_holm"] < gate.alpha)
    return out


def verdict(row: pd.Series, gate: Gate) -> str:
    """One line per comparison: what changed, how sure, and whether it fails the gate."""
    what = f"{row.task} · {row.method}@{row.budget}: {row.base:.3f} → {row.new:.3f} " \
           f"({row.difference:+.3f} [{row.ci_low:+.3f}, {row.ci_high:+.3f}], n={row.n}, {row.test} " \
           f"p={row.p:.3g}, Holm p={row.p_holm:.3g})"
    if row.fails:
        return f"FAIL  {what}: dropped more than {gate.max_drop:g} at alpha {gate.alpha:g}"
    if row.difference < 0 and row.p_holm < gate.alpha:
        return f"ok    {what}: a significant drop, within the allowed {gate.max_drop:g}"
    power = ""
    if row.problems_needed is not None and row.problems_needed > row.n:
        power = f"; a drop of {gate.max_drop:g} needs ~{int(row.problems_needed)} problems to be seen"
    return f"ok    {what}{power}"
