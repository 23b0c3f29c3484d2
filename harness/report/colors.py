"""One colour per method name, the same in every report and every figure.

Registered method names get fixed, distinct colours; any other label (a variant such as
"best_of_n(prm)", a trainer, a checkpoint) is hashed into a second palette, so it is stable too,
though two unknown labels may share a colour.
"""
from __future__ import annotations

import hashlib

from plotly.colors import qualitative

# The registered test-time methods (baselines/search), in a fixed order: their colours never move.
_FIXED = {name: qualitative.Dark24[i] for i, name in enumerate(
    ["greedy", "sample", "majority", "oracle_best_of_n", "best_of_n", "weighted_best_of_n", "beam",
     "lookahead", "mcts", "dvts", "self_refine", "borda"])}
_HASHED = [c for c in qualitative.Dark24 if c not in _FIXED.values()] + qualitative.Alphabet


def color_for(name: str) -> str:
    """A hex colour for a method name or label, stable across runs and reports."""
    if name in _FIXED:
        return _FIXED[name]
    digest = int(hashlib.sha256(name.encode("utf-8")).hexdigest()[:8], 16)
    return _HASHED[digest % len(_HASHED)]


def with_alpha(color: str, alpha: float) -> str:
    """`#RRGGBB` as an `rgba(...)` string (bands are the curve's colour, translucent)."""
    r, g, b = (int(color[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"
