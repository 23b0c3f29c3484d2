"""The testbed trainer: an interrupted training resumes and ends with the same weights."""
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from baselines.train.testbed import RESUME, TestbedConfig, train_testbed

TINY = TestbedConfig(hidden=32, layers=1, heads=2, steps=24, batch=8, checkpoints=2, resume_every=5)


def test_interrupted_training_resumes_to_the_same_weights(tmp_path: Path, capsys) -> None:
    whole = train_testbed(tmp_path / "whole", TINY)

    def interrupt(step: int, loss: float) -> None:
        if step == 13:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_testbed(tmp_path / "cut", TINY, interrupt)
    assert (tmp_path / "cut" / RESUME).is_file() and (tmp_path / "cut" / "step-12").is_dir()
    seen: list[int] = []
    resumed = train_testbed(tmp_path / "cut", TINY, lambda step, loss: seen.append(step))
    assert seen[0] == 11  # continued from the last saved state (step 10), not from 0
    assert "resuming after step 10 of 24" in capsys.readouterr().err
    assert not (tmp_path / "cut" / RESUME).exists()
    a, b = load_file(whole / "model.safetensors"), load_file(resumed / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_resume_every_does_not_change_the_checkpoint_identity() -> None:
    from dataclasses import replace

    assert TestbedConfig().key() == replace(TestbedConfig(), resume_every=7).key()
    assert TestbedConfig().key() != replace(TestbedConfig(), steps=7).key()
