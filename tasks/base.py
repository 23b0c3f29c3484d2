"""The task contract (DESIGN.md: Task) and the defaults most tasks share."""
from __future__ import annotations

from typing import Protocol, runtime_checkable

from harness.types import Problem, Verdict


@runtime_checkable
class Task(Protocol):
    """A named source of problems plus answer extraction and checking."""

    name: str

    def problems(self, split: str, n: int | None, seed: int) -> list[Problem]: ...
    def prompt(self, problem: Problem) -> str: ...
    def extract(self, completion: str) -> str | None: ...
    def check(self, answer: str | None, problem: Problem) -> Verdict: ...
    def steps(self, completion: str) -> list[str]: ...
    def canonical(self, answer: str) -> str: ...


class TaskBase:
    """Defaults: the problem's prompt as is, one reasoning step per non-empty line."""

    name: str = ""

    def prompt(self, problem: Problem) -> str:
        return problem.prompt if isinstance(problem.prompt, str) else problem.prompt[-1]["content"]

    def steps(self, completion: str) -> list[str]:
        return [line for line in completion.split("\n") if line.strip()]

    def canonical(self, answer: str) -> str:
        """The key answers are grouped by when voting: equal keys are the same answer."""
        return answer.strip()
