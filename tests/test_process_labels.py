"""Exact process labels (Task.step_labels) and the PRM trainer's `labels: exact` path."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import pytest

from baselines.train import prm
from baselines.train.prm import LabeledSolution, ValueModelConfig, ValueModelTrainConfig, exact_labels
from baselines.verifiers.value_model import PRMConfig, ValueModelVerifier
from harness.config import make_config
from harness.contracts import Problem, TaskBase, Verdict
from harness.registry import TRAINERS, ConfigError
from tasks.math.addition import AdditionTask, solution_text

TASK = AdditionTask(digits=4)
# 4821 + 1779 = 6600: every column carries.
P = Problem("add4-4821+1779", "4821+1779\n", "6600", {"a": 4821, "b": 1779})
RIGHT = ["1+9+0=10", "2+7+1=10", "8+7+1=16", "4+1+1=6", "A=6600"]


def labels(steps: list[str], problem: Problem = P) -> list[bool]:
    return TASK.step_labels(problem, steps)


def test_a_correct_solution_is_right_at_every_step() -> None:
    assert TASK.steps(solution_text(4821, 1779, 4)) == RIGHT
    assert labels(RIGHT) == [True] * 5
    for a, b in ((1000, 1000), (9999, 9999), (5050, 4950)):
        p = Problem(f"x{a}", f"{a}+{b}\n", str(a + b), {"a": a, "b": b})
        assert labels(TASK.steps(solution_text(a, b, 4)), p) == [True] * 5
    assert labels(RIGHT[:3]) == [True] * 3  # an unfinished but right prefix
    assert labels([]) == []


def test_a_wrong_step_dooms_every_step_after_it() -> None:
    # The teacher's systematic slip: forget the carry after a column sum of 10.
    forgot = ["1+9+0=10", "2+7+0=9", "8+7+0=15", "4+1+1=6", "A=6590"]
    assert labels(forgot) == [True, False, False, False, False]
    # A miswritten sum (noise); the next lines are locally right (true digits, true carry)
    # but the prefix is already doomed, so they are wrong too.
    miswritten = ["1+9+0=10", "2+7+1=11", "8+7+1=16", "4+1+1=6", "A=6610"]
    assert labels(miswritten) == [True, False, False, False, False]
    # Right columns, wrong answer line.
    assert labels(RIGHT[:4] + ["A=6601"]) == [True] * 4 + [False]
    # The right answer reached through a wrong column is still a wrong process.
    assert labels(["1+9+0=11"] + RIGHT[1:]) == [False] * 5


@pytest.mark.parametrize("steps,expected", [
    (["1+9+0=10", "2+7+1=10", "8+7+1=16", "A=6600"], [True, True, True, False]),  # a column skipped
    (RIGHT + ["A=6600"], [True] * 5 + [False]),                                   # past the answer
    (["1+9=10"] + RIGHT[1:], [False] * 5),                                        # malformed
    (["9+1+0=10"] + RIGHT[1:], [False] * 5),                                      # operands swapped
    ([" 1+9+0=10 "] + RIGHT[1:], [True] * 5),                                     # whitespace is not content
])
def test_malformed_missing_and_extra_lines(steps: list[str], expected: list[bool]) -> None:
    assert labels(steps) == expected


def test_operands_come_from_the_prompt_without_meta() -> None:
    assert labels(RIGHT, Problem("x", "4821+1779\n", "6600", {})) == [True] * 5


@dataclass
class NoStepTask(TaskBase):
    """A task with a checker but no step checker (TaskBase's default step_labels)."""

    name: str = "nosteps"

    def problems(self, split: str, n: int | None, seed: int) -> list[Problem]:
        return [Problem(f"p{i}", "q", "1") for i in range(n or 1)]

    def extract(self, completion: str) -> str | None:
        return completion.strip() or None

    def check(self, answer: str | None, problem: Problem) -> Verdict:
        return Verdict(answer == problem.reference)


def test_exact_labels_need_a_task_that_checks_steps(tmp_path: Path) -> None:
    task = NoStepTask()
    assert task.step_labels(Problem("p", "q", "1"), ["a"]) is None
    with pytest.raises(ConfigError, match="task 'nosteps' cannot"):
        exact_labels(task, [LabeledSolution(Problem("p", "q", "1"), ["a"], [0.0], False)])
    # The trainer refuses before it loads a policy or samples anything.
    trainer = TRAINERS.get("prm")
    with pytest.raises(ConfigError, match="task 'nosteps' cannot"):
        trainer.train(tmp_path / "no-such-policy", task, 1, 0, ValueModelTrainConfig(labels="exact"),
                      tmp_path / "out")


def test_labels_is_a_checked_config_field() -> None:
    assert ValueModelConfig().labels == "mc"  # today's behaviour is the default
    assert make_config(ValueModelConfig, {"labels": "exact"}, "train").labels == "exact"
    with pytest.raises(ConfigError, match=r"train\.labels: expected one of 'mc', 'exact', got 'true'"):
        make_config(ValueModelConfig, {"labels": "true"}, "train")
    with pytest.raises(ValueError, match="labels must be one of"):
        ValueModelConfig(labels="oracle")


def test_exact_trainer_spends_no_rollouts_and_its_prm_loads_and_scores(tiny_ckpt: Path, tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    def no_rollouts(*args, **kwargs):
        raise AssertionError("labels: exact must not roll out")

    monkeypatch.setattr(prm, "rollout_labels", no_rollouts)
    cfg = ValueModelTrainConfig(problems=3, samples=2, labels="exact", eval_problems=3, batch=4)
    result = TRAINERS.get("prm").train(tiny_ckpt, TASK, 3, 0, cfg, tmp_path / "prm-exact")
    info = json.loads((result.path / "thinkbench.json").read_text())
    assert info["config"]["labels"] == "exact" and info["config"]["steps"] == 3
    assert info["label_cost"]["generated_tokens"] > 0  # the sampling of solutions is still paid
    auroc = info["heldout_auroc_exact"]  # nan when the few held-out steps are all one class
    assert math.isnan(auroc) or 0.0 <= auroc <= 1.0
    assert info["heldout_auroc"] == auroc or (math.isnan(auroc) and math.isnan(info["heldout_auroc"]))
    added = info["stage_flops"] + info["label_cost"]["flops"]
    assert result.cost.flops == pytest.approx(added) and info["post_train_flops"] == pytest.approx(added)
    v = ValueModelVerifier(TASK, PRMConfig(path=str(result.path)))
    (scores,), _ = v.score_many([P], [RIGHT])
    assert len(scores) == 5 and all(0.0 < s < 1.0 for s in scores)


def test_exact_labels_cost_only_the_sampling_mc_labels_add_rollouts(tiny_ckpt: Path) -> None:
    from harness.backends.hf import HFPolicy

    policy = HFPolicy(tiny_ckpt)
    problems = TASK.problems("train", 3, 0)
    sampled, sample_cost = prm.sample_solutions(policy, TASK, problems, samples=2, max_tokens=40)
    exact = exact_labels(TASK, sampled)
    mc, rollout_cost = prm.rollout_labels(policy, TASK, sampled, rollouts=2, max_tokens=40)
    assert rollout_cost.generated_tokens > 0 and sample_cost.generated_tokens > 0
    assert [s.steps for s in exact] == [s.steps for s in mc] == [s.steps for s in sampled]
    for e, m in zip(exact, mc):
        assert set(e.soft) <= {0.0, 1.0} and e.soft == sorted(e.soft, reverse=True)  # wrong stays wrong
        assert e.soft == [float(x) for x in TASK.step_labels(e.problem, e.steps)]
        assert m.soft[-1] == float(m.correct)


def test_cli_trains_an_exact_prm_next_to_its_name(tiny_ckpt: Path, tmp_path: Path, capsys) -> None:
    from harness.cli import main

    out = tmp_path / "prm-exact"
    code = main(["train-verifier", "--kind", "prm", "--labels", "exact", "--policy", str(tiny_ckpt),
                 "--problems", "2", "--samples", "2", "--steps", "2", "--eval-problems", "2", "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 0 and captured.out.strip().splitlines()[-1] == str(out)
    assert "trained prm on exact labels" in captured.err and "against exact step correctness" in captured.err
    from harness.cli.train_verifier import default_name

    assert default_name("prm", "exact") == "prm-exact" and default_name("prm", "mc") == "prm"


def test_testbed_alias_names_the_exact_prm_builder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.checkpoint import resolve_checkpoint

    monkeypatch.setenv("THINKBENCH_CACHE", str(tmp_path))
    with pytest.raises(ConfigError, match=r"run `thinkbench train-verifier --kind prm --labels exact` first"):
        resolve_checkpoint("testbed/prm-exact")


def test_benchmark_core_on_tiny_sizes(tiny_ckpt: Path) -> None:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from process_labels import THRESHOLDS, agreement, label_both, outcome_vs_process

    from harness.backends.hf import HFPolicy

    sets = label_both(HFPolicy(tiny_ckpt), TASK, TASK.problems("train", 3, 0), samples=2, rollouts=2, seed=0,
                      max_tokens=40)
    rows = [agreement(sets, r, th) for r, th in THRESHOLDS.items()]
    n = sum(len(s.steps) - 1 for s in sets.mc)
    for a in rows:
        assert a.steps == n
        # agreement + disagreements account for every step
        assert round(a.agreement * n) + a.false_pos + a.false_neg == n
    # A stricter reading of the MC fraction can only turn positives into negatives.
    assert rows[0].false_pos >= rows[1].false_pos >= rows[2].false_pos
    assert rows[0].false_neg <= rows[1].false_neg <= rows[2].false_neg
    lucky, unlucky = outcome_vs_process(sets)
    assert 0 <= lucky + unlucky <= len(sets.mc)


def test_within_problem_auroc_ignores_between_problem_differences() -> None:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from process_labels import within_problem_auroc

    easy, hard = Problem("e", "q", "1"), Problem("h", "q", "1")
    sols = [LabeledSolution(easy, ["s"], [1.0], True), LabeledSolution(easy, ["s"], [0.0], False),
            LabeledSolution(hard, ["s"], [1.0], True), LabeledSolution(hard, ["s"], [0.0], False)]
    # Every easy solution outscores every hard one (a pooled AUROC of 0.75), but within each
    # problem the wrong solution wins: reranking would always pick it.
    assert within_problem_auroc([0.8, 0.9, 0.1, 0.2], sols) == 0.0
    assert within_problem_auroc([0.9, 0.8, 0.2, 0.1], sols) == 1.0
    assert within_problem_auroc([0.5, 0.5, 0.5, 0.5], sols) == 0.5
