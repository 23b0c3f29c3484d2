"""`addition`: n-digit addition solved column by column — the testbed model's task.

A solution is one line per column, least significant first, then the answer line:

    4821+1779
    1+9+0=10
    2+7+1=10
    8+7+1=16
    4+1+1=6
    A=6600

Each column line is `a+b+carry_in=sum`; the answer is the last digit of every column sum,
read from the top column down, after the final carry. The train and test splits are disjoint
by construction (a hash of the operand pair), so test problems are never seen in training.
"""
from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from harness.contracts import Problem, TaskBase, Verdict
from harness.registry import TASKS, ConfigError
from tasks.math.numbers import canonical_number, numbers_equal

ANSWER_RE = re.compile(r"A=(-?\d+)")
COLUMN_LINE_RE = re.compile(r"(\d+)\+(\d+)\+(\d+)=(\d+)")
SPLITS = ("train", "test")


def in_test_split(a: int, b: int) -> bool:
    """One operand pair in ten belongs to the test split (a fixed multiplicative hash)."""
    return ((a * 1_000_003 + b) * 2_654_435_761) % 2**32 % 10 == 0


@functools.lru_cache(maxsize=64)
def count_in_split(digits: int, split: str, width: int) -> int:
    """Operand pairs of `split` among the first `width` values of each operand (both with
    `digits` digits): the split's exact size when `width` covers every operand, else a lower
    bound of it. Vectorised `in_test_split` (uint64 arithmetic modulo 2**32, as the hash is)."""
    lo, hi = 10 ** (digits - 1), 10**digits
    width = min(width, hi - lo)
    mask = np.uint64(2**32 - 1)
    b = np.arange(lo, lo + width, dtype=np.uint64)
    test = 0
    for start in range(lo, lo + width, 500):
        a = np.arange(start, min(start + 500, lo + width), dtype=np.uint64)[:, None]
        h = (((a * np.uint64(1_000_003) + b) & mask) * np.uint64(2_654_435_761)) & mask
        test += int((h % np.uint64(10) == 0).sum())
    return test if split == "test" else width * width - test


# Operand widths counted to vouch for a request: a cheap block first, then one that covers
# every operand pair up to 4 digits (about 0.4 s); beyond 4 digits it is a lower bound.
COUNT_WIDTHS = (1000, 9000)


def shortfall(split: str, got: int, exact: bool) -> str:
    """What a request for more problems than `split` can give is told."""
    if exact:
        return f"more than the {split} split holds ({got} problems)"
    return f"more than the {got} problems of the {split} split that were counted (ask for at most {got})"


def column_lines(a: int, b: int, digits: int, carries: list[int] | None = None,
                 sums: list[int] | None = None) -> list[str]:
    """The column lines of `a+b`; `carries`/`sums` override the true values (a teacher's slips)."""
    lines = []
    carry = 0
    for i in range(digits):
        da, db = a // 10**i % 10, b // 10**i % 10
        c = carry if carries is None else carries[i]
        s = da + db + c if sums is None else sums[i]
        lines.append(f"{da}+{db}+{c}={s}")
        carry = 1 if s >= 10 else 0
    return lines


def answer_from_columns(sums: list[int]) -> int:
    """The number the column sums spell: last digits from the top column, then its carry."""
    digits = "".join(str(s % 10) for s in reversed(sums))
    return int(("1" if sums[-1] >= 10 else "") + digits)


def true_steps(a: int, b: int, digits: int) -> list[tuple[int, ...]]:
    """The numbers each step of the correct solution must state: (digit a, digit b, carry in,
    column sum) per column, least significant first, then (a + b,) for the answer line."""
    steps: list[tuple[int, ...]] = []
    carry = 0
    for i in range(digits):
        da, db = a // 10**i % 10, b // 10**i % 10
        steps.append((da, db, carry, da + db + carry))
        carry = (da + db + carry) // 10
    return steps + [(a + b,)]


def stated_numbers(step: str) -> tuple[int, ...] | None:
    """The numbers a column line (`a+b+c=s`) or the answer line (`A=n`) states; None otherwise."""
    line = step.strip()
    found = COLUMN_LINE_RE.fullmatch(line) or ANSWER_RE.fullmatch(line)
    return tuple(int(x) for x in found.groups()) if found else None


