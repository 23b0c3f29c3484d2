"""reasoning-gym tasks as `rg:<name>`, seeded, scored by their own scorers; the scorer audit."""
import json

import pytest

from harness.matrix import build_task
from harness.registry import ConfigError

REQUIRED = ["countdown", "knights_knaves", "zebra_puzzles", "mini_sudoku", "propositional_logic",
            "arc_1d", "futoshiki", "maze"]
# The stored `answer` is None for these (many answers are right); a valid example in metadata:
EXAMPLE_KEY = {"graph_color": "possible_answer", "propositional_logic": "example_answer",
               "rubiks_cube": "example_correct_answer"}


@pytest.mark.parametrize("name", REQUIRED)
def test_rg_task_is_seeded_and_its_reference_scores(name: str) -> None:
    task = build_task(f"rg:{name}", {})
    a = task.problems("test", 5, seed=3)
    assert [p.prompt for p in a] == [p.prompt for p in task.problems("test", 5, seed=3)]
    assert [p.prompt for p in a] != [p.prompt for p in task.problems("test", 5, seed=4)]
    assert [p.prompt for p in a] != [p.prompt for p in task.problems("train", 5, seed=3)]
    assert "<answer>" in a[0].prompt
    for p in a:
        reference = p.meta["answer"]
        if name in EXAMPLE_KEY:
            value = p.reference["metadata"][EXAMPLE_KEY[name]]
            reference = json.dumps(value) if isinstance(value, dict) else value
        assert task.check(task.extract(f"thinking...\n<answer>{reference}</answer>"), p).correct, (name, p.id)
        assert not task.check(None, p).correct


@pytest.mark.parametrize("name", ["boxnet", "graph_color", "propositional_logic", "rubiks_cube", "rush_hour"])
def test_scorer_audit_stored_answer_is_none(name: str) -> None:
    task = build_task(f"rg:{name}", {})
    problems = task.problems("test", 5, seed=0)
    assert all(p.meta["answer"] is None for p in problems)
    assert not any(task.check(p.meta["answer"], p).correct for p in problems)
    if name in EXAMPLE_KEY:  # the scorer accepts a valid solution: it is not broken
        for p in problems:
            value = p.reference["metadata"][EXAMPLE_KEY[name]]
            assert task.check(json.dumps(value) if isinstance(value, dict) else value, p).correct


def test_wrong_answers_fail() -> None:
    task = build_task("rg:countdown", {})
    p = task.problems("test", 1, 0)[0]
    assert not task.check("1+1", p).correct
    assert "score" in task.check("1+1", p).reason


def test_dataset_config_and_errors() -> None:
    task = build_task("rg:countdown", {"min_numbers": 3, "max_numbers": 3})
    p = task.problems("test", 3, 0)[0]
    assert len(p.reference["metadata"]["numbers"]) == 3
    with pytest.raises(ConfigError, match="unknown reasoning-gym dataset"):
        build_task("rg:no_such_thing", {})
    with pytest.raises(ConfigError, match="bad dataset config"):
        build_task("rg:countdown", {"no_such_field": 1}).problems("test", 2, 0)
