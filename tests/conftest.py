"""Shared fixtures: a tiny testbed checkpoint trained in seconds (real training, tiny budget)."""
from __future__ import annotations

from pathlib import Path

import pytest

from harness.registry import load_plugins

load_plugins()


@pytest.fixture(scope="session")
def tiny_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer testbed model after 150 steps: emits the solution format, often wrongly."""
    from baselines.train.testbed import TestbedConfig, train_testbed

    cfg = TestbedConfig(hidden=64, layers=2, heads=2, steps=150, batch=32, checkpoints=2)
    return train_testbed(tmp_path_factory.mktemp("testbed"), cfg)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """`gpu` tests skip cleanly where no CUDA device is present."""
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
