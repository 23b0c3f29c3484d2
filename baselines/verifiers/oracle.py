"""`oracle`: the task's own checker as a verifier — the upper bound (coverage) of any verifier."""
from __future__ import annotations

from collections.abc import Sequence

from harness.registry import VERIFIERS
from harness.types import Cost, Problem


@VERIFIERS.register("oracle")
class OracleVerifier:
    """1.0 at the last step when the solution's answer is right, else 0.0; earlier steps 0.5."""

    aggregate = "last"

    def __init__(self, task) -> None:
        self.task = task

    def score_many(self, problems: Sequence[Problem], steps: Sequence[Sequence[str]]
                   ) -> tuple[list[list[float]], list[Cost]]:
        answers = [self.task.extract("\n".join(s)) for s in steps]
        verdicts = (self.task.check_many(answers, list(problems)) if hasattr(self.task, "check_many")
                    else [self.task.check(a, p) for a, p in zip(answers, problems)])
        scores = [[0.5] * (len(s) - 1) + [float(v.correct)] if s else [] for s, v in zip(steps, verdicts)]
        return scores, [Cost() for _ in problems]