def solution_text(a: int, b: int, digits: int) -> str:
    """The correct step-by-step solution (completion text, without the prompt)."""
    lines = column_lines(a, b, digits)
    return "\n".join(lines) + f"\nA={a + b}\n"


def prompt_text(a: int, b: int) -> str:
    return f"{a}+{b}\n"


def operands(problem: Problem) -> tuple[int, int]:
    """The operand pair of an addition problem (its meta, else its prompt `a+b`)."""
    if "a" in problem.meta and "b" in problem.meta:
        return int(problem.meta["a"]), int(problem.meta["b"])
    prompt = problem.prompt if isinstance(problem.prompt, str) else problem.prompt[-1]["content"]
    found = re.fullmatch(r"\s*(\d+)\+(\d+)\s*", prompt)
    if found is None:
        raise ValueError(f"addition: problem {problem.id!r} has no operands in its meta or prompt")
    return int(found.group(1)), int(found.group(2))


@TASKS.register("addition")
@dataclass
class AdditionTask(TaskBase):
    """Procedural n-digit addition with a column-by-column chain of thought."""

    digits: int = 4
    name: str = "addition"

    def __post_init__(self) -> None:
        if not isinstance(self.digits, int) or not 1 <= self.digits <= 12:
            raise ConfigError(f"addition: digits must be an integer in 1..12, got {self.digits!r}")

    def sample_operands(self, split: str, rng: np.random.Generator) -> tuple[int, int]:
        """One operand pair of `split`, both with exactly `digits` digits."""
        lo, hi = 10 ** (self.digits - 1), 10**self.digits
        while True:
            a, b = (int(x) for x in rng.integers(lo, hi, size=2))
            if in_test_split(a, b) == (split == "test"):
                return a, b

    splits = SPLITS
    procedural = True  # problems are drawn: a matrix must say how many (n_problems)

    def available(self, split: str, n: int) -> tuple[int, bool]:
        """How many of `n` problems `split` can give, and whether that count is exact (else a
        lower bound, for more than 4 digits): `n` itself when the split holds that many."""
        if split not in SPLITS:
            raise ConfigError(f"addition: unknown split {split!r} (known: {', '.join(SPLITS)})")
        span = 9 * 10 ** (self.digits - 1)
        for width in COUNT_WIDTHS:
            found = count_in_split(self.digits, split, width)
            if found >= n:
                return n, True
        return found, span <= COUNT_WIDTHS[-1]

    def problems(self, split: str, n: int | None, seed: int) -> list[Problem]:
        if n is None:
            raise ConfigError("addition: a procedural task needs n_problems")
        got, exact = self.available(split, n)
        if got < n:  # the sampler below would never finish
            raise ConfigError(f"addition(digits={self.digits}): n_problems {n}: {shortfall(split, got, exact)}")
        rng = np.random.default_rng([seed, 0xADD])
        seen: set[tuple[int, int]] = set()
        out = []
        while len(out) < n:
            a, b = self.sample_operands(split, rng)
            if (a, b) in seen:
                continue
            seen.add((a, b))
            out.append(Problem(id=f"add{self.digits}-{a}+{b}", prompt=prompt_text(a, b),
                               reference=str(a + b), meta={"a": a, "b": b}))
        return out

    def extract(self, completion: str) -> str | None:
        found = ANSWER_RE.findall(completion)
        return found[-1] if found else None

    def check(self, answer: str | None, problem: Problem) -> Verdict:
        if answer is None:
            return Verdict(False, "no answer found")
        ok = numbers_equal(answer, problem.reference)
        return Verdict(ok, "equal" if ok else f"expected {problem.reference}")

    def canonical(self, answer: str) -> str:
        return canonical_number(answer)

    def solution(self, problem: Problem) -> str:
        a, b = operands(problem)
        return solution_text(a, b, self.digits)

    def step_labels(self, problem: Problem, steps: Sequence[str]) -> list[bool]:
        """Exact process labels (see TaskBase.step_labels: a step is correct iff it and every
        step before it is right). Column line i is right iff it states column i's true digits,
        carry in and sum; the line after the last column is right iff it is `A=<a+b>`; a
        malformed line, a missing column or anything after the answer line is wrong."""
        a, b = operands(problem)
        truth = true_steps(a, b, self.digits)
        labels, ok = [], True
        for i, step in enumerate(steps):
            ok = ok and i < len(truth) and stated_numbers(step) == truth[i]
            labels.append(ok)
        return labels
