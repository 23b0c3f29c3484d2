"""Is a predicted math answer equal to the reference? Numbers first, then math-verify.

- Plain numbers compare exactly ("1,000" = 1000 = 1000.0, "1/3" != "0.333"); "$", a trailing
  "%" and unit words are stripped; 50% = 0.5 only when `percent=True` (the task says so).
- Anything else goes to math-verify (LaTeX, sets, intervals, matrices, equations), with
  sympy-free string equality as the last resort. math-verify's own timeouts use SIGALRM,
  which fails outside the main thread, so they are off and `MathChecker` runs it in a worker
  process with a deadline instead, killing and restarting the worker on a timeout.
- Results are cached per (prediction, reference, percent): repeated pairs are free.
"""
from __future__ import annotations

import json
import re
import select
import subprocess
import sys
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

from tasks.math.numbers import parse_number

UNIT_RE = re.compile(r"^(.*?\d)\s*(?:\\text\{\s*[a-zA-Z ]+\}|\\mbox\{[^}]*\}|[a-zA-Z][a-zA-Z .]*)$")
THOUSANDS_MARK_RE = re.compile(r"(?<=\d),\\!\s*(?=\d{3})|(?<=\d)\{,\}(?=\d{3})")
MATHRM_LETTER_RE = re.compile(r"\\mathrm\{([A-Za-z])\}")
TEXT_WRAP_RE = re.compile(r"\\(?:text|textbf|mathrm)\{([^{}]*)\}")
# \frac{1}{2}, \dfrac, \tfrac, \frac12, -\frac{3}{4}, \frac{-3}{4} and mixed 2\frac{1}{2}.
LATEX_FRAC_RE = re.compile(r"(?P<sign>-)?\s*(?P<whole>\d{1,9})?\s*\\[dt]?frac\s*"
                           r"(?:\{\s*(?P<num>-?\d+(?:\.\d+)?)\s*\}\s*\{\s*(?P<den>\d+(?:\.\d+)?)\s*\}|(?P<n1>\d)(?P<d1>\d))")


def strip_decorations(answer: str) -> tuple[str, bool]:
    """Remove "$", "\\!", a trailing percent sign and trailing unit words; say if "%" was there."""
    s = answer.strip().rstrip(".").strip()
    s = THOUSANDS_MARK_RE.sub(",", s)  # 11,\! 111 and 14{,}916 are thousands separators
    s = s.replace("\\$", "").replace("\\!", "").replace("\\,", "").strip()
    if s.startswith("$") and s.endswith("$") and len(s) > 1 and s.count("$") == 2:
        s = s[1:-1].strip()
    if s.count("$") == 1:  # a currency sign, not math delimiters ("$1$ and $2$" stays)
        s = s.lstrip("$").strip()
    percent = s.endswith("%")
    s = s.rstrip("%").removesuffix("\\").strip()
    m = UNIT_RE.match(s)
    if m and parse_number(m.group(1)) is not None:
        s = m.group(1).strip()
    return s, percent


def as_number(answer: str) -> tuple[Fraction | None, bool]:
    """The exact value of a plain numeric answer (after stripping decorations), and its %-flag."""
    s, percent = strip_decorations(answer)
    s = TEXT_WRAP_RE.sub(r"\1", s)
    frac = LATEX_FRAC_RE.fullmatch(s)
    if frac:
        num, den = frac.group("num") or frac.group("n1"), frac.group("den") or frac.group("d1")
        value = parse_number(f"{num}/{den}")
        if value is not None and frac.group("whole"):
            # A mixed number (MATH writes 2\frac{1}{2} for 5/2) needs a proper fraction.
            if not 0 < value < 1:
                return None, percent
            value += int(frac.group("whole"))
        return (-value if frac.group("sign") and value is not None else value), percent
    return parse_number(s), percent


def numeric_equal(pred: str, gold: str, percent: bool = False) -> bool | None:
    """True/False when both sides are plain numbers, None when math-verify must decide."""
    p, p_pct = as_number(pred)
    g, g_pct = as_number(gold)
    if p is None or g is None:
        return None
    if p == g:
        return True
    if percent:  # 50% = 0.5 = 50 when the task asks for a percentage
        return p / 100 == g or g / 100 == p or (p_pct and p / 100 == g) or (g_pct and g / 100 == p)
    return False


