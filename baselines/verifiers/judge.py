"""`judge`: a policy model asked whether a solution is right (LLM as judge).

The judge sees the problem, the solution and a question (`question` param); it is sampled `n`
times and the score is the fraction of answers that start with "yes". It scores whole
solutions: earlier steps get 0.5. Any policy backend works; its tokens are counted.
"""
from __future__ import annotations

from collections.abc import Sequence

from harness.registry import BACKENDS, VERIFIERS
from harness.types import Cost, Problem

QUESTION = "\nIs the solution above correct? Answer yes or no.\nAnswer:"


@VERIFIERS.register("judge")
class JudgeVerifier:
    """P("yes") of a judge model, estimated from n samples, at the last step."""

    aggregate = "last"

    def __init__(self, task, path: str, *, backend: str = "hf", n: int = 4, question: str = QUESTION,
                 temperature: float = 1.0) -> None:
        self.task, self.n, self.question, self.temperature = task, n, question, temperature
        self.policy = BACKENDS.get(backend)(path)

    def score_many(self, problems: Sequence[Problem], steps: Sequence[Sequence[str]]
                   ) -> tuple[list[list[float]], list[Cost]]:
        prompts = [self.task.prompt(p) + "\n".join(s) + self.question for p, s in zip(problems, steps)]
        outs, costs = self.policy.generate(prompts, n=self.n, temperature=self.temperature, max_tokens=4, seed=0)
        scores = []
        for s, comps in zip(steps, outs):
            yes = sum(c.text.strip().lower().startswith("yes") for c in comps) / len(comps)
            scores.append([0.5] * (len(s) - 1) + [yes] if s else [])
        return scores, costs
