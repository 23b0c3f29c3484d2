"""`rft`: rejection-sampling fine-tuning (RFT, Yuan et al. 2023); with `iterations` > 1 it is
STaR (Zelikman et al. 2022) / ReST-EM (Singh et al. 2023).

Each iteration samples `samples` solutions per train problem from the newest model, keeps the
ones the task's checker accepts (each distinct one once), and fine-tunes on them. As in
ReST-EM, every iteration fine-tunes the *base* on the newest model's filtered samples
(`from_base: false` continues from the newest model instead). `budget` optimizer steps are
split evenly across iterations.
"""
from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from baselines.train.tuning import DataConfig, Progress, finish, load_model, load_policy, sample, sft_steps
from harness.contracts import Cost, TrainedCheckpoint, Trainer
from harness.registry import TRAINERS


@dataclass(frozen=True)
class RFTConfig(DataConfig):
    """How many samples per problem, how many rounds, and where each round starts from."""

    iterations: int = 1     # rounds of sample → filter → fine-tune (STaR / ReST-EM when > 1)
    from_base: bool = True  # each round fine-tunes the base (ReST-EM); false: the newest model

    def validate(self) -> None:
        super().validate()
        if self.iterations < 1:
            raise ValueError("iterations must be >= 1")


def train(base: Path, task, budget: int, seed: int, cfg: RFTConfig, out: Path,
          progress: Progress | None = None) -> TrainedCheckpoint:
    """The trainer contract: sample, keep the verified solutions, fine-tune; `iterations` times."""
    if budget < cfg.iterations:
        raise ValueError(f"rft: budget {budget} is fewer steps than iterations ({cfg.iterations})")
    started = time.perf_counter()
    problems = task.problems("train", cfg.problems, seed)
    data, tokens, kept_per_round = Cost(), 0, []
    policy = load_policy(base)
    model = tokenizer = None
    for round_ in range(cfg.iterations):
        if progress:
            progress(f"sampling round {round_ + 1}: {cfg.samples} per problem", round_, cfg.iterations)
        pools, cost = sample(policy, task, problems, cfg.samples, cfg, seed + round_)
        data += cost
        examples = [(task.prompt(p), text) for p, pool in zip(problems, pools)
                    for text in dict.fromkeys(s.text for s in pool if s.correct)]
        kept_per_round.append(len(examples))
        if model is None or cfg.from_base:
            model, tokenizer = load_model(base)
        steps = budget // cfg.iterations + (1 if round_ < budget % cfg.iterations else 0)
        tokens += sft_steps(model, tokenizer, examples, cfg, steps, seed + round_, f"rft round {round_ + 1}", progress)
        if round_ + 1 < cfg.iterations:
            policy = _policy_of(model, tokenizer, out)
    shutil.rmtree(out.with_name(out.name + ".round"), ignore_errors=True)
    return finish("rft", base, model, tokenizer, out, cfg, budget=budget, seed=seed, task=task,
                  train_tokens=tokens, data=data, started=started,
                  extra={"kept_per_round": kept_per_round, "sampled_per_round": len(problems) * cfg.samples})


def _policy_of(model, tokenizer, out: Path):
    """The `hf` backend on the model trained so far (saved beside `out`, then sampled from)."""
    from harness.checkpoint import save_checkpoint

    scratch = out.with_name(out.name + ".round")
    save_checkpoint(model, tokenizer, scratch, {})
    model.train()
    return load_policy(scratch)


TRAINERS.register("rft", config=RFTConfig)(Trainer(
    "rft", train, RFTConfig, doc="rejection-sampling fine-tuning; iterations > 1: STaR / ReST-EM"))
