"""Code extraction from completions: fenced blocks for chat models, raw text for completion models."""
from __future__ import annotations

import re

FENCE_RE = re.compile(r"```[ \t]*(?:python|py|Python)?[ \t]*\n(.*?)(?:```|\Z)", re.DOTALL)


def extract_code(completion: str) -> str:
    """The code in a completion: the longest fenced block if any, else the text itself."""
    blocks = FENCE_RE.findall(completion)
    if blocks:
        return max(blocks, key=len).rstrip() + "\n"
    return completion


def defines(code: str, name: str) -> bool:
    """Does `code` define the function `name` at top level?"""
    return re.search(rf"^def\s+{re.escape(name)}\s*\(", code, re.MULTILINE) is not None
