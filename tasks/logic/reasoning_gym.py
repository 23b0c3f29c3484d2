"""`rg:<name>`: any reasoning-gym dataset (procedural, seeded, offline) with its own scorer.

`params` are the dataset's own config fields (e.g. `{min_numbers: 3}` for countdown). The
completion's answer is read from `<answer>...</answer>` (reasoning-gym's convention); a problem
is correct when the dataset's `score_answer` gives 1.0 (some give partial credit for format).

Scorer audit (see tests/test_logic.py): for boxnet, graph_color, propositional_logic,
rubiks_cube and rush_hour the stored `answer` is None, because many answers are right and the
scorer checks a proposed one; scoring None gives 0.0, not a bug. Where the metadata carries
a valid example (graph_color `possible_answer`, propositional_logic `example_answer`,
rubiks_cube `example_correct_answer`) it scores 1.0; boxnet and rush_hour carry none.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from harness.contracts import Problem, TaskBase, Verdict
from harness.registry import TASKS, ConfigError

INSTRUCTION = "\n\nThink step by step, then give only the final answer between <answer> and </answer>."
ANSWER_RE = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)
SPLIT_SEED = {"test": 0, "train": 1_000_003}  # disjoint seeds per split


def _rg():
    try:
        import reasoning_gym
    except ImportError:
        raise ConfigError("rg tasks need the `reasoning-gym` package") from None
    return reasoning_gym


@dataclass
class ReasoningGymTask(TaskBase):
    """A reasoning-gym dataset."""

    dataset: str = ""
    config: dict = field(default_factory=dict)
    name: str = ""

    def __post_init__(self) -> None:
        self.name = f"rg:{self.dataset}"
        factory = _rg().factory
        if self.dataset not in factory.DATASETS:
            raise ConfigError(f"unknown reasoning-gym dataset {self.dataset!r} "
                              f"({len(factory.DATASETS)} known, e.g. countdown, maze, zebra_puzzles)")
        self._score = _rg().get_score_answer_fn(self.dataset)

    splits = tuple(SPLIT_SEED)
    procedural = True  # problems are generated: a matrix must say how many (n_problems)

    def problems(self, split: str, n: int | None, seed: int) -> list[Problem]:
        if split not in SPLIT_SEED:
            raise ConfigError(f"{self.name}: unknown split {split!r} (known: test, train)")
        if n is None:
            raise ConfigError(f"{self.name}: a procedural task needs n_problems")
        try:
            ds = _rg().create_dataset(self.dataset, seed=seed + SPLIT_SEED[split], size=n, **self.config)
        except (TypeError, ValueError, AssertionError) as e:
            raise ConfigError(f"{self.name}: bad dataset config {self.config} ({e})") from None
        return [Problem(id=f"{self.dataset}-{seed}-{split}-{i}", prompt=entry["question"] + INSTRUCTION,
                        reference=entry, meta={"answer": entry["answer"]}) for i, entry in enumerate(ds)]

    def extract(self, completion: str) -> str | None:
        found = ANSWER_RE.findall(completion)
        return found[-1].strip() if found else None

    def check(self, answer: str | None, problem: Problem) -> Verdict:
        score = float(self._score(answer, problem.reference))
        return Verdict(score >= 1.0, f"score {score:g}")


@TASKS.register_family("rg")
def reasoning_gym_task(dataset: str):
    """Any reasoning-gym dataset (106 offline generators), scored by its own scorer."""

    def build(**config: Any) -> ReasoningGymTask:
        return ReasoningGymTask(dataset=dataset, config=config)

    build.__doc__ = f"reasoning-gym dataset {dataset!r} scored by its own scorer."
    return build
