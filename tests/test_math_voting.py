"""Voting keys agree with the math checker: equivalent answers are one vote (issue 8, defect 8)."""
from collections.abc import Sequence

import pytest

from harness.contracts import Completion, Cost, PolicyBase, Problem, Sampling, TaskBase, Verdict
from harness.matrix import build_task
from harness.methods import SamplePool, SolveContext, judge_many
from harness.registry import METHODS


class FixedPolicy(PolicyBase):
    """Returns the same n completions for every prompt, in order."""

    params = 1

    def __init__(self, texts: Sequence[str]) -> None:
        self.texts = list(texts)

    def generate(self, prompts, *, n=1, temperature=0.0, top_p=1.0, max_tokens=64, stop=(), seed=None):
        assert n == len(self.texts)
        return ([[Completion(t, 1, 0.0, "stop") for t in self.texts] for _ in prompts],
                [Cost(generated_tokens=n) for _ in prompts])


def vote(texts: list[str], reference: str, method: str = "majority") -> tuple[float, str | None]:
    """maj@n over a pool of exactly `texts` for one MATH-style problem: (correct, answer)."""
    task = build_task("math500", {"data": "unused"})
    problem = Problem(id="p", prompt="Compute it.", reference=reference)
    ctx = SolveContext(FixedPolicy(texts), task, 0, Sampling(), pool=SamplePool(len(texts), 0, Sampling()),
                       config=METHODS.config(method)())
    (attempt,) = METHODS.get(method).solve(ctx, [problem], len(texts))
    return attempt.correct, attempt.answer


def test_four_forms_of_one_half_are_one_vote() -> None:
    # All four check correct against 1/2; with one key each, the wrong "3" (twice) won the vote.
    texts = ["\\boxed{\\frac{1}{2}}", "\\boxed{\\dfrac{1}{2}}", "\\boxed{1/2}", "\\boxed{0.5}",
             "\\boxed{3}", "\\boxed{3}"]
    correct, answer = vote(texts, "\\frac{1}{2}")
    assert correct == 1.0
    assert answer == "\\frac{1}{2}"


@pytest.mark.parametrize("forms,value", [
    (["\\tfrac12", "-\\frac{-1}{2}", "\\frac{2}{4}", "0.50", "$\\frac{1}{2}$"], "1/2"),
    (["2\\frac{1}{2}", "2 1/2", "\\frac{5}{2}", "2.5"], "5/2"),
    (["-\\frac{3}{4}", "\\frac{-3}{4}", "-0.75"], "-3/4"),
])
def test_numeric_keys_are_exact_values(forms: list[str], value: str) -> None:
    task = build_task("math500", {"data": "unused"})
    assert {task.canonical(f) for f in forms} == {value}


def test_non_numeric_answers_cluster_by_the_checker() -> None:
    # Not plain numbers: the checker (math-verify) decides, and the keys follow it.
    texts = ["\\boxed{\\frac{\\sqrt{2}}{2}}", "\\boxed{\\frac{1}{\\sqrt{2}}}", "\\boxed{\\sqrt{2}/2}",
             "\\boxed{\\sqrt{3}}", "\\boxed{\\sqrt{3}}"]
    task = build_task("math500", {"data": "unused"})
    problem = Problem(id="p", prompt="Compute it.", reference="\\frac{\\sqrt2}{2}")
    samples = judge_many(task, [problem] * len(texts), [Completion(t, 1, 0.0, "stop") for t in texts])
    assert [s.correct for s in samples] == [True, True, True, False, False]
    assert len({s.key for s in samples[:3]}) == 1 and samples[3].key == samples[4].key != samples[0].key
    assert vote(texts, "\\frac{\\sqrt2}{2}")[0] == 1.0


class BrokenKeys(TaskBase):
    """A task whose voting key raises on one odd answer."""

    name = "broken"

    def extract(self, completion: str) -> str | None:
        return completion

    def check(self, answer: str | None, problem: Problem) -> Verdict:
        return Verdict(answer == problem.reference)

    def canonical(self, answer: str) -> str:
        if answer == "inf":
            raise OverflowError("cannot convert Infinity to integer ratio")
        return answer.strip()


def test_a_failing_voting_key_stays_on_its_sample() -> None:
    problem = Problem(id="p", prompt="", reference="7")
    samples = judge_many(BrokenKeys(), [problem] * 3, [Completion(t, 1, 0.0, "stop") for t in ("7", "inf", " 7")])
    assert [s.key for s in samples] == ["7", "inf", "7"]
    assert [s.correct for s in samples] == [True, False, False]
    assert samples[1].error and "OverflowError" in samples[1].error
    assert samples[0].error is None and samples[2].error is None


def test_math_canonical_never_raises_on_odd_numbers() -> None:
    task = build_task("math500", {"data": "unused"})
    for odd in ("inf", "infinity", "1e5000", "1e10000000", "nan"):
        assert task.canonical(odd) == odd
