"""`dpo`: Direct Preference Optimization (Rafailov et al. 2023) on the model's own samples.

Pairs: per train problem, `samples` solutions from the base; each pair is a correct one
(chosen) against an incorrect one (rejected), as the task's checker says. Problems where every
sample is right, or every one wrong, give no pair.

The loss is TRL's: `loss: [sigmoid]` is the DPO paper's. On self-generated pairs plain DPO can
push the chosen solutions' likelihood down while the margin grows (TRL issue #800); adding the
SFT loss on the chosen side (`loss: [sigmoid, sft]`, as RPO does; TRL 1.16 has no `rpo_alpha`)
or `ipo` / `apo_zero` are the usual remedies. docs/trainers.md, "DPO on its own samples", has what this
testbed showed.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from baselines.train.tuning import DataConfig, Progress, finish, fit, load_model, load_policy, sample, trl_args, workdir
from harness.contracts import TrainedCheckpoint, Trainer
from harness.registry import TRAINERS

LOSSES = ("sigmoid", "ipo", "apo_zero", "apo_down", "hinge", "robust", "bco_pair", "sppo_hard", "nca_pair", "sft")


@dataclass(frozen=True)
class DPOTrainConfig(DataConfig):
    """Pairs from `samples` per problem; TRL's losses, weighted; KL strength `beta`."""

    pairs: int = 4                       # at most this many pairs per problem
    level: Literal["outcome", "step"] = "outcome"  # step: pairs from the first wrong step on (first pit)
    beta: float = 0.1
    loss: tuple[str, ...] = ("sigmoid",)  # TRL loss_type list, e.g. [sigmoid, sft] (RPO)
    loss_weights: tuple[float, ...] = ()  # one weight per loss (default: 1 each)
    lr: float = 1e-5

    def validate(self) -> None:
        super().validate()
        unknown = [name for name in self.loss if name not in LOSSES]
        if unknown or not self.loss:
            raise ValueError(f"loss: unknown {unknown[0]!r} (known: {', '.join(LOSSES)})" if unknown
                             else "loss: name at least one")
        if self.loss_weights and len(self.loss_weights) != len(self.loss):
            raise ValueError(f"loss_weights: {len(self.loss_weights)} weights for {len(self.loss)} losses")
        if min(self.samples, self.pairs) < 1 or self.beta <= 0:
            raise ValueError("samples and pairs must be >= 1 and beta > 0")


def preference_pairs(pools, task, pairs: int) -> list[dict]:
    """(prompt, chosen correct, rejected incorrect) rows; each distinct text is used once."""
    rows = []
    for pool in pools:
        good = list(dict.fromkeys(s.text for s in pool if s.correct))
        bad = list(dict.fromkeys(s.text for s in pool if not s.correct))
        for chosen, rejected in list(zip(good, bad))[:pairs]:
            rows.append({"prompt": task.prompt(pool[0].problem), "chosen": chosen, "rejected": rejected})
    return rows


def step_pairs(pools, task, pairs: int) -> list[dict]:
    """Step-level pairs at the first wrong step ("first pit", SELF-EXPLORE, Hwang et al. 2024;
    Step-DPO localises the same way): for a wrong solution, the prompt is the problem plus its
    steps before the first wrong one (the task's exact step labels); the rejected side is the
    wrong solution from there on, the chosen side a correct solution of the same problem from
    the same prefix on. Whole continuations, not single steps: TRL ends every completion with
    EOS, which after one step would teach the model to stop. A wrong solution whose prefix no
    correct one shares gives no pair."""
    sep = task.step_separator
    rows = []
    for pool in pools:
        problem = pool[0].problem
        good = [s.text for s in pool if s.correct]
        seen: set[str] = set()
        for s in pool:
            if s.correct or len(seen) >= pairs:
                continue
            steps = task.steps(s.text)
            labels = task.step_labels(problem, steps)
            if labels is None:
                raise ValueError(f"dpo: level 'step' needs a task that labels steps exactly; {task.name!r} does not")
            if all(labels):
                continue  # wrong answer with every step right (e.g. a cut-off solution): no pit
            head = "".join(step + sep for step in steps[:labels.index(False)])
            chosen = next((g for g in good if g.startswith(head)), None)
            if chosen is None or not s.text.startswith(head) or s.text in seen:
                continue
            seen.add(s.text)
            rows.append({"prompt": task.prompt(problem) + head, "chosen": chosen[len(head):],
                         "rejected": s.text[len(head):]})
    return rows


def train(base: Path, task, budget: int, seed: int, cfg: DPOTrainConfig, out: Path,
          progress: Progress | None = None) -> TrainedCheckpoint:
    """The trainer contract: `budget` DPO steps on pairs from the base's own samples."""
    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer

    started = time.perf_counter()
    problems = task.problems("train", cfg.problems, seed)
    if progress:
        progress(f"sampling {cfg.samples} per problem for pairs", 0, 1)
    pools, data = sample(load_policy(base), task, problems, cfg.samples, cfg, seed)
    rows = (step_pairs if cfg.level == "step" else preference_pairs)(pools, task, cfg.pairs)
    if not rows:
        raise ValueError("dpo: no problem had both a correct and an incorrect sample (no pairs)")
    model, tokenizer = load_model(base)
    with workdir() as tmp:
        args = trl_args(DPOConfig, cfg, budget, seed, Path(tmp), beta=cfg.beta, loss_type=list(cfg.loss),
                        loss_weights=list(cfg.loss_weights) or None, include_num_input_tokens_seen="non_padding")
        trainer = DPOTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows), processing_class=tokenizer)
        tokens = fit(trainer, "dpo", budget, progress)
        logged = [h for h in trainer.state.log_history if "logps/chosen" in h]
    # The reference model scores every pair the policy trains on: one forward pass per token.
    return finish("dpo", base, model, tokenizer, out, cfg, budget=budget, seed=seed, task=task,
                  train_tokens=tokens, scored_tokens=tokens, data=data, started=started,
                  extra={"pairs": len(rows), "dynamics": _dynamics(logged)})


def _dynamics(logged: list[dict]) -> dict:
    """First and last logged mean log-probs of chosen and rejected solutions and the reward
    margin: plain DPO on self pairs can widen the margin while the chosen log-prob falls."""
    keys = ("logps/chosen", "logps/rejected", "rewards/margins")
    if not logged:
        return {}
    return {k: [float(logged[0][k]), float(logged[-1][k])] for k in keys if k in logged[0]}


TRAINERS.register("dpo", config=DPOTrainConfig)(Trainer(
    "dpo", train, DPOTrainConfig, doc="DPO on (correct, incorrect) pairs of the model's own samples"))
