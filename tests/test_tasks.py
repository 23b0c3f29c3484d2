import json
from pathlib import Path

import numpy as np
import pytest

from baselines.train.testbed import TestbedConfig, teacher_solution
from harness.matrix import build_task
from harness.registry import ConfigError
from tasks.math.addition import AdditionTask, in_test_split, solution_text
from tasks.math.extract import extract_math
from tasks.math.gsm8k import BUILTIN, GSM8KTask, reference_answer

SHIPPED = BUILTIN["builtin:gsm8k-test-100"]


def test_addition_is_seeded_and_splits_are_disjoint() -> None:
    task = AdditionTask(digits=3)
    a = task.problems("test", 50, seed=1)
    assert [p.id for p in a] == [p.id for p in task.problems("test", 50, seed=1)]
    assert [p.id for p in a] != [p.id for p in task.problems("test", 50, seed=2)]
    assert len({p.id for p in a}) == 50
    assert all(in_test_split(p.meta["a"], p.meta["b"]) for p in a)
    train = task.problems("train", 200, seed=1)
    assert not any(in_test_split(p.meta["a"], p.meta["b"]) for p in train)
    assert all(100 <= p.meta["a"] < 1000 for p in a + train)


def test_addition_solution_checks_and_steps() -> None:
    task = AdditionTask(digits=4)
    for p in task.problems("test", 30, seed=0):
        text = solution_text(p.meta["a"], p.meta["b"], 4)
        assert task.check(task.extract(text), p).correct
        assert len(task.steps(text)) == 5
    p = task.problems("test", 1, seed=0)[0]
    assert not task.check(task.extract("1+2+0=3\nA=3\n"), p).correct
    assert task.extract("no answer line") is None
    assert task.check(None, p).reason == "no answer found"
    assert task.extract("A=12\nA=0034\n") == "0034"


def test_addition_worked_example() -> None:
    assert solution_text(4821, 1779, 4) == "1+9+0=10\n2+7+1=10\n8+7+1=16\n4+1+1=6\nA=6600\n"


def test_teacher_is_consistent_and_exact_without_slips() -> None:
    task = AdditionTask(digits=4)
    rng = np.random.default_rng(0)
    clean = TestbedConfig(forget_p=0.0, slip_p=0.0)
    noisy = TestbedConfig()
    wrong = 0
    for p in task.problems("train", 300, seed=0):
        a, b = p.meta["a"], p.meta["b"]
        assert teacher_solution(a, b, clean, rng) == solution_text(a, b, 4)
        text = teacher_solution(a, b, noisy, rng)
        wrong += not task.check(task.extract(text), p).correct
    # The noisy teacher is wrong often but not always (the testbed's plateau comes from it).
    assert 0.3 < wrong / 300 < 0.8


def test_addition_bad_config() -> None:
    with pytest.raises(ConfigError, match="digits"):
        AdditionTask(digits=0)
    with pytest.raises(ConfigError, match="split"):
        AdditionTask().problems("validation", 3, 0)
    with pytest.raises(ConfigError, match=r"unknown field 'digit' \(known: digits\)"):
        build_task("addition", {"digit": 3})


def test_gsm8k_shipped_rows_all_have_numeric_references() -> None:
    task = GSM8KTask(data="builtin:gsm8k-test-100")
    problems = task.problems("test", None, seed=0)
    assert len(problems) == 100
    assert problems[0].id == "gsm8k-test-473" and problems[0].reference == "10"
    for p in problems:
        # GSM8K's own solution, run through our extraction, must check as correct.
        assert task.check(task.extract(p.meta["solution"]), p).correct, p.id
        assert "Question: " in task.prompt(p)


def test_gsm8k_subset_is_seeded() -> None:
    task = GSM8KTask(data=str(SHIPPED))
    assert [p.id for p in task.problems("test", 10, 3)] == [p.id for p in task.problems("test", 10, 3)]
    assert len(task.problems("test", 10, 3)) == 10


@pytest.mark.parametrize("completion,expected,rule", [
    ("so she has 5 + 3 = 8 apples.\n#### 8", "8", "hash"),
    ("The answer is 1,000. That is all", "1,000", "answer_is"),
    ("The final answer is $42", "$42", "answer_is"),
    ("First 12, then 7 more, total 19 apples", "19", "last_number"),
    ("#### 3\nbut later I wrote 5", "3", "hash"),
    ("Answer: 17", "17", "answer_colon"),
    ("so \\boxed{12} and the answer is 13", "12", "boxed"),
    ("nothing numeric", None, "none"),
])
def test_gsm8k_extraction_rules(completion: str, expected: str | None, rule: str) -> None:
    task = GSM8KTask(data=str(SHIPPED))
    assert task.extract(completion) == expected
    assert extract_math(completion).rule == rule == task.extract_rule(completion)


def test_gsm8k_numeric_equivalence() -> None:
    task = GSM8KTask(data=str(SHIPPED))
    p = next(p for p in task.problems("test", None, 0) if p.reference == "10")
    for ok in ("10", "10.0", "$10", "10.00"):
        assert task.check(ok, p).correct
    for bad in ("100", "1", "ten", None):
        assert not task.check(bad, p).correct


def test_gsm8k_reference_parsing() -> None:
    assert reference_answer("blah\n#### 1,234") == "1234"
    with pytest.raises(ValueError):
        reference_answer("no marker")


def test_gsm8k_file_errors_name_the_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"question": "q", "answer": "#### 1"}) + "\n{not json\n")
    with pytest.raises(ConfigError, match=r"bad.jsonl:2: not valid JSON"):
        GSM8KTask(data=str(bad)).problems("test", None, 0)
    missing = tmp_path / "missing.jsonl"
    with pytest.raises(ConfigError, match="not found"):
        GSM8KTask(data=str(missing)).problems("test", None, 0)
    nofield = tmp_path / "nofield.jsonl"
    nofield.write_text(json.dumps({"question": "q"}) + "\n")
    with pytest.raises(ConfigError, match=r"nofield.jsonl:1: field 'answer'"):
        GSM8KTask(data=str(nofield)).problems("test", None, 0)
