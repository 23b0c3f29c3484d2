"""The nouns of thinkbench (see DESIGN.md): problems, costs, completions, verdicts, attempts."""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any


@dataclass(frozen=True)
class Problem:
    """One question of a task: its prompt, the reference answer (or tests) and free metadata."""

    id: str
    prompt: str | list[dict]
    reference: Any
    meta: dict = field(default_factory=dict)


@dataclass
class Cost:
    """Compute spent by one or more model calls. `Cost + Cost` adds field by field."""

    prompt_tokens: int = 0      # prompt tokens actually computed
    cached_tokens: int = 0      # prompt tokens served from a (prefix) KV cache
    generated_tokens: int = 0
    flops: float = 0.0
    wall_s: float = 0.0

    def __add__(self, other: Cost) -> Cost:
        return Cost(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)})

    def scaled(self, factor: float) -> Cost:
        """This cost multiplied by `factor` (expected cost of a fraction of a pool)."""
        return Cost(**{f.name: getattr(self, f.name) * factor for f in fields(self)})


@dataclass
class Completion:
    """One continuation of a prompt. `finish` is "stop" (EOS or a stop string) or "length";
    `stop_string` is the stop string that ended it (None for EOS or length)."""

    text: str
    tokens: int
    logprob: float | None
    finish: str
    stop_string: str | None = None


@dataclass(frozen=True)
class Verdict:
    """A checker's judgement of one answer."""

    correct: bool
    reason: str = ""


@dataclass
class Attempt:
    """What a method returns for one problem at one budget.

    `correct` is None when the runner should check `answer` with the task; methods that
    estimate an expectation over a sample pool (maj@k, pass@k) fill it with a fraction.
    """

    problem_id: str
    answer: str | None
    cost: Cost
    correct: float | None = None
    traces: list[str] = field(default_factory=list)
    n_samples: int = 0
    n_correct: int | None = None
    error: str | None = None
