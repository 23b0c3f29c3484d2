"""Final-answer extraction for math completions; every result names the rule that fired.

Rules, first match wins: `\\boxed{...}` (nested braces; the last box), "The answer is ...",
"Answer: ...", "#### ...", the last number in the text.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from tasks.math.numbers import last_number

BOX_RE = re.compile(r"\\(?:boxed|fbox)\s*")
ANSWER_IS_RE = re.compile(r"(?:the )?(?:final )?answer is\s*[:：]?\s*(.+)", re.IGNORECASE)
ANSWER_COLON_RE = re.compile(r"^\s*\**(?:final )?answer\**\s*[:：]\s*(.+)$", re.IGNORECASE | re.MULTILINE)
HASH_RE = re.compile(r"####\s*(.+?)\s*$", re.MULTILINE)


@dataclass(frozen=True)
class Extraction:
    answer: str | None
    rule: str  # "boxed", "answer_is", "answer_colon", "hash", "last_number" or "none"


def last_boxed(text: str) -> str | None:
    """Content of the last `\\boxed{...}` with balanced braces (or `\\boxed x`)."""
    matches = list(BOX_RE.finditer(text))
    for m in reversed(matches):
        i = m.end()
        if i < len(text) and text[i] == "{":
            depth = 0
            for j in range(i, len(text)):
                depth += {"{": 1, "}": -1}.get(text[j], 0)
                if depth == 0:
                    return text[i + 1:j].strip()
            continue  # unbalanced: try an earlier box
        word = re.match(r"[^\s$]+", text[i:])
        if word:
            return word.group(0)
    return None


def _clean(span: str) -> str:
    """Trim a free-text answer span: inline math delimiters, a trailing period, bold marks."""
    s = span.strip().strip("*").strip()
    boxed = last_boxed(s)
    if boxed is not None:
        return boxed
    s = re.split(r"\.\s|\n", s)[0].strip()
    s = s.rstrip(".").strip()
    for left, right in (("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")):
        if s.startswith(left) and s.endswith(right) and len(s) > len(left) + len(right) - 1:
            s = s[len(left):len(s) - len(right)].strip()
    return s


def extract_math(text: str) -> Extraction:
    """The final answer of a math completion and the rule that found it."""
    boxed = last_boxed(text)
    if boxed is not None:
        return Extraction(boxed, "boxed")
    for rule, pattern in (("answer_is", ANSWER_IS_RE), ("answer_colon", ANSWER_COLON_RE), ("hash", HASH_RE)):
        found = pattern.findall(text)
        if found:
            answer = _clean(found[-1])
            if answer:
                return Extraction(answer, rule)
    number = last_number(text)
    return Extraction(number, "last_number") if number is not None else Extraction(None, "none")
