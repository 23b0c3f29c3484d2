"""What the math tasks share: answer extraction with its rule, math-verify equivalence, steps."""
from __future__ import annotations

import re

from harness.contracts import Problem, TaskBase, Verdict
from harness.registry import ConfigError
from tasks.math.equivalence import default_checker, strip_decorations
from tasks.math.extract import extract_math
from tasks.math.numbers import canonical_number

PERCENT_RE = re.compile(r"percent|%")


class MathTask(TaskBase):
    """Extraction: boxed, "The answer is", "Answer:", "####", last number. Equality: numbers
    exactly, else math-verify. 50% = 0.5 only for problems whose meta says `percent`.
    A step is a paragraph (PRM800K, search-and-learn): chains of thought break lines inside steps."""

    step_separator = "\n\n"

    def extract(self, completion: str) -> str | None:
        return extract_math(completion).answer

    def extract_rule(self, completion: str) -> str:
        """Which extraction rule fired (recorded with verdicts)."""
        return extract_math(completion).rule

    def check(self, answer: str | None, problem: Problem) -> Verdict:
        return self.check_many([answer], [problem])[0]

    def check_many(self, answers: list[str | None], problems: list[Problem]) -> list[Verdict]:
        """Batched equality (one call to the math-verify worker for the undecided pairs)."""
        checker = default_checker()
        verdicts: list[Verdict | None] = [Verdict(False, "no answer found") if a is None else None for a in answers]
        for percent in (False, True):
            idx = [i for i, (a, p) in enumerate(zip(answers, problems))
                   if verdicts[i] is None and bool(p.meta.get("percent")) == percent]
            equal = checker.equal_many([(answers[i], str(problems[i].reference)) for i in idx], percent)
            for i, ok in zip(idx, equal):
                verdicts[i] = Verdict(ok, "equal" if ok else f"expected {problems[i].reference}")
        return verdicts

    def canonical(self, answer: str) -> str:
        return canonical_number(strip_decorations(answer)[0])


def load_hf_rows(task: str, name: str, config: str | None, split: str) -> list[dict]:
    """Rows of an HF dataset (needs `datasets` and a network); offline, a one-line error."""
    try:
        from datasets import load_dataset

        return [dict(r) for r in load_dataset(name, config, split=split)]
    except Exception as e:  # noqa: BLE001 - any failure means "not available here"
        raise ConfigError(f"{task}: no `data` file given and the HF dataset {name} could not be loaded "
                          f"({type(e).__name__}); offline, set data: PATH.jsonl") from None
