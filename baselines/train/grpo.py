"""`grpo`: Group Relative Policy Optimization (Shao et al. 2024, DeepSeekMath) through TRL's
GRPOTrainer, rewarded by the task's checker (1 for a correct answer, else 0).

TRL removed its PPO trainer (1.13) and PRMTrainer (1.14); thinkbench does not write PPO by hand.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from baselines.train.tuning import Progress, RLConfig, rl_train
from harness.contracts import TrainedCheckpoint, Trainer
from harness.registry import TRAINERS


@dataclass(frozen=True)
class GRPOTrainConfig(RLConfig):
    """GRPO's knobs: the group (`generations`), KL `beta` (0, as TRL's default and DAPO)."""


def train(base: Path, task, budget: int, seed: int, cfg: GRPOTrainConfig, out: Path,
          progress: Progress | None = None) -> TrainedCheckpoint:
    """The trainer contract: `budget` GRPO steps from `base` on `task`'s train split."""
    from trl import GRPOConfig, GRPOTrainer

    return rl_train("grpo", GRPOConfig, GRPOTrainer, base, task, budget, seed, cfg, out, progress)


TRAINERS.register("grpo", config=GRPOTrainConfig)(Trainer(
    "grpo", train, GRPOTrainConfig, doc="GRPO (TRL) with the task's checker as the reward"))
