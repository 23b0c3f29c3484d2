"""One colour per method, the same in every report and every figure.

Each registered method has its own hue; a variant of it (another verifier, a custom label such as
"best_of_n(prm)") gets a shade of that hue picked by a hash of its label, so variants of one
method read as a family. A method without a fixed hue (a plugin) is hashed into a palette.
"""
from __future__ import annotations

import hashlib

from plotly.colors import qualitative

METHOD_COLORS = {"greedy": "#1f77b4", "sample": "#7f7f7f", "majority": "#ff7f0e", "best_of_n": "#2ca02c",
                 "weighted_best_of_n": "#9467bd", "borda": "#8c564b", "beam": "#e377c2", "dvts": "#17becf",
                 "lookahead": "#bcbd22", "mcts": "#d62728", "self_refine": "#393b79",
                 "oracle_best_of_n": "#555555"}
SHADES = (0.0, -0.35, 0.35, -0.55)  # mix toward black (<0) or white (>0)


def _digest(text: str) -> int:
    return int(hashlib.sha256(text.encode("utf-8")).hexdigest()[:8], 16)


def color_for(label: str, method_name: str | None = None) -> str:
    """A hex colour for a method label, stable across runs and reports: its registered method's
    hue (`method_name`, else the label up to its first "("), shaded when the label adds to it."""
    name = method_name or label.split("(")[0]
    base = METHOD_COLORS.get(name) or qualitative.Dark24[_digest(name) % len(qualitative.Dark24)]
    if label == name:
        return base
    mix = SHADES[_digest(label) % len(SHADES)]
    target = 255 if mix > 0 else 0
    rgb = [int(base[i:i + 2], 16) for i in (1, 3, 5)]
    return "#" + "".join(f"{round(c + (target - c) * abs(mix)):02x}" for c in rgb)


def with_alpha(color: str, alpha: float) -> str:
    """`#RRGGBB` as an `rgba(...)` string (bands are the curve's colour, translucent)."""
    r, g, b = (int(color[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"