def _verify(pred: str, gold: str) -> bool:
    """math-verify on one pair, with its signal-based timeouts off (we enforce our own)."""
    from math_verify import parse, verify

    def wrap(s: str) -> str:
        return s if "$" in s or "\\boxed" in s else f"${s}$"

    # \mathrm{e} cuts math-verify's parse short ("1 - \frac{1}{\mathrm{e}}" read as "1"):
    # a one-letter \mathrm is just that letter.
    pred, gold = (MATHRM_LETTER_RE.sub(r"\1", s) for s in (pred, gold))
    g = parse(wrap(gold), parsing_timeout=None)
    p = parse(wrap(pred), parsing_timeout=None)
    if not g or not p:
        return False
    # An inequality and the interval it describes are one answer, either way round.
    if not verify(g, p, timeout_seconds=None, allow_set_relation_comp=True):
        return False
    return not _exact_values_differ(g[0], p[0])


def _exact_values_differ(a: object, b: object) -> bool:
    """True when both sides are exact rational numbers that differ. math-verify compares
    numbers to a float tolerance, so 1/2004! "equals" 1/2006! and 1/2^99 "equals" 1/2^98."""
    import sympy

    values = []
    for x in (a, b):
        if not isinstance(x, sympy.Basic) or not x.is_number or x.has(sympy.Float):
            return False
        value = x.doit()
        if not value.is_Rational:
            return False
        values.append(value)
    return values[0] != values[1]


def worker_main() -> None:
    """The checker process: JSON lists of [prediction, reference] in, JSON lists of bools out."""
    import json
    import logging
    import sys

    logging.disable(logging.WARNING)  # math-verify warns on every call with timeouts off
    for line in sys.stdin:
        out = []
        for pred, gold in json.loads(line):
            try:
                out.append(_verify(pred, gold))
            except Exception:  # noqa: BLE001 - an unparsable answer is simply not equal
                out.append(False)
        sys.stdout.write(json.dumps(out) + "\n")
        sys.stdout.flush()


class MathChecker:
    """math-verify in a worker process with a per-pair deadline, plus an answer cache."""

    def __init__(self, timeout_s: float = 5.0) -> None:
        self.timeout_s = timeout_s
        self.cache: dict[tuple[str, str, bool], bool] = {}
        self._proc: subprocess.Popen | None = None
        self.timeouts = 0

    def _stop(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
        self._proc = None

    def _run(self, pairs: list[tuple[str, str]]) -> list[bool]:
        startup = 0.0
        if self._proc is None or self._proc.poll() is not None:
            # A plain subprocess, not multiprocessing: no fork of a big parent, no __main__ games.
            self._proc = subprocess.Popen([sys.executable, "-c", "from tasks.math.equivalence import "
                                           "worker_main; worker_main()"], stdin=subprocess.PIPE,
                                          stdout=subprocess.PIPE, text=True, bufsize=1,
                                          cwd=str(Path(__file__).resolve().parents[2]))
            startup = 30.0  # a new worker imports sympy and math-verify first
        try:
            self._proc.stdin.write(json.dumps(pairs) + "\n")
            self._proc.stdin.flush()
            ready, _, _ = select.select([self._proc.stdout], [], [], self.timeout_s * len(pairs) + startup)
            line = self._proc.stdout.readline() if ready else ""
        except (BrokenPipeError, OSError):
            line = ""
        if line:
            return json.loads(line)
        self._stop()  # too slow or crashed: kill it; the next call starts a fresh worker
        if len(pairs) == 1:
            self.timeouts += 1
            return [False]
        return [r for pair in pairs for r in self._run([pair])]  # find the bad pair

    def equal_many(self, items: Sequence[tuple[str, str]], percent: bool = False) -> list[bool]:
        """Equality of many (prediction, reference) pairs; math-verify calls are batched."""
        results: list[bool | None] = []
        todo: dict[tuple[str, str], None] = {}
        for pred, gold in items:
            key = (pred, gold, percent)
            if key in self.cache:
                results.append(self.cache[key])
                continue
            fast = numeric_equal(pred, gold, percent)
            if fast is None and strip_decorations(pred)[0] == strip_decorations(gold)[0]:
                fast = True
            if fast is not None:
                self.cache[key] = fast
            else:
                todo[(strip_decorations(pred)[0], strip_decorations(gold)[0])] = None
            results.append(fast)
        if todo:
            verdicts = dict(zip(todo, self._run(list(todo))))
            for i, (pred, gold) in enumerate(items):
                if results[i] is None:
                    results[i] = verdicts[(strip_decorations(pred)[0], strip_decorations(gold)[0])]
                    self.cache[(pred, gold, percent)] = results[i]
        return [bool(r) for r in results]

    def equal(self, pred: str | None, gold: str, percent: bool = False) -> bool:
        """Equality of one prediction with the reference (None is never equal)."""
        return pred is not None and self.equal_many([(pred, gold)], percent)[0]

    def close(self) -> None:
        self._stop()


_DEFAULT: MathChecker | None = None


def default_checker() -> MathChecker:
    """A process-wide checker shared by the math tasks (one worker, one cache)."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = MathChecker()
    return _DEFAULT
