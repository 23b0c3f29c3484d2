"""`compare`: did a new checkpoint (or run) regress? Paired tests between two runs' records.

Records pair on (task, method, budget, problem id, prompt hash), seeds averaged per problem (and
on the checkpoint label when a run holds several checkpoints). Per (task, method, budget): both
accuracies, the paired difference d = new − base, a one-sided test of the gate's null hypothesis
at the allowance m = `max_drop`, Holm-adjusted across the comparisons, and the (1 − 2·alpha)
interval made by inverting that same test, so that the interval's end passes −m exactly when the
test's unadjusted p passes alpha, for every kind of row:

- 0/1 scores: Tango's (1998) score test for a difference of paired proportions, whose null
  d = δ may be shifted (McNemar's test only tests δ = 0; at δ = 0 the score test is McNemar's
  z), continuity-corrected. The interval is the set of δ the test keeps.
- fractions (seed-averaged scores, maj@k expectations over a pool): the paired t-test on the
  per-problem differences, and its t interval.

Two rules (`RULES`):
- `drop` (the default): fail when the data show a drop beyond the allowance: H0 d ≥ −m rejected
  at one-sided alpha after Holm; equivalently (one comparison) the interval's upper end < −m.
  A true drop of exactly m fails with probability ≤ alpha. `max_drop` 0: any significant drop.
- `non-inferiority` (strict): pass only when the data show the drop is within the allowance:
  H0 d ≤ −m rejected after Holm; equivalently the interval's lower end > −m.

A comparison the base run holds but the new one lacks, or holds only as a failed cell, is
listed and fails the gate unless missing comparisons are allowed.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as sps

from harness.registry import ConfigError

PAIR = ["task", "method", "budget"]
POWER = 0.8  # the power line's target
CC = 0.5     # continuity correction of the score test (counts are integers)


def mcnemar(b: int, c: int, mid: bool = False) -> float:
    """Two-sided exact McNemar p-value for b and c discordant pairs (binomial, p = 1/2);
    `mid`: the mid-p variant (half the probability of the observed count)."""
    n = b + c
    if n == 0:
        return 1.0
    k = min(b, c)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    if mid:
        tail -= math.comb(n, k) / 2**n / 2
    return min(1.0, 2 * tail)


def holm(pvalues: list[float]) -> list[float]:
    """Holm's step-down adjusted p-values (family-wise error across the comparisons)."""
    order = sorted(range(len(pvalues)), key=lambda i: pvalues[i])
    adjusted, running = [0.0] * len(pvalues), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(pvalues) - rank) * pvalues[i]))
        adjusted[i] = running
    return adjusted


# ------------------------------------------------------------------------------- 0/1 scores

def score_z(gained, lost, n, delta, cc: float = 0.0) -> np.ndarray:
    """Tango's score statistic of H0: d = delta for paired 0/1 scores (arrays broadcast).

    d = (gained − lost) / n = p_gained − p_lost. The variance is taken at the maximum-likelihood
    cell probabilities under the null: p_lost = q, the root of 2n q² + W q − lost·δ(1 − δ) = 0,
    q = (−W + √(W² + 8 n lost δ (1 − δ))) / (4n) with W = δ (2n − gained + lost) − (gained + lost),
    and Var(d̂) = (2q + δ(1 − δ)) / n. z falls as delta rises; 0 where the data sit exactly on
    the null (e.g. no discordant problem at δ = 0). `cc` is added to the count difference: +½
    (or −½) is the continuity correction of the test against a drop (or a rise)."""
    g, l, n, d = (np.asarray(v, float) for v in (gained, lost, n, delta))
    w = d * (2 * n - g + l) - (g + l)
    q = (-w + np.sqrt(np.maximum(w * w + 8 * n * l * d * (1 - d), 0.0))) / (4 * n)
    var = n * (2 * q + d * (1 - d))
    num = g - l - n * d + cc
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(var > 1e-12, num / np.sqrt(np.maximum(var, 1e-300)), np.sign(num) * np.inf)
    return np.where(num == 0, 0.0, z)


