"""Numeric answers compared as numbers: "1,000" = 1000 = 1000.0 = $1000, but 1/3 != 0.333."""
from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from fractions import Fraction

# A number as people write it in final answers: sign, thousands separators, decimals, a fraction.
NUMBER_RE = re.compile(r"-?\$?\s?\d[\d,]*(?:\.\d+)?(?:/\d+)?|-?\$?\.\d+")
_THOUSANDS_RE = re.compile(r"^\d{1,3}(,\d{3})+(\.\d+)?$")
_SPACED_THOUSANDS_RE = re.compile(r"^\d{1,3}( \d{3})+(\.\d+)?$")
_MIXED_RE = re.compile(r"^(\d{1,9})\s+(\d{1,9})/(\d{1,9})$")
# The exact fast path handles numbers people write as answers. Beyond these bounds a number is
# not "plain": building it exactly would cost seconds and gigabytes ("1e10000000") or break
# str() (Python's 4300-digit limit), so it goes to the math-verify worker, which has a deadline.
MAX_CHARS = 400
MAX_EXPONENT = 400


def parse_number(text: str | None) -> Fraction | None:
    """The exact value of a numeric answer, or None when `text` is not one number."""
    if text is None:
        return None
    s = text.strip().rstrip(".").strip()
    s = s.replace("$", "").strip()
    if not s:
        return None
    sign = 1
    if s[0] in "+-":
        sign, s = (-1 if s[0] == "-" else 1), s[1:].strip()
    if " " in s:
        # A space is a thousands separator ("1 000") or splits a mixed number ("4 4/9" = 40/9);
        # anything else ("1 2") is not one number.
        mixed = _MIXED_RE.match(s)
        if mixed:
            whole, num, den = (int(g) for g in mixed.groups())
            return sign * (whole + Fraction(num, den)) if 0 < num < den else None
        if not _SPACED_THOUSANDS_RE.match(s):
            return None
        s = s.replace(" ", "")
    if "," in s:
        # Only thousands separators are dropped: "1,5" is not 15.
        if not _THOUSANDS_RE.match(s):
            return None
        s = s.replace(",", "")
    if len(s) > MAX_CHARS:
        return None
    try:
        if "/" in s:
            num, den = s.split("/", 1)
            parts = [_bounded_decimal(num), _bounded_decimal(den)]
            if None in parts:
                return None
            value = Fraction(parts[0]) / Fraction(parts[1])
        else:
            dec = _bounded_decimal(s)
            if dec is None:
                return None
            value = Fraction(dec)
    except (InvalidOperation, ValueError, ZeroDivisionError):
        return None
    return sign * value


def _bounded_decimal(s: str) -> Decimal | None:
    """`Decimal(s)` when it is finite with a moderate exponent ("inf", "nan", "1e5000": None)."""
    try:
        dec = Decimal(s)
    except (InvalidOperation, ValueError):
        return None
    if not dec.is_finite() or abs(dec.as_tuple().exponent) > MAX_EXPONENT:
        return None
    return dec


def last_number(text: str) -> str | None:
    """The last number written in `text` (lm-eval's flexible-extract fallback)."""
    found = NUMBER_RE.findall(text)
    return found[-1].strip() if found else None


def canonical_number(text: str) -> str:
    """A voting key: equal numbers give equal keys; non-numbers are kept as stripped text."""
    value = parse_number(text)
    return text.strip() if value is None else fraction_key(value)


def fraction_key(value: Fraction) -> str:
    """An exact number as a voting key: "7", "-1/2"."""
    return str(value.numerator) if value.denominator == 1 else f"{value.numerator}/{value.denominator}"


def numbers_equal(answer: str | None, reference: str) -> bool:
    """True when both parse to the same exact number."""
    a, b = parse_number(answer), parse_number(reference)
    return a is not None and b is not None and a == b
