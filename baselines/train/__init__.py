"""Trainers, one training method per file. Declared here, imported on first use."""
from harness.registry import TRAINERS

TRAINERS.lazy("testbed", "baselines.train.testbed")
TRAINERS.lazy("prm", "baselines.train.prm")
TRAINERS.lazy("orm", "baselines.train.prm")
TRAINERS.lazy("sft", "baselines.train.sft")
TRAINERS.lazy("rft", "baselines.train.rft")
TRAINERS.lazy("dpo", "baselines.train.dpo")
TRAINERS.lazy("grpo", "baselines.train.grpo")
TRAINERS.lazy("rloo", "baselines.train.rloo")
