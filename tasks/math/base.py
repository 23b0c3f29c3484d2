"""What the math tasks share: answer extraction with its rule, math-verify equivalence, steps."""
from __future__ import annotations

import re

from harness.contracts import Problem, TaskBase, Verdict
from tasks.math.equivalence import as_number, default_checker, strip_decorations
from tasks.math.extract import extract_math
from tasks.math.numbers import fraction_key
from tasks.hub import load_hf_rows  # noqa: F401 - the math tasks' loader (tasks.hub)

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
                reference = str(problems[i].reference)
                slow = not ok and checker.timed_out(answers[i], reference)
                verdicts[i] = Verdict(ok, "equal" if ok else f"expected {reference}" + (
                    f" (the check timed out after {checker.timeout_s:g} s)" if slow else ""))
        return verdicts

    def canonical(self, answer: str) -> str:
        """A number's exact value ("\\dfrac{1}{2}", "1/2", "0.5" -> "1/2"), else the stripped text."""
        value = as_number(answer)[0]
        return fraction_key(value) if value is not None else strip_decorations(answer)[0]

    def voting_keys(self, answers: list[str | None], problem: Problem) -> list[str | None]:
        """Keys that agree with `check`: numbers by exact value; any other answer takes the key
        of the first earlier cluster whose first answer the checker finds equal to it (and that
        has the same verdict, so a cluster never mixes right and wrong), else starts a cluster.
        The checker's cache makes the repeated comparisons cheap."""
        checker = default_checker()
        percent = bool(problem.meta.get("percent"))
        keys: list[str | None] = [None] * len(answers)
        texts: dict[str, str] = {}  # stripped text of a non-numeric answer -> its key
        pending: list[int] = []
        for i, a in enumerate(answers):
            if a is None:
                continue
            value = as_number(a)[0]
            if value is not None:
                keys[i] = fraction_key(value)
            else:
                pending.append(i)
        if not pending:
            return keys
        firsts: dict[str, str] = {}  # cluster key -> its first answer, in pool order
        for k, a in zip(keys, answers):
            if k is not None:
                firsts.setdefault(k, a)
        distinct = list(dict.fromkeys([*firsts.values(), *(answers[i] for i in pending)]))
        right = dict(zip(distinct, (v.correct for v in self.check_many(distinct, [problem] * len(distinct)))))
        for i in pending:
            text = strip_decorations(answers[i])[0]
            if text not in texts:
                candidates = [k for k, first in firsts.items() if right[first] == right[answers[i]]]
                equal = checker.equal_many([(answers[i], firsts[k]) for k in candidates], percent)
                texts[text] = next((k for k, ok in zip(candidates, equal) if ok), text)
                firsts.setdefault(texts[text], answers[i])
            keys[i] = texts[text]
        return keys
