"""Final-answer extraction for math completions; every result names the rule that fired.

Rules, first match wins, in the priority order of math-verify's own extraction configs
(`LatexExtractionConfig`/`ExprExtractionConfig`: "final answer is" and `\\boxed{}` first, then
"answer" anchors, then unanchored LaTeX and numbers), as plain string work in this process:

- `answer_is` for "final answer is ..." or "Final Answer: ..." (after the last box, if any).
- `boxed`: the last `\\boxed{...}` (nested braces), joined with the boxes right before it when
  only "and", commas or `\\quad` separate them (`\\boxed{-2} and \\boxed{1}` is "-2, 1").
- `answer_is` ("The answer is ..."), `answer_colon` ("Answer: ...", "Final Answer: **73**"),
  `hash` ("#### ..."): the last such phrase; prose around the answer is dropped.
- `math`: the last inline or display math (`$x \\geq 5$`, a matrix) unless a number comes after it.
- `last_number`: the last number that is not part of a word (`AZYUK2A` has none), with
  thousands separators ("10,455", "1 000"), a mixed number ("4 4/9") or a percent sign.

Nothing here parses with sympy: that happens in the checker's worker, which has a deadline.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

BOX_RE = re.compile(r"\\(?:boxed|fbox)\s*")
ANSWER_IS_RE = re.compile(r"(?:the )?(?:final )?answer is\s*[:：]?\s*(.+)", re.IGNORECASE)
ANSWER_COLON_RE = re.compile(r"(?<![A-Za-z])(?:final )?answer\**\s*[:：]\**\s*(.+)$", re.IGNORECASE | re.MULTILINE)
HASH_RE = re.compile(r"####\s*(.+?)\s*$", re.MULTILINE)
# What may stand between two boxes that together are one answer: "and", commas, spacing.
JOINER_RE = re.compile(r"^(?:\s|\$|,|;|and|or|&|\\quad|\\qquad|\\,|\\;|\\text\{[^{}]*\}|\\\(|\\\)|\\\[|\\\]"
                       r"|[A-Za-z](?:_\{?\w+\}?)?\s*=)*$")  # also a label: "\boxed{2} and y_2 = \boxed{3}"
# "final answer is ..." or "Final Answer: ...", math-verify's highest-priority anchor.
FINAL_RE = re.compile(r"final answer[^\n]{0,100}?(?:\s+is\s*[:：]?|\s*[:：])\s*(\S.*)",
                                re.IGNORECASE)
DELIM_RE = re.compile(r"\\\$|\$\$|\\\[|\\\]|\\\(|\\\)|\$")
CLOSER = {"$$": "$$", "\\[": "\\]", "\\(": "\\)", "$": "$"}
MAX_SPAN = 5000
# A number that is not part of a word or a longer number; thousands separators, decimals,
# a mixed number or a fraction, an optional percent sign.
NUMBER_RE = re.compile(
    r"(?<![\w.])-?(?:\d{1,3}(?:,\d{3})+(?!,?\d)|\d{1,3}(?: \d{3})+(?! ?\d)|\d+)(?:\.\d+)?"
    r"(?: \d+/\d+(?![\d/])|/\d+(?![\d/]))?(?![A-Za-z_\d])(?:\s?%)?|(?<![\w.])-?\.\d+(?![\w.])")
_COMMAND_OR_TEXT_RE = re.compile(r"\\(?:text|mathrm|textbf|mbox|begin|end)\{[^{}]*\}|\\[A-Za-z]+")
_WORD_RE = re.compile(r"[A-Za-z]{3,}")
_PROSE_RE = re.compile(r"[A-Za-z]{2,}\W+[A-Za-z]{2,}")
_TRAILING_PUNCT = " \t\n.,;:!"


@dataclass(frozen=True)
class Extraction:
    answer: str | None
    rule: str  # "boxed", "answer_is", "answer_colon", "hash", "math", "last_number" or "none"


def _matching_braces(text: str) -> dict[int, int]:
    """Index of each "{" -> index of its "}" (one pass: many unclosed boxes stay linear)."""
    match, stack = {}, []
    for m in re.finditer(r"[{}]", text):
        if m.group() == "{":
            stack.append(m.start())
        elif stack:
            match[stack.pop()] = m.start()
    return match


def _boxes(text: str) -> list[tuple[int, int, str]]:
    """(start, end, content) of every `\\boxed{...}` with balanced braces, or `\\boxed x`."""
    out = []
    braces: dict[int, int] | None = None
    for m in BOX_RE.finditer(text):
        i = m.end()
        if i < len(text) and text[i] == "{":
            braces = _matching_braces(text) if braces is None else braces
            if i in braces:  # else unbalanced: not a box
                out.append((m.start(), braces[i] + 1, text[i + 1:braces[i]].strip()))
            continue
        word = re.match(r"[^\s$]+", text[i:])
        if word:
            out.append((m.start(), i + word.end(), word.group(0)))
    return [b for b in out if b[2]]


def last_boxed(text: str) -> str | None:
    """Content of the last `\\boxed{...}` with balanced braces (or `\\boxed x`)."""
    boxes = _boxes(text)
    return boxes[-1][2] if boxes else None


def _boxed_answer(text: str, boxes: list[tuple[int, int, str]]) -> str:
    """The last box, with the boxes chained to it by "and"/commas ("-2, 1"), repeats dropped."""
    chain = [boxes[-1]]
    for prev in reversed(boxes[:-1]):
        if prev[1] <= chain[0][0] and JOINER_RE.match(text[prev[1]:chain[0][0]]):
            chain.insert(0, prev)
        else:
            break
    parts = list(dict.fromkeys(_strip_punct(b[2]) for b in chain))
    return ", ".join(parts)


def _strip_punct(s: str) -> str:
    """Trailing sentence punctuation, also inside math (`\\sqrt{2}.`), is not part of an answer."""
    s = s.strip()
    while s and s[-1] in _TRAILING_PUNCT and not s.endswith("\\."):
        s = s[:-1].rstrip()
    return s


def _looks_like_math(content: str) -> bool:
    """False for a `$...$` pair that is two dollar amounts in prose ("$18 for 2 and $"): words
    outside LaTeX commands and `\\text{}`, or a number followed by a word."""
    bare = _COMMAND_OR_TEXT_RE.sub(" ", content).strip()
    return bool(content.strip()) and not _PROSE_RE.search(bare) and not (
        bare[:1].isdigit() and _WORD_RE.search(bare))


def _math_spans(text: str) -> list[tuple[int, int, str]]:
    """(start, end, content) of the math environments (`$$ $$`, `\\[ \\]`, `$ $`, `\\( \\)`) that
    look like math. One pass over the delimiters, so unclosed ones cost no rescans; an inline
    `$` closes on its own line, and an opener left unclosed for MAX_SPAN characters is dropped."""
    out = []
    opened: tuple[str, int, int, int] | None = None  # (delimiter, start, content start, line end)
    for m in DELIM_RE.finditer(text):
        tok = m.group()
        if tok == "\\$":
            continue
        if opened is not None:
            delim, start, body, line_end = opened
            crosses_line = line_end < m.start()
            if tok == CLOSER[delim] and not (delim == "$" and crosses_line):
                content = text[body:m.start()]
                if _looks_like_math(content):
                    out.append((start, m.end(), content))
                opened = None
                continue
            if (not crosses_line) if delim == "$" else m.start() - body <= MAX_SPAN:
                continue  # still inside the open environment
            opened = None  # never closed: drop it, and see if this token opens one
        if tok in CLOSER and not (tok == "$" and m.start() > 0 and text[m.start() - 1].isdigit()):
            line_end = text.find("\n", m.end())
            opened = (tok, m.start(), m.end(), len(text) if line_end < 0 else line_end)
    return out


def _equation_value(content: str) -> str:
    """`9 \\times 2 = 18` is the value 18; `x = 5`, `f(x) = 2x+1`, `a=1, b=2` stay whole."""
    parts = re.split(r"(?<![<>!\\])=", content)
    if len(parts) < 2 or any(c in content for c in ",;") or "\\\\" in content:
        return content
    lhs = parts[0]
    if re.search(r"\d", lhs) and not re.fullmatch(r"\s*[A-Za-z](?:_\{?\w+\}?)?\s*", lhs):
        return parts[-1].strip()
    return content


def _last_number(text: str) -> tuple[int, str] | None:
    """(end, number) of the last number in `text` that is not inside a word."""
    found = list(NUMBER_RE.finditer(text))
    return (found[-1].end(), found[-1].group(0).strip()) if found else None


def _unanchored(text: str) -> Extraction | None:
    """The last math environment or number, whichever ends later."""
    spans = _math_spans(text)
    number = _last_number(text)
    if spans and (number is None or number[0] <= spans[-1][1]):
        answer = _strip_punct(_equation_value(_strip_punct(spans[-1][2])))
        if answer:
            return Extraction(answer, "math")
    if number is not None:
        return Extraction(number[1], "last_number")
    return None


def _clean(span: str) -> str:
    """Trim a free-text answer span: a box, the first sentence, math delimiters, bold marks;
    prose before the answer ("that there are 12 apples") is dropped."""
    s = span.strip().strip("*").strip()
    boxed = last_boxed(s)
    if boxed is not None:
        return _strip_punct(boxed)
    s = re.split(r"(?<!\\)\.\s|\n", s)[0].strip()
    s = _strip_punct(s.strip("*"))
    spans = _math_spans(s)
    if len(spans) > 1 and all(JOINER_RE.match(s[a[1]:b[0]]) for a, b in zip(spans, spans[1:])) \
            and JOINER_RE.match(s[:spans[0][0]] + s[spans[-1][1]:]):
        return ", ".join(_strip_punct(c) for _, _, c in spans)  # "$12$ and $13$"
    for left, right in (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")):
        if s.startswith(left) and s.endswith(right) and len(s) > len(left) + len(right) - 1:
            return _strip_punct(s[len(left):len(s) - len(right)].strip())
    if re.match(r"[A-Za-z]{2,}\s", s):  # starts with words: "The largest $n$ is 34" is 34
        verb = list(re.finditer(r"\s(?:is|are|equals|was)\s+", s))
        if verb:
            return _clean(s[verb[-1].end():])
        spans = _math_spans(s)
        number = NUMBER_RE.search(s)
        if spans and (number is None or spans[0][0] <= number.start()):
            return _strip_punct(spans[0][2])
        if number is not None:
            return number.group(0).strip()
    return s


def extract_math(text: str) -> Extraction:
    """The final answer of a math completion and the rule that found it."""
    boxes = _boxes(text)
    # "final answer is ..." / "Final Answer: ..." first (after the last box, if any), as in
    # math-verify, where it outranks a box before it and any other "answer" phrase.
    final = FINAL_RE.findall(text[boxes[-1][1]:] if boxes else text)
    if final and _clean(final[-1]):
        return Extraction(_clean(final[-1]), "answer_is")
    if boxes:
        return Extraction(_boxed_answer(text, boxes), "boxed")
    for rule, pattern in (("answer_is", ANSWER_IS_RE), ("answer_colon", ANSWER_COLON_RE), ("hash", HASH_RE)):
        found = pattern.findall(text)
        if found:
            answer = _clean(found[-1])
            if answer:
                return Extraction(answer, rule)
    return _unanchored(text) or Extraction(None, "none")
