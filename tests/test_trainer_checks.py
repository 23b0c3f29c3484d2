"""Trainer knobs are used or refused at read time, the value-model trainer's cost adds up as a
policy trainer's does, and the trainer cache key covers the trainer's code (issue 18, items 10
and 12)."""
from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
from safetensors.torch import load_file

from harness.checkpoint import read_info
from harness.config import make_config
from harness.contracts import TrainerConfig
from harness.matrix import parse_matrix
from harness.registry import TRAINERS, ConfigError
from harness.trained import TrainSpec, ensure_trained, trainer_code
from tasks.math.addition import AdditionTask


@pytest.mark.parametrize("params,needle", [
    ({"teacher": "/no/such/dir"}, "teacher: not used with source: gold"),
    ({"samples": 4, "temperature": 0.5}, "samples, temperature: not used with source: gold"),
    ({"search": "best_of_n", "verifier": "oracle"}, "search, verifier: not used with source: gold"),
    ({"source": "samples", "teacher": "/no/such/dir"}, "checkpoint '/no/such/dir': no such directory"),
])
def test_sft_refuses_what_its_mode_does_not_use(params: dict, needle: str) -> None:
    with pytest.raises(ConfigError, match="m.yaml: train.trainers\\[0\\].params: " + needle.replace("(", "\\(")):
        make_config(TRAINERS.config("sft"), params, "m.yaml: train.trainers[0].params")
    assert make_config(TRAINERS.config("sft"), {"source": "samples", "samples": 4, "temperature": 0.5},
                       "sft").samples == 4  # the same knobs are the samples mode's own


@pytest.mark.parametrize("name", ["prm", "orm"])
def test_the_value_model_trainer_takes_no_steps_or_seed_and_a_shape_only_from_scratch(name: str) -> None:
    cfg = TRAINERS.config(name)
    for knob in ("steps", "seed"):  # the trainer's budget and seed: overwriting them was silent
        with pytest.raises(ConfigError, match=f"unknown field '{knob}'"):
            make_config(cfg, {knob: 5}, name)
    with pytest.raises(ConfigError, match="hidden, heads: used only with init: scratch"):
        make_config(cfg, {"hidden": 32, "heads": 2}, name)
    assert make_config(cfg, {"init": "scratch", "hidden": 32}, name).training(7, 3).hidden == 32


def test_a_matrix_refuses_trainer_knobs_in_the_wrong_mode(tmp_path: Path) -> None:
    doc = {"tasks": [{"name": "addition", "params": {"digits": 2}, "n_problems": 2}], "methods": ["greedy"],
           "train": {"base": str(tmp_path), "trainers": [{"name": "prm", "budgets": [2], "params": {"layers": 1}}]}}
    with pytest.raises(ConfigError, match=r"m.yaml: train.trainers\[0\].params: layers: used only with init: scratch"):
        parse_matrix(doc, "m.yaml")
    doc["train"]["trainers"][0] = {"name": "sft", "budgets": [2], "params": {"problems": 80}}
    doc["tasks"][0]["params"]["digits"] = 1  # the 1-digit train split holds 72 pairs
    with pytest.raises(ConfigError, match=r"train.trainers\[0\].params.problems: .* its train split holds 72"):
        parse_matrix(doc, "m.yaml")


def test_the_value_model_trainer_uses_its_shape_budget_and_seed_and_counts_everything(tiny_ckpt: Path,
                                                                                   tmp_path: Path) -> None:
    task = AdditionTask(digits=4)
    cfg = make_config(TRAINERS.config("prm"), {"problems": 3, "samples": 2, "labels": "exact", "eval_problems": 2,
                                               "batch": 4, "init": "scratch", "hidden": 16, "layers": 1,
                                               "heads": 2}, "prm")
    result = TRAINERS.get("prm").train(tiny_ckpt, task, 3, 5, cfg, tmp_path / "prm")
    info = read_info(result.path)
    config = json.loads((result.path / "config.json").read_text())
    assert (config["hidden_size"], config["num_hidden_layers"], config["num_attention_heads"]) == (16, 1, 2)
    assert info["config"]["steps"] == 3 and info["config"]["seed"] == 5
    base = read_info(tiny_ckpt)
    added = info["stage_flops"] + info["label_cost"]["flops"]
    assert info["label_cost"]["flops"] > 0 and base["train_flops"] > 0
    assert info["train_flops"] == pytest.approx(base["train_flops"] + added)
    assert info["post_train_flops"] == pytest.approx(base.get("post_train_flops", 0.0) + added)
    assert result.cost.flops == pytest.approx(added)
    weights = load_file(str(result.path / "model.safetensors"))
    assert sum(t.numel() for t in weights.values()) == info["params"]


VERSIONED = '''
from harness.contracts import Cost, TrainedCheckpoint, Trainer, TrainerConfig
from harness.registry import TRAINERS


def train(base, task, budget, seed, cfg, out, progress=None):
    out.mkdir(parents=True, exist_ok=True)
    return TrainedCheckpoint(out, Cost(), {{}})  # version {version}


TRAINERS.register("test_versioned", config=TrainerConfig)(Trainer("test_versioned", train, TrainerConfig))
'''


def test_a_change_to_the_trainer_code_is_a_new_checkpoint(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("THINKBENCH_CACHE", str(tmp_path / "cache"))
    source = tmp_path / "tb_versioned_trainer.py"
    source.write_text(VERSIONED.format(version=1))
    spec_ = importlib.util.spec_from_file_location("tb_versioned_trainer", source)
    module = importlib.util.module_from_spec(spec_)
    sys.modules["tb_versioned_trainer"] = module
    spec_.loader.exec_module(module)
    spec = TrainSpec("test_versioned", "", "addition", (), 1, 0, TrainerConfig())
    path, _, reused = ensure_trained(spec)
    assert not reused and ensure_trained(spec)[2]  # the same code: found
    before = spec.key()
    source.write_text(VERSIONED.format(version=2))  # a fix to the trainer
    trainer_code.cache_clear()
    assert spec.key() != before and spec.default_path() != path
    assert not ensure_trained(spec)[2]  # trained again, not the old checkpoint


def test_shared_trainer_code_is_in_the_key() -> None:
    """A trainer's helpers in its own package (the fine-tuning loop) are its code too."""
    import baselines.train.tuning as tuning

    trainer_code.cache_clear()
    before = trainer_code("sft")
    real = Path(tuning.__file__)
    try:
        tuning.__file__ = str(Path(__file__))  # another source for the shared module
        trainer_code.cache_clear()
        assert trainer_code("sft") != before
    finally:
        tuning.__file__ = str(real)
        trainer_code.cache_clear()
