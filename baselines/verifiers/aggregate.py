"""How per-step scores become one solution score (a parameter, never hard-coded)."""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from harness.registry import ConfigError

AGGREGATES: dict[str, Callable[[Sequence[float]], float]] = {
    "last": lambda s: s[-1],
    "min": min,
    "prod": lambda s: math.prod(s),
    "mean": lambda s: sum(s) / len(s),
}


def aggregate(scores: Sequence[float], how: str) -> float:
    """One score for a solution from its step scores (0.0 for an empty solution)."""
    if how not in AGGREGATES:
        raise ConfigError(f"unknown aggregate {how!r} (known: {', '.join(AGGREGATES)})")
    return AGGREGATES[how](scores) if scores else 0.0
