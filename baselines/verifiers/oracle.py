"""`oracle`: the task's own checker as a verifier — the upper bound (coverage) of any verifier."""
from __future__ import annotations

from collections.abc import Sequence

from harness.contracts import Cost, Problem, VerifierBase, VerifierConfig
from harness.registry import VERIFIERS


@VERIFIERS.register("oracle", config=VerifierConfig)
class OracleVerifier(VerifierBase):
    """Last step: 1.0 if the answer is right, 0.0 if wrong, 0.5 while there is no answer yet;
    earlier steps 0.5 (the oracle knows outcomes, not steps)."""

    aggregate = "last"

    def __init__(self, task, cfg: VerifierConfig | None = None) -> None:
        self.task = task

    def score_many(self, problems: Sequence[Problem], steps: Sequence[Sequence[str]]
                   ) -> tuple[list[list[float]], list[Cost]]:
        answers = [self.task.extract(self.task.step_separator.join(s)) for s in steps]
        verdicts = self.task.check_many(answers, list(problems))
        scores = [[0.5] * (len(s) - 1) + [0.5 if a is None else float(v.correct)] if s else []
                  for s, a, v in zip(steps, answers, verdicts)]
        return scores, [Cost() for _ in problems]
