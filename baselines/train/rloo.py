"""`rloo`: REINFORCE Leave-One-Out (Ahmadian et al. 2024) through TRL's RLOOTrainer, rewarded by
the task's checker: each completion's baseline is the mean reward of the others in its group."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from baselines.train.tuning import Progress, RLConfig, rl_train
from harness.contracts import TrainedCheckpoint, Trainer
from harness.registry import TRAINERS


@dataclass(frozen=True)
class RLOOTrainConfig(RLConfig):
    """RLOO's knobs: the group (`generations`) and KL `beta` (TRL's default 0.05)."""

    beta: float = 0.05


def train(base: Path, task, budget: int, seed: int, cfg: RLOOTrainConfig, out: Path,
          progress: Progress | None = None) -> TrainedCheckpoint:
    """The trainer contract: `budget` RLOO steps from `base` on `task`'s train split."""
    from trl import RLOOConfig, RLOOTrainer

    return rl_train("rloo", RLOOConfig, RLOOTrainer, base, task, budget, seed, cfg, out, progress)


TRAINERS.register("rloo", config=RLOOTrainConfig)(Trainer(
    "rloo", train, RLOOTrainConfig, doc="RLOO (TRL) with the task's checker as the reward"))
