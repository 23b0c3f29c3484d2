"""MATH-format files, GSM-Symbolic, steps, and the one-line errors when data is missing."""
import json
from pathlib import Path

import pytest

from harness.matrix import build_task
from harness.registry import ConfigError

ROWS = [  # MATH-500's format (problems written for this test)
    {"problem": "What is $\\frac{1}{2}+\\frac{1}{4}$?", "solution": "It is $\\boxed{\\frac{3}{4}}$.",
     "answer": "\\frac{3}{4}", "subject": "Prealgebra", "level": 1, "unique_id": "test/prealgebra/1.json"},
    {"problem": "Solve $x^2=4$ for $x>0$.", "solution": "So $x=\\boxed{2}$.", "subject": "Algebra", "level": 1},
    {"problem": "Find the interval where $x\\ge 1$.", "solution": "$\\boxed{[1,\\infty)}$", "id": "my-3"},
]


@pytest.fixture()
def math_file(tmp_path: Path) -> Path:
    path = tmp_path / "math.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    return path


@pytest.mark.parametrize("name", ["math500", "math", "aime"])
def test_competition_math_from_a_local_file(name: str, math_file: Path) -> None:
    task = build_task(name, {"data": str(math_file)})
    problems = task.problems("test", None, 0)
    assert [p.id for p in problems] == ["test/prealgebra/1.json", "1", "my-3"]
    assert [p.reference for p in problems] == ["\\frac{3}{4}", "2", "[1,\\infty)"]
    assert "\\boxed{}" in problems[0].prompt
    good = ["So the sum is \\boxed{0.75}.", "The answer is $x = 2$.", "\\boxed{[1, \\infty)}"]
    bad = ["\\boxed{3/8}", "Answer: -2", "\\boxed{(1,\\infty)}"]
    assert [v.correct for v in task.check_many([task.extract(g) for g in good], problems)] == [True] * 3
    assert [v.correct for v in task.check_many([task.extract(b) for b in bad], problems)] == [False] * 3


@pytest.mark.parametrize("name", ["math500", "math", "aime", "gsm8k"])
def test_offline_without_data_says_what_to_do(name: str) -> None:
    with pytest.raises(ConfigError, match="offline, set data"):
        build_task(name, {}).problems("test", 5, 0)


def test_missing_answer_is_named(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    path.write_text(json.dumps({"problem": "p", "solution": "no box"}) + "\n")
    with pytest.raises(ConfigError, match="row 0: no `answer`"):
        build_task("math500", {"data": str(path)}).problems("test", None, 0)


def test_gsm_symbolic_is_seeded_and_checks_its_references() -> None:
    task = build_task("gsm_symbolic", {})
    a = task.problems("test", 6, 1)
    assert [p.prompt for p in a] == [p.prompt for p in task.problems("test", 6, 1)]
    assert [p.prompt for p in a] != [p.prompt for p in task.problems("test", 6, 2)]
    verdicts = task.check_many([f"so... The answer is {p.reference}." for p in a], a)
    assert all(v.correct for v in verdicts)
    assert not task.check(str(int(float(a[0].reference)) + 1), a[0]).correct


def test_math_steps_are_paragraphs_testbed_steps_are_lines() -> None:
    """One step definition per task (the separator search stops on), never guessed per text."""
    task = build_task("math500", {"data": "unused"})
    assert task.steps("Step one.\n\nStep two\nstill two.\n\n\\boxed{3}") == ["Step one.", "Step two\nstill two.", "\\boxed{3}"]
    assert task.steps("a\nb\n\n") == ["a\nb"]
    assert build_task("addition", {}).steps("1+2+0=3\n4+5+0=9\nA=93\n") == ["1+2+0=3", "4+5+0=9", "A=93"]