def binary_p(gained, lost, n, delta, tail: str) -> np.ndarray:
    """One-sided continuity-corrected score p-value: tail "below" tests H0 d ≥ delta (small
    when d < delta), "above" tests H0 d ≤ delta. The correction keeps the false-fail rate at
    the null's edge at or below the level down to a few discordant problems (the uncorrected
    test gives 0.074 at alpha 0.05 with n = 100, 3 % lost and 1 % gained, allowance 0.02)."""
    if tail == "below":
        return sps.norm.cdf(score_z(gained, lost, n, delta, CC))
    return sps.norm.sf(score_z(gained, lost, n, delta, -CC))


def _bisect(f, lo: np.ndarray, hi: np.ndarray, steps: int = 60) -> np.ndarray:
    """The root of a decreasing f between lo (f ≥ 0) and hi (f < 0), elementwise."""
    for _ in range(steps):
        mid = (lo + hi) / 2
        up = f(mid) >= 0
        lo, hi = np.where(up, mid, lo), np.where(up, hi, mid)
    return (lo + hi) / 2


def binary_interval(gained, lost, n, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """The (1 − 2·alpha) interval of d: the δ that neither one-sided `binary_p` test at alpha rejects.

    Its upper end is below δ exactly when `binary_p(..., δ, "below") < alpha` (z is monotone in
    δ), its lower end above δ exactly when `binary_p(..., δ, "above") < alpha`."""
    g, l, n = (np.asarray(v, float) for v in (gained, lost, n))
    crit = sps.norm.isf(alpha)
    edge = np.full(np.broadcast(g, l, n).shape, 1 - 1e-12)
    upper = _bisect(lambda dl: score_z(g, l, n, dl, CC) + crit, -edge, edge)
    lower = _bisect(lambda dl: score_z(g, l, n, dl, -CC) - crit, -edge, edge)
    # A bound that reached the search's edge is the edge of [-1, 1] itself (all lost, all gained).
    return np.where(lower < -1 + 1e-9, -1.0, lower), np.where(upper > 1 - 1e-9, 1.0, upper)


# ------------------------------------------------------------------------------- fractions

def t_test(diff: np.ndarray, delta: float, alpha: float):
    """Paired t: (p below, p above, interval low, interval high) for the mean of `diff` (along
    its last axis: one row per comparison, vectorised) and null value `delta`. The interval is
    the (1 − 2·alpha) t interval, the same construction as the test, so high < delta iff
    p below < alpha and low > delta iff p above < alpha. Differences that are all equal: their
    value exactly (p 0 or 1); fewer than two: nothing is significant."""
    diff = np.asarray(diff, float)
    n = diff.shape[-1]
    mean = diff.mean(axis=-1)
    if n < 2:
        one = np.ones_like(mean)
        return _out(one, one, -one, one)
    sd = diff.std(axis=-1, ddof=1)
    se = np.where(sd > 0, sd / math.sqrt(n), 1.0)
    t = (mean - delta) / se
    half = float(sps.t.isf(alpha, n - 1)) * se
    flat = sd == 0  # no spread: the mean is known exactly
    below = np.where(flat, np.where(mean < delta, 0.0, 1.0), sps.t.cdf(t, n - 1))
    above = np.where(flat, np.where(mean > delta, 0.0, 1.0), sps.t.sf(t, n - 1))
    half = np.where(flat, 0.0, half)
    return _out(below, above, mean - half, mean + half)


def _out(*arrays: np.ndarray):
    """Plain floats for one comparison, arrays for many."""
    return tuple(float(a) if np.ndim(a) == 0 else a for a in arrays)


# ------------------------------------------------------------------------------- the gate

@dataclass(frozen=True)
class Rule:
    """How a comparison fails: `tail` is the one-sided test whose rejection decides, `fail_when`
    whether rejecting ("rejected") or not rejecting ("kept") fails it."""

    name: str
    tail: str
    fail_when: str
    describe: str  # with {m} and {alpha}

    def says(self, gate: "Gate") -> str:
        return self.describe.format(m=f"{gate.max_drop:g}", alpha=f"{gate.alpha:g}").replace("−0 ", "0 ")


RULES = {
    "drop": Rule("drop", "below", "rejected",
                 "drop rule: fail when new − base is significantly below −{m} (one-sided test of "
                 "H0: new − base ≥ −{m} at alpha {alpha}, Holm over comparisons)"),
    "non-inferiority": Rule("non-inferiority", "above", "kept",
                            "non-inferiority rule: pass only when new − base is significantly above −{m} "
                            "(one-sided test of H0: new − base ≤ −{m} at alpha {alpha}, Holm over comparisons)"),
}


@dataclass(frozen=True)
class Gate:
    """The gate's allowance, level and rule; refuses values that decide nothing."""

    max_drop: float = 0.0
    alpha: float = 0.05
    rule: str = "drop"
    allow_missing: bool = False

    def __post_init__(self) -> None:
        if not (math.isfinite(self.max_drop) and 0 <= self.max_drop < 1):
            raise ConfigError(f"--max-drop must be a finite number in [0, 1), got {self.max_drop}")
        if not (math.isfinite(self.alpha) and 0 < self.alpha < 0.5):
            raise ConfigError(f"--alpha must be a number in (0, 0.5) (a one-sided level), got {self.alpha}")
        if self.rule not in RULES:
            raise ConfigError(f"unknown gate rule {self.rule!r} (known: {', '.join(RULES)})")

    @property
    def level(self) -> str:
        """The interval's coverage: (1 − 2·alpha), whose ends are the one-sided tests at alpha."""
        return f"{100 * (1 - 2 * self.alpha):g}%"

    def says(self) -> str:
        return RULES[self.rule].says(self)


def problems_needed(diff: np.ndarray, distance: float, alpha: float) -> int | None:
    """Problems a one-sided paired test at `alpha` needs to reject with 80 % power when the
    truth lies `distance` beyond its null value, at this comparison's per-problem variance
    (None when there is no variance to go on)."""
    return _needed(float(np.std(diff, ddof=1)) if len(diff) > 1 else 0.0, distance, alpha)


def per_problem(records: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Seed-averaged score per (`keys`, problem id, prompt hash)."""
    return records.groupby(keys + ["problem_id", "prompt_hash"], as_index=False)["correct"].mean()


@dataclass
class Comparison:
    """What `compare` found: `table` (one row per comparison made), `unmatched` (one row per
    comparison that could not be made: key, why, whether it fails the gate), `notes` (pools of
    different sizes behind the same maj@k) and the gate it ran."""

    table: pd.DataFrame
    unmatched: pd.DataFrame
    notes: list[str]
    gate: Gate

    @property
    def failures(self) -> int:
        """Comparisons that fail the gate, unmatched ones that count included."""
        return int(self.table["fails"].sum()) + int(self.unmatched["fails"].sum())


def _keys(base: pd.DataFrame, new: pd.DataFrame) -> list[str]:
    """One checkpoint per run (the usual gate: old vs new checkpoint): pair whatever their
    labels. Several: pair checkpoint with checkpoint of the same label, and say so when none
    is shared."""
    la, lb = set(base["checkpoint"].unique()), set(new["checkpoint"].unique())
    if len(la) == 1 and len(lb) == 1:
        return PAIR
    if not la & lb:
        raise ConfigError(
            "the runs' checkpoint labels differ (base: " + ", ".join(sorted(map(str, la))) + "; new: "
            + ", ".join(sorted(map(str, lb))) + "): with several checkpoints in a run, compare pairs "
            "checkpoints by label; compare runs of one checkpoint each, or give both runs the same labels")
    return ["checkpoint"] + PAIR


def _name(key: tuple, keys: list[str]) -> str:
    d = dict(zip(keys, key))
    ck = f"{d['checkpoint']} · " if "checkpoint" in d else ""
    return f"{ck}{d['task']} · {d['method']}@{int(d['budget'])}"


def _failed(failures: pd.DataFrame | None, keys: list[str]) -> dict[tuple, str]:
    """key -> "seeds S: first line of the error" for the run's failed cells."""
    if failures is None or not len(failures):
        return {}
    out: dict[tuple, list[str]] = {}
    for _, f in failures.iterrows():
        key = tuple(f[k] if k != "budget" else int(f[k]) for k in keys)
        out.setdefault(key, []).append(f"seed {f['seed']}: {str(f['error']).splitlines()[0][:120] if f['error'] else ''}")
    return {k: "; ".join(v) for k, v in out.items()}


def _unmatched(ka: set, kb: set, fa: dict, fb: dict, keys: list[str], allow: bool) -> pd.DataFrame:
    """Every (…, method, budget) that cannot be compared, or was compared over failed cells."""
    rows = []
    for key in sorted(ka | kb | set(fa) | set(fb), key=lambda k: tuple(map(str, k))):
        why = []
        if key in fb:
            why.append(f"failed in the new run ({fb[key]})")
        if key in fa:
            why.append(f"failed in the base run ({fa[key]})")
        if key in ka and key not in kb and key not in fb:
            why.append("absent from the new run")
        if key in kb and key not in ka and key not in fa:
            why.append("only in the new run: nothing to compare it with")
        if not why:
            continue
        counts = key in ka or key in fa or key in fb  # what the base vouched for, or a crash
        rows.append({"comparison": _name(key, keys), "why": "; ".join(why), "fails": counts and not allow})
    return pd.DataFrame(rows, columns=["comparison", "why", "fails"])


def _pools(base: pd.DataFrame, new: pd.DataFrame, keys: list[str]) -> list[str]:
    """Pooled methods whose maj@k / pass@k stand on pools of other sizes in the two runs."""
    pa = base.groupby(keys)["n_samples"].max()
    pb = new.groupby(keys)["n_samples"].max()
    both = pa.index.intersection(pb.index)
    return [f"{_name(k if isinstance(k, tuple) else (k,), keys)}: pools of {int(pa[k])} samples (base) vs "
            f"{int(pb[k])} (new) behind the same estimate (same expectation, other variance)"
            for k in both if int(pa[k]) != int(pb[k])]


def _row(key: tuple, keys: list[str], x: np.ndarray, y: np.ndarray, gate: Gate) -> dict:
    """One comparison: accuracies, difference, the rule's one-sided p and the test's interval."""
    diff, delta, tail = y - x, -gate.max_drop, RULES[gate.rule].tail
    if bool(np.all(np.isin(x, (0, 1))) and np.all(np.isin(y, (0, 1)))):
        gained, lost = int(np.sum((x == 0) & (y == 1))), int(np.sum((x == 1) & (y == 0)))
        p = float(binary_p(gained, lost, len(diff), delta, tail))
        lo, hi = (float(v) for v in binary_interval(gained, lost, len(diff), gate.alpha))
        test = "score (Tango)"
    else:
        gained = lost = None
        below, above, lo, hi = t_test(diff, delta, gate.alpha)
        p, test = (below if tail == "below" else above), "paired t"
    d = dict(zip(keys, key))
    task = f"{d['checkpoint']} · {d['task']}" if "checkpoint" in d else d["task"]
    return {"task": task, "method": d["method"], "budget": int(d["budget"]), "n": len(diff),
            "base": float(x.mean()), "new": float(y.mean()), "difference": float(diff.mean()),
            "ci_low": lo, "ci_high": hi, "gained": gained, "lost": lost, "test": test, "p": p,
            "sd": float(np.std(diff, ddof=1)) if len(diff) > 1 else 0.0}


def compare(base: pd.DataFrame, new: pd.DataFrame, gate: Gate = Gate(),
            base_failures: pd.DataFrame | None = None, new_failures: pd.DataFrame | None = None) -> Comparison:
    """Every (task, method, budget) of the two runs: compared where both have it, else listed
    in `unmatched` (the base's comparisons missing or failed in the new run fail the gate
    unless `gate.allow_missing`).

    Raises ConfigError when the two runs did not ask the same questions of a comparison (other
    problems, or the same ids with other prompts), or share nothing to compare."""
    keys = _keys(base, new)
    a, b = per_problem(base, keys), per_problem(new, keys)
    groups_a = {tuple(k): g for k, g in a.groupby(keys, sort=True)}
    groups_b = {tuple(k): g for k, g in b.groupby(keys, sort=True)}
    rows = []
    for key in sorted(set(groups_a) & set(groups_b), key=lambda k: tuple(map(str, k))):
        ga, gb = groups_a[key], groups_b[key]
        qa, qb = set(zip(ga["problem_id"], ga["prompt_hash"])), set(zip(gb["problem_id"], gb["prompt_hash"]))
        if qa != qb:
            same_ids = {i for i, _ in qa} == {i for i, _ in qb}
            why = "the same problem ids with different prompts" if same_ids else \
                f"different problems ({len(qa - qb)} only in the base run, {len(qb - qa)} only in the new one)"
            raise ConfigError(f"cannot compare {_name(key, keys)}: the runs asked {why}")
        joined = ga.merge(gb, on=["problem_id", "prompt_hash"], suffixes=("_base", "_new"))
        rows.append(_row(key, keys, joined["correct_base"].to_numpy(), joined["correct_new"].to_numpy(), gate))
    unmatched = _unmatched(set(groups_a), set(groups_b), _failed(base_failures, keys), _failed(new_failures, keys),
                           keys, gate.allow_missing)
    if not rows:
        raise ConfigError("the two runs share no (" + ", ".join(keys) + ") to compare: "
                          + "; ".join(f"{r.comparison}: {r.why}" for r in unmatched.itertuples()))
    table = pd.DataFrame(rows)
    table["p_holm"] = holm(table["p"].tolist())
    rejected = table["p_holm"] < gate.alpha
    table["fails"] = rejected if RULES[gate.rule].fail_when == "rejected" else ~rejected
    k = len(table)
    # The power line: the truth `max_drop` beyond the null, at Holm's first (strictest) step.
    table["problems_needed"] = [_needed(r.sd, gate.max_drop, gate.alpha / k) for r in table.itertuples()]
    return Comparison(table, unmatched, _pools(base, new, keys), gate)


def _needed(sd: float, distance: float, alpha: float) -> int | None:
    """`problems_needed` from a standard deviation already computed."""
    if distance <= 0 or sd == 0:
        return None
    return math.ceil(((sps.norm.isf(alpha) + sps.norm.ppf(POWER)) * sd / distance) ** 2)


def _neg(m: float) -> str:
    return "0" if m == 0 else f"−{m:g}"


def verdict(row: pd.Series, gate: Gate, k: int) -> str:
    """One line per comparison: what changed, how sure, the rule that ran and its verdict."""
    m = gate.max_drop
    what = (f"{row.task} · {row.method}@{row.budget}: {row.base:.3f} → {row.new:.3f} "
            f"({row.difference:+.3f}, {gate.level} CI [{row.ci_low:+.3f}, {row.ci_high:+.3f}], n={row.n}; "
            f"{gate.rule} rule, H0: new − base {'≥' if gate.rule == 'drop' else '≤'} {_neg(m)}, "
            f"one-sided {row.test} p={row.p:.3g}, Holm p={row.p_holm:.3g} over {k})")
    if row.fails:
        why = (f"a drop beyond {m:g} is significant at alpha {gate.alpha:g}" if gate.rule == "drop" else
               f"not shown to be within a drop of {m:g} at alpha {gate.alpha:g}")
        return f"FAIL  {what}: {why}"
    if gate.rule == "drop" and row.p < gate.alpha:
        return f"ok    {what}: the interval is below {_neg(m)}, but not significant after Holm over {k}"
    if gate.rule == "non-inferiority":
        note = f": shown to be within a drop of {m:g}"
    elif row.ci_high < 0:
        note = f": a significant drop, not shown to exceed the allowed {m:g}"
    else:
        note = ""
    need = row.problems_needed
    if need is not None and not (isinstance(need, float) and math.isnan(need)) and need > row.n:
        target = (f"a drop of {2 * m:g} ({m:g} beyond the allowance) would fail" if gate.rule == "drop" else
                  "no change would pass")
        note += f"; {target} with {POWER:.0%} power only from ~{int(need)} problems"
    return f"ok    {what}{note}"
