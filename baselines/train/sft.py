"""`sft`: supervised fine-tuning, on the task's reference chains of thought or on sampled traces.

`source: gold` trains on `Task.solution` (ground truth; the addition testbed's is exact).
`source: samples` trains on unfiltered samples from `teacher` (another checkpoint: distillation)
or, by default, from the base itself: the control for rejection sampling and RL, which differ
from it only by which samples they learn from (the testbed is plateaued: more of its own
distribution teaches it nothing, so a gain over this control is the filter's or the reward's).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import ClassVar, Literal

from baselines.train.tuning import DataConfig, Progress, finish, load_model, load_policy, sample, sft_steps
from harness.checkpoint import resolve_checkpoint
from harness.contracts import Cost, TrainedCheckpoint, Trainer
from harness.registry import TRAINERS, ConfigError


@dataclass(frozen=True)
class SFTTrainConfig(DataConfig):
    """What to imitate: the task's own solutions (`gold`) or `samples` from `teacher`."""

    source: Literal["gold", "samples"] = "gold"
    teacher: str = ""   # checkpoint whose samples are imitated (default: the base: self-distillation)
    samples: int = 1    # samples per problem when source is `samples`

    # What only sampling uses: with `source: gold` each must keep its default (else it is refused).
    SAMPLING_ONLY: ClassVar[tuple[str, ...]] = ("teacher", "samples", "search", "search_budget", "verifier",
                                                "verifier_path", "temperature", "max_tokens")

    def validate(self) -> None:
        super().validate()
        if self.source == "gold":
            defaults = {f.name: f.default for f in fields(self)}
            given = [name for name in self.SAMPLING_ONLY if getattr(self, name) != defaults[name]]
            if given:
                raise ValueError(f"{', '.join(given)}: not used with source: gold (it trains on the task's own "
                                 "solutions; they apply to source: samples)")
        elif self.teacher:
            resolve_checkpoint(self.teacher)  # a teacher that does not exist is said when the config is read


def train(base: Path, task, budget: int, seed: int, cfg: SFTTrainConfig, out: Path,
          progress: Progress | None = None) -> TrainedCheckpoint:
    """The trainer contract: `budget` SFT steps from `base` on `task`'s train split."""
    started = time.perf_counter()
    problems = task.problems("train", cfg.problems, seed)
    data = Cost()
    if cfg.source == "gold":
        examples = [(task.prompt(p), task.solution(p)) for p in problems]
        if any(c is None for _, c in examples):
            raise ConfigError(f"sft: task {task.name!r} has no reference solutions (use source: samples)")
    else:
        teacher = resolve_checkpoint(cfg.teacher) if cfg.teacher else str(base)
        if progress:
            progress(f"sampling {cfg.samples} per problem from {Path(teacher).name}", 0, 1)
        pools, data = sample(load_policy(teacher), task, problems, cfg.samples, cfg, seed)
        examples = [(task.prompt(s.problem), s.text) for pool in pools for s in pool]
    model, tokenizer = load_model(base)
    tokens = sft_steps(model, tokenizer, examples, cfg, budget, seed, "sft", progress)
    return finish("sft", base, model, tokenizer, out, cfg, budget=budget, seed=seed, task=task,
                  train_tokens=tokens, data=data, started=started, extra={"examples": len(examples)})


TRAINERS.register("sft", config=SFTTrainConfig)(Trainer(
    "sft", train, SFTTrainConfig, doc="supervised fine-tuning on reference solutions or sampled traces"))
