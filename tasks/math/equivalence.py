"""Is a predicted math answer equal to the reference? Numbers first, then math-verify.

- Plain numbers compare exactly ("1,000" = 1000 = 1000.0, "1/3" != "0.333"); "$", a trailing
  "%" and unit words are stripped; 50% = 0.5 only when `percent=True` (the task says so).
- Anything else goes to math-verify (LaTeX, sets, intervals, matrices, equations), with
  sympy-free string equality as the last resort. math-verify's own timeouts use SIGALRM,
  which fails outside the main thread, so `MathChecker` runs it in a worker process whose
  main thread puts each pair under its own alarm (one pair's timeout, never a batch's); a
  worker stuck past that (where no signal reaches) is killed and restarted for that pair.
- Results are cached per (prediction, reference, percent): repeated pairs are free.
"""
from __future__ import annotations

import json
import os
import re
import select
import subprocess
import sys
import time
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


class _PairTimeout(BaseException):
    """Raised by the worker's alarm; a BaseException so no library's `except Exception` eats it."""


TIMEOUT = "timeout"  # what the worker answers for a pair that ran out of its time


def worker_main(timeout_s: float = 5.0) -> None:
    """The checker process: a JSON list of [prediction, reference] in, one JSON line per pair
    out (true, false or "timeout"), each pair under its own `timeout_s` alarm. A first line
    "ready" says the imports are done, so start-up is never charged to a pair."""
    import json
    import logging
    import signal
    import sys

    _verify("x+1", "1+x")  # imports and first-call set-up before "ready": not charged to a pair

    def alarm(signum: int, frame: object) -> None:
        raise _PairTimeout

    logging.disable(logging.WARNING)  # math-verify warns on every call with timeouts off
    signal.signal(signal.SIGALRM, alarm)
    sys.stdout.write('"ready"\n')
    sys.stdout.flush()
    for line in sys.stdin:
        for pred, gold in json.loads(line):
            signal.setitimer(signal.ITIMER_REAL, timeout_s)
            try:
                out: bool | str = _verify(pred, gold)
            except _PairTimeout:
                out = TIMEOUT
            except Exception:  # noqa: BLE001 - an unparsable answer is simply not equal
                out = False
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            sys.stdout.write(json.dumps(out) + "\n")
            sys.stdout.flush()


class _Lines:
    """Lines from a pipe with a deadline per line (select on the raw fd: no hidden buffer)."""

    def __init__(self, fd: int) -> None:
        self.fd, self.buf = fd, b""

    def read(self, timeout_s: float) -> str | None:
        """The next line, or None when it did not come within `timeout_s` (or the pipe closed)."""
        deadline = time.monotonic() + timeout_s
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.fd], [], [], left)[0]:
                return None
            chunk = os.read(self.fd, 65536)
            if not chunk:
                return None
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode()


class MathChecker:
    """math-verify in a worker process with a per-pair deadline, plus an answer cache.

    Each pair gets `timeout_s` inside the worker (an alarm around the whole comparison); if
    the worker does not answer within `timeout_s + grace_s` (stuck where no signal reaches)
    it is killed and a fresh one takes the remaining pairs. Either way the pair is unequal
    and `timed_out(pred, gold)` says why.
    """

    STARTUP_S = 60.0  # a fresh worker imports sympy and math-verify (not charged to any pair)

    def __init__(self, timeout_s: float = 5.0, grace_s: float = 2.0) -> None:
        self.timeout_s = timeout_s
        self.grace_s = grace_s
        self.cache: dict[tuple[str, str, bool], bool] = {}
        self._proc: subprocess.Popen | None = None
        self._lines: _Lines | None = None
        self.timeouts = 0
        self._timed_out: set[tuple[str, str]] = set()

    def _stop(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
            for pipe in (self._proc.stdin, self._proc.stdout):
                try:
                    pipe.close()
                except OSError:  # a dead worker's pipe
                    pass
        self._proc = self._lines = None

    def _start(self) -> bool:
        # A plain subprocess, not multiprocessing: no fork of a big parent, no __main__ games.
        self._proc = subprocess.Popen(
            [sys.executable, "-c", f"from tasks.math.equivalence import worker_main; worker_main({self.timeout_s!r})"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=str(Path(__file__).resolve().parents[2]))
        self._lines = _Lines(self._proc.stdout.fileno())
        if self._lines.read(self.STARTUP_S) != '"ready"':
            self._stop()
            return False
        return True

    def _run(self, pairs: list[tuple[str, str]]) -> list[bool]:
        """Verdicts of `pairs`; a pair that times out (in the worker or past its deadline) is False."""
        out: list[bool] = []
        while len(out) < len(pairs):
            rest = pairs[len(out):]
            if (self._proc is None or self._proc.poll() is not None) and not self._start():
                raise RuntimeError("the math-verify worker did not start (is math-verify installed?)")
            try:
                self._proc.stdin.write((json.dumps(rest) + "\n").encode())
                self._proc.stdin.flush()
            except (BrokenPipeError, OSError):
                self._stop()
                continue
            for pair in rest:
                line = self._lines.read(self.timeout_s + self.grace_s)
                if line is None:  # stuck past its deadline (or crashed): this pair only is lost
                    crashed = self._proc.poll() is not None
                    self._stop()
                    if not crashed:
                        self._note_timeout(pair)
                    out.append(False)
                    break
                verdict = json.loads(line)
                if verdict == TIMEOUT:
                    self._note_timeout(pair)
                out.append(verdict is True)
        return out

    def _note_timeout(self, pair: tuple[str, str]) -> None:
        self.timeouts += 1
        self._timed_out.add(pair)

    def timed_out(self, pred: str, gold: str) -> bool:
        """Whether this pair was judged unequal because its check ran out of time."""
        return (strip_decorations(pred)[0], strip_decorations(gold)[0]) in self._timed_out

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
