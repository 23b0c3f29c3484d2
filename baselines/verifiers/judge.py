"""`judge`: a policy model asked whether a solution is right (LLM as judge).

The judge sees the problem, the solution and a question (`question` param); it is sampled `n`
times and the score is the fraction of answers that start with "yes". It scores whole
solutions: earlier steps get 0.5. Any policy backend works; its tokens are counted.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from harness.contracts import Cost, Problem, VerifierBase, VerifierConfig
from harness.registry import BACKENDS, VERIFIERS

QUESTION = "\nIs the solution above correct? Answer yes or no.\nAnswer:"


@dataclass(frozen=True)
class JudgeConfig(VerifierConfig):
    path: str                   # the judge's checkpoint
    backend: str = "hf"
    n: int = 4                  # judge samples per solution
    question: str = QUESTION
    temperature: float = 1.0

    def validate(self) -> None:
        if self.n < 1 or self.temperature < 0:
            raise ValueError("n must be >= 1 and temperature >= 0")


@VERIFIERS.register("judge", config=JudgeConfig)
class JudgeVerifier(VerifierBase):
    """P("yes") of a judge model, estimated from n samples, at the last step."""

    aggregate = "last"

    def __init__(self, task, cfg: JudgeConfig) -> None:
        self.task, self.n, self.question, self.temperature = task, cfg.n, cfg.question, cfg.temperature
        self.policy = BACKENDS.get(cfg.backend)(cfg.path)

    def reset_cache(self) -> None:
        """The judge's policy forgets its prefixes: a cell's cost never depends on order."""
        self.policy.reset_cache()

    def score_many(self, problems: Sequence[Problem], steps: Sequence[Sequence[str]]
                   ) -> tuple[list[list[float]], list[Cost]]:
        prompts = [self.task.prompt(p) + self.task.step_separator.join(s) + self.question
                   for p, s in zip(problems, steps)]
        outs, costs = self.policy.generate(prompts, n=self.n, temperature=self.temperature, max_tokens=4, seed=0)
        scores = []
        for s, comps in zip(steps, outs):
            yes = sum(c.text.strip().lower().startswith("yes") for c in comps) / len(comps)
            scores.append([0.5] * (len(s) - 1) + [yes] if s else [])
        return scores, costs
