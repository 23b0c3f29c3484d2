"""Value-model verifiers and the Monte-Carlo PRM trainer on the tiny testbed."""
from itertools import product
from pathlib import Path

import pytest

from baselines.train.prm import ValueModelConfig, mc_labels, step_auroc, train_value_model
from baselines.verifiers.value_model import PRMConfig, ValueModelVerifier
from harness.backends.hf import HFPolicy
from harness.contracts import VerifierBase
from harness.registry import ConfigError
from tasks.math.addition import AdditionTask


@pytest.fixture(scope="module")
def labelled(tiny_ckpt: Path):
    task = AdditionTask(digits=4)
    policy = HFPolicy(tiny_ckpt)
    sols, cost = mc_labels(policy, task, task.problems("train", 4, 0), samples=2, rollouts=3, max_tokens=40)
    return task, sols, cost


def test_mc_labels_are_fractions_and_end_with_the_outcome(labelled) -> None:
    task, sols, cost = labelled
    assert len(sols) >= 4 and cost.generated_tokens > 0
    for s in sols:
        assert len(s.soft) == len(s.steps)
        assert all(v in (0, 1 / 3, 2 / 3, 1) or abs(v * 3 - round(v * 3)) < 1e-9 for v in s.soft)
        assert s.soft[-1] == float(s.correct)


@pytest.mark.parametrize("target", ["prm", "orm"])
def test_trained_value_model_loads_and_scores_every_step(labelled, tiny_ckpt: Path, tmp_path: Path,
                                                         target: str) -> None:
    task, sols, cost = labelled
    out = train_value_model(sols, task, tiny_ckpt, tmp_path / target,
                            ValueModelConfig(hidden=32, layers=1, heads=2, steps=5, batch=4, target=target), cost)
    assert (out / "config.json").is_file() and (out / "thinkbench.json").is_file()
    v = ValueModelVerifier(task, PRMConfig(path=str(out)))
    scores, costs = v.score_many([s.problem for s in sols], [s.steps for s in sols])
    assert [len(sc) for sc in scores] == [len(s.steps) for s in sols]
    assert all(0.0 <= x <= 1.0 for sc in scores for x in sc)
    assert all(c.prompt_tokens > 0 and c.flops > 0 for c in costs)
    # The score of a step depends only on the text up to it (causal model).
    prefix, _ = v.score_many([sols[0].problem], [sols[0].steps[:2]])
    assert prefix[0] == pytest.approx(scores[0][:2], abs=1e-5)


def test_causal_lm_read_at_a_step_tag(tiny_ckpt: Path) -> None:
    task = AdditionTask(digits=4)
    p = task.problems("test", 1, 0)[0]
    v = ValueModelVerifier(task, PRMConfig(path=str(tiny_ckpt), step_tag="#", label_tokens=("+", "-")))
    (scores,), _ = v.score_many([p], [["1+2+0=3", "4+5+0=9"]])
    assert len(scores) == 2 and all(0 < s < 1 for s in scores)
    with pytest.raises(ConfigError, match="step_tag"):
        ValueModelVerifier(task, PRMConfig(path=str(tiny_ckpt)))


def test_aggregates() -> None:
    def score(steps: list[float], how: str) -> float:
        v = VerifierBase()
        v.aggregate = how
        return v.solution_score(steps)

    assert score([0.5, 0.2, 0.9], "min") == 0.2
    assert score([0.5, 0.2, 0.9], "last") == 0.9
    assert score([0.5, 0.5], "prod") == 0.25
    assert score([0.5, 0.2, 0.9], "mean") == pytest.approx(1.6 / 3)
    assert score([], "min") == 0.0
    with pytest.raises(ConfigError, match="aggregate"):  # checked when the matrix is read
        PRMConfig_from_yaml({"path": "x", "aggregate": "max"})


def PRMConfig_from_yaml(params: dict) -> PRMConfig:
    from harness.config import make_config

    return make_config(PRMConfig, params, "m.yaml: methods[0].verifier")


def test_step_auroc_against_pairwise_counting() -> None:
    from baselines.train.prm import LabeledSolution
    from harness.contracts import Problem

    p = Problem("x", "q", "1")
    labels = [[1.0, 0.5, 0.0], [0.0, 0.0], [0.25, 1.0, 1.0, 0.0]]
    sols = [LabeledSolution(p, ["s"] * len(lab), lab, lab[-1] > 0) for lab in labels]
    scores = [[0.9, 0.4, 0.4], [0.4, 0.1], [0.7, 0.8, 0.2, 0.3]]
    pos = [x for sc, lab in zip(scores, labels) for x, y in zip(sc, lab) if y > 0]
    neg = [x for sc, lab in zip(scores, labels) for x, y in zip(sc, lab) if y == 0]
    pairs = [(a > b) + 0.5 * (a == b) for a, b in product(pos, neg)]
    assert step_auroc(scores, sols) == pytest.approx(sum(pairs) / len(pairs))
