"""`prm` / `orm` trainers: value models from process labels (Math-Shepherd, Wang et al. 2024).

Labelling (`labels`): sample solutions from the policy, then label every step
- `mc` (default): by Monte-Carlo rollouts, Math-Shepherd style: for every step prefix draw k
  completions and label the step with the fraction that reach a correct answer (soft label;
  hard label = any correct). The last step's label is the solution's own correctness.
- `exact`: by the task's own step checker (`Task.step_labels`: a step is correct iff it and
  every step before it is right), where the task has one (the addition testbed does). No
  rollouts are spent: the label cost is the sampling of the solutions alone.
The ORM's label is the solution's outcome under either source. Training: a one-logit token
classification head, BCE on the label at each step's newline (ORM: at the last step only),
from the base's weights (`init: base`) or a small Llama from scratch (`init: scratch`).
Labelling and training compute are both counted, on top of the base's own training.
"""
from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np
import torch

from baselines.verifiers.value_model import ORMConfig, PRMConfig, ValueModelVerifier, layout
from harness.checkpoint import read_info, write_info
from harness.compute import training_flops
from harness.contracts import Cost, Problem, TrainedCheckpoint, Trainer, TrainerConfig
from harness.registry import BACKENDS, TRAINERS, ConfigError

LabelSource = Literal["mc", "exact"]


@dataclass
class LabeledSolution:
    """One sampled solution with its step labels (MC: a fraction of rollouts; exact: 0 or 1)."""

    problem: Problem
    steps: list[str]
    soft: list[float]   # per step: fraction of rollouts from the prefix that end correct, or 0/1
    correct: bool       # the solution's own outcome


@dataclass(frozen=True)
class ValueModelConfig(TrainerConfig):
    """Labelling (problems × samples, label source, rollouts per step prefix) and training knobs."""

    problems: int = 200      # train problems whose sampled solutions are labelled
    samples: int = 4         # sampled solutions per problem
    labels: LabelSource = "mc"  # "mc": rollout estimates; "exact": the task's step checker
    rollouts: int = 4        # Monte-Carlo rollouts per step prefix (labels: mc only)
    eval_problems: int = 60  # held-out problems for the AUROC printed at the end
    hidden: int = 128
    layers: int = 4
    heads: int = 4
    steps: int = 600
    batch: int = 32
    lr: float = 2e-3
    seed: int = 0
    target: str = "prm"  # or "orm": outcome label at the last step only

    def validate(self) -> None:
        if self.target not in ("prm", "orm"):
            raise ValueError(f"target must be 'prm' or 'orm', got {self.target!r}")
        if self.labels not in LABELLERS:
            raise ValueError(f"labels must be one of {', '.join(map(repr, LABELLERS))}, got {self.labels!r}")
        if min(self.problems, self.samples, self.rollouts, self.steps, self.batch) < 1:
            raise ValueError("problems, samples, rollouts, steps and batch must be >= 1")


@dataclass(frozen=True)
class ValueModelTrainConfig(TrainerConfig):
    """The `prm` / `orm` trainer's knobs. Its steps and seed are the trainer's budget and seed
    (a matrix's `budgets` and `train.seeds`), so they are not knobs here. `init: base` (default)
    starts from the policy's weights with a fresh head (Math-Shepherd), so the value model has
    the base's shape; `init: scratch` trains a small Llama of `hidden` × `layers` × `heads`
    (those three apply only then)."""

    problems: int = 200
    samples: int = 4
    labels: LabelSource = "mc"
    rollouts: int = 4
    eval_problems: int = 60
    init: Literal["base", "scratch"] = "base"
    hidden: int | None = None   # init: scratch only (default 128)
    layers: int | None = None   # init: scratch only (default 4)
    heads: int | None = None    # init: scratch only (default 4)
    batch: int = 32
    lr: float = 2e-3
    target: str = "prm"

    SHAPE: ClassVar[tuple[str, ...]] = ("hidden", "layers", "heads")

    def validate(self) -> None:
        shape = [name for name in self.SHAPE if getattr(self, name) is not None]
        if self.init == "base" and shape:
            raise ValueError(f"{', '.join(shape)}: used only with init: scratch (init: base keeps the base "
                             "model's shape)")
        if any(getattr(self, name) is not None and getattr(self, name) < 1 for name in self.SHAPE):
            raise ValueError("hidden, layers and heads must be >= 1")
        self.training(1, 0)  # the training run's own checks (ranges, labels, target)

    def training(self, steps: int, seed: int) -> ValueModelConfig:
        """The training run's config: these knobs with `steps` and `seed` (budget and seed)."""
        shared = {f.name: getattr(self, f.name) for f in fields(ValueModelConfig)
                  if hasattr(self, f.name) and f.name not in self.SHAPE}
        shape = {name: getattr(self, name) for name in self.SHAPE if getattr(self, name) is not None}
        return ValueModelConfig(**shared, **shape, steps=steps, seed=seed)


def sample_solutions(policy, task, problems: list[Problem], *, samples: int = 4, max_tokens: int = 64,
                     temperature: float = 1.0, seed: int = 0) -> tuple[list[LabeledSolution], Cost]:
    """Sample `samples` solutions per problem (one batched call); each is labelled only with
    its outcome so far (the last step's label), earlier steps 0 until a labeller fills them."""
    outs, costs = policy.generate([task.prompt(p) for p in problems], n=samples, temperature=temperature,
                                  max_tokens=max_tokens, seed=seed)
    solutions = []
    for p, comps in zip(problems, outs):
        for c in comps:
            steps = task.steps(c.text)
            if steps:
                correct = task.check(task.extract(c.text), p).correct
                solutions.append(LabeledSolution(p, steps, [0.0] * (len(steps) - 1) + [float(correct)], correct))
    return solutions, sum(costs, Cost())


def rollout_labels(policy, task, solutions: list[LabeledSolution], *, rollouts: int = 4, max_tokens: int = 64,
                   temperature: float = 1.0, seed: int = 1) -> tuple[list[LabeledSolution], Cost]:
    """Monte-Carlo labels: every proper prefix of every solution rolled out `rollouts` times in
    one batched call; a step's label is the fraction that end correct (the last step keeps
    the solution's own outcome). Returns labelled copies and the rollouts' cost."""
    out = [replace(s, soft=[0.0] * (len(s.steps) - 1) + [float(s.correct)]) for s in solutions]
    prefixes = [(si, j) for si, s in enumerate(out) for j in range(1, len(s.steps))]
    sep = task.step_separator
    heads = ["".join(st + sep for st in out[si].steps[:j]) for si, j in prefixes]
    if not prefixes:
        return out, Cost()
    routs, rcosts = policy.generate([task.prompt(out[si].problem) + head for (si, _), head in zip(prefixes, heads)],
                                    n=rollouts, temperature=temperature, max_tokens=max_tokens, seed=seed)
    for (si, j), head, comps in zip(prefixes, heads, routs):
        s = out[si]
        wins = sum(task.check(task.extract(head + c.text), s.problem).correct for c in comps)
        s.soft[j - 1] = wins / len(comps)
    return out, sum(rcosts, Cost())


def can_label_steps(task, problem: Problem) -> bool:
    """Whether `task` has exact step labels (its `step_labels` answers rather than None)."""
    return task.step_labels(problem, []) is not None


def require_step_labels(task, problem: Problem) -> None:
    """A ConfigError naming the task when it cannot check steps (so `labels: exact` cannot work)."""
    if not can_label_steps(task, problem):
        raise ConfigError(f"labels: exact needs a task that can check each step; task "
                          f"{getattr(task, 'name', '') or type(task).__name__!r} cannot (use labels: mc)")


def exact_labels(task, solutions: list[LabeledSolution]) -> list[LabeledSolution]:
    """Copies of `solutions` labelled by the task's own step checker (1.0 right prefix, 0.0 not);
    a ConfigError naming the task when it cannot check steps."""
    out = []
    for s in solutions:
        labels = task.step_labels(s.problem, s.steps)
        if labels is None:
            require_step_labels(task, s.problem)
            raise ConfigError(f"task {getattr(task, 'name', '')!r} gave no step labels for problem {s.problem.id!r}")
        out.append(replace(s, soft=[float(x) for x in labels]))
    return out


def mc_labels(policy, task, problems: list[Problem], *, samples: int = 4, rollouts: int = 8,
              max_tokens: int = 64, temperature: float = 1.0, seed: int = 0
              ) -> tuple[list[LabeledSolution], Cost]:
    """Sample solutions and label each step prefix by k rollouts from it (all problems batched)."""
    solutions, cost = sample_solutions(policy, task, problems, samples=samples, max_tokens=max_tokens,
                                       temperature=temperature, seed=seed)
    labelled, rcost = rollout_labels(policy, task, solutions, rollouts=rollouts, max_tokens=max_tokens,
                                     temperature=temperature, seed=seed + 1)
    return labelled, cost + rcost


@dataclass(frozen=True)
class Labeller:
    """One label source: how it labels sampled solutions (with its cost), how the log names
    it, and whether the task must be able to check steps."""

    label: Callable[..., tuple[list[LabeledSolution], Cost]]  # (policy, task, solutions, cfg, seed)
    describe: Callable[[ValueModelConfig], str]
    needs_step_labels: bool = False


LABELLERS: dict[str, Labeller] = {
    "mc": Labeller(lambda policy, task, sols, cfg, seed: rollout_labels(policy, task, sols, rollouts=cfg.rollouts,
                                                                        seed=seed),
                   lambda cfg: f"{cfg.rollouts} Monte-Carlo rollouts per step prefix"),
    "exact": Labeller(lambda policy, task, sols, cfg, seed: (exact_labels(task, sols), Cost()),
                      lambda cfg: "the task's step checker (no rollouts)", needs_step_labels=True),
}


def _examples(task, tokenizer, solutions: list[LabeledSolution], target: str):
    rows = []
    for s in solutions:
        ids, positions = layout(task, tokenizer, None, s.problem, s.steps)
        labels = s.soft if target == "prm" else [float(s.correct)]
        pos = positions if target == "prm" else positions[-1:]
        rows.append((ids, pos, labels))
    return rows


def train_value_model(solutions: list[LabeledSolution], task, tokenizer_from: str | Path, out: Path,
                      cfg: ValueModelConfig = ValueModelConfig(), label_cost: Cost = Cost(),
                      init_from: str | Path | None = None) -> Path:
    """Train a PRM (or ORM) on labelled solutions; save an HF checkpoint directory in `out`.

    `init_from`: start from a causal LM's weights (usually the policy, as Math-Shepherd starts
    from the base model) with a fresh one-logit head; else a tiny Llama from scratch (`cfg`).
    """
    from transformers import AutoTokenizer, LlamaConfig, LlamaForTokenClassification

    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_from)
    if init_from is not None:
        from transformers.utils import logging as hf_logging

        level = hf_logging.get_verbosity()
        hf_logging.set_verbosity_error()  # the fresh head is expected: no "MISSING weights" report
        model = LlamaForTokenClassification.from_pretrained(init_from, num_labels=1, attn_implementation="eager")
        hf_logging.set_verbosity(level)
        model.config.pad_token_id = tokenizer.pad_token_id
    else:
        config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=cfg.hidden, intermediate_size=3 * cfg.hidden,
                             num_hidden_layers=cfg.layers, num_attention_heads=cfg.heads,
                             num_key_value_heads=cfg.heads, max_position_embeddings=512, num_labels=1,
                             pad_token_id=tokenizer.pad_token_id)
        config._attn_implementation = "eager"
        model = LlamaForTokenClassification(config)
    params = sum(p.numel() for p in model.parameters())
    rows = _examples(task, tokenizer, solutions, cfg.target)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(1.0, s / cfg.steps))))
    tokens, t0 = 0, time.perf_counter()
    model.train()
    for _ in range(cfg.steps):
        batch = [rows[i] for i in rng.integers(0, len(rows), size=cfg.batch)]
        width = max(len(ids) for ids, _, _ in batch)
        ids = torch.full((len(batch), width), tokenizer.pad_token_id, dtype=torch.long)
        mask = torch.zeros_like(ids)
        target = torch.full((len(batch), width), -1.0)
        for i, (row, pos, labels) in enumerate(batch):
            ids[i, :len(row)] = torch.tensor(row)
            mask[i, :len(row)] = 1
            target[i, pos] = torch.tensor(labels)
        logits = model(input_ids=ids, attention_mask=mask).logits[..., 0]
        keep = target >= 0
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits[keep], target[keep])
        loss.backward()
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        tokens += int(mask.sum())
    model.eval()
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    write_info(out, {"trainer": cfg.target, "config": asdict(cfg),
                     "init_from": str(init_from) if init_from else None, "params": params,
                     "train_tokens": tokens, "train_flops": training_flops(params, tokens),
                     "train_wall_s": time.perf_counter() - t0, "label_cost": asdict(label_cost),
                     "labelled_solutions": len(solutions)})
    return out


def step_auroc(scores: list[list[float]], solutions: list[LabeledSolution]) -> float:
    """AUROC of step scores against hard labels: a step is positive when its label is > 0 (MC:
    any rollout from it won; exact: its prefix is right)."""
    pos, neg = [], []
    for sc, s in zip(scores, solutions):
        for value, label in zip(sc, s.soft):
            (pos if label > 0 else neg).append(value)
    if not pos or not neg:
        return float("nan")
    ranks = np.argsort(np.argsort(np.array(pos + neg), kind="stable"), kind="stable") + 1.0
    # Mann-Whitney U with average ranks for ties.
    values = np.array(pos + neg)
    for v in np.unique(values):
        idx = values == v
        ranks[idx] = ranks[idx].mean()
    u = ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2
    return float(u / (len(pos) * len(neg)))


def heldout_aurocs(verifier: ValueModelVerifier, task, held: list[LabeledSolution], target: str
                   ) -> dict[str, float]:
    """AUROC of the value model on held-out labelled solutions: `heldout_auroc` against their
    labels (PRM: every step; ORM: the last step against the outcome) and, for a PRM on a task
    that can check steps, `heldout_auroc_exact` against exact step correctness."""
    scores, _ = verifier.score_many([s.problem for s in held], [s.steps for s in held])
    if target == "orm":
        outcome = [replace(s, soft=[float(s.correct)]) for s in held]
        return {"heldout_auroc": step_auroc([sc[-1:] for sc in scores], outcome)}
    out = {"heldout_auroc": step_auroc(scores, held)}
    if held and can_label_steps(task, held[0].problem):
        out["heldout_auroc_exact"] = step_auroc(scores, exact_labels(task, held))
    return out


def train(base: Path, task, budget: int, seed: int, cfg: ValueModelTrainConfig, out: Path,
          progress=None) -> TrainedCheckpoint:
    """The trainer contract: label the policy `base`'s samples on `task`'s train split (by
    rollouts, or exactly by the task's step checker), train the value model for `budget`
    steps with `seed` (from the base's weights, or from scratch with `init: scratch`), and
    measure held-out AUROC (also against exact step labels where the task has them). Its
    `train_flops` are the base's plus the labelling and the training, as a policy trainer's."""
    trainer_cfg = cfg
    cfg = cfg.training(budget, seed)
    problems = task.problems("train", cfg.problems, seed)
    labeller = LABELLERS[cfg.labels]
    if labeller.needs_step_labels:
        require_step_labels(task, problems[0])  # before any sampling is spent
    policy = BACKENDS.get("hf")(base)
    t0 = time.perf_counter()
    sampled, sample_cost = sample_solutions(policy, task, problems, samples=cfg.samples, seed=seed)
    solutions, rollout_cost = labeller.label(policy, task, sampled, cfg, seed + 1)
    label_cost = sample_cost + rollout_cost
    print(f"labelled {len(solutions)} solutions ({sum(len(s.steps) for s in solutions)} steps) with "
          f"{labeller.describe(cfg)}: "
          f"{label_cost.generated_tokens:.0f} generated tokens, {label_cost.flops:.3g} FLOPs, "
          f"{time.perf_counter() - t0:.0f} s", file=sys.stderr)
    path = train_value_model(solutions, task, base, out, cfg, label_cost,
                             init_from=base if trainer_cfg.init == "base" else None)
    held_sampled, _ = sample_solutions(policy, task, task.problems("test", cfg.eval_problems, seed + 1),
                                       samples=cfg.samples, seed=seed + 1)
    held, _ = labeller.label(policy, task, held_sampled, cfg, seed + 2)
    verifier = ValueModelVerifier(task, (PRMConfig if cfg.target == "prm" else ORMConfig)(path=str(path)))
    info = read_info(path) | heldout_aurocs(verifier, task, held, cfg.target) | {"heldout_solutions": len(held)}
    # As a policy trainer's checkpoint: the labelling is this stage's data, and the base's own
    # training is part of what the value model cost (its labels are the base's samples).
    base_info = read_info(base)
    added = info["train_flops"] + label_cost.flops
    info |= {"trainer_config": asdict(trainer_cfg), "stage_flops": info["train_flops"],
             "data_flops": label_cost.flops, "data_generated_tokens": label_cost.generated_tokens,
             "post_train_flops": float(base_info.get("post_train_flops", 0.0)) + added,
             "train_flops": float(base_info.get("train_flops", 0.0)) + added}
    write_info(path, info)
    return TrainedCheckpoint(path, Cost(generated_tokens=label_cost.generated_tokens, flops=added,
                                        wall_s=info["train_wall_s"]), info)


@dataclass(frozen=True)
class ORMTrainConfig(ValueModelTrainConfig):
    target: str = "orm"


TRAINERS.register("prm", config=ValueModelTrainConfig)(Trainer(
    "prm", train, ValueModelTrainConfig,
    doc="PRM from process labels: Monte-Carlo rollouts (Math-Shepherd) or, labels: exact, the task's step checker"))
TRAINERS.register("orm", config=ORMTrainConfig)(Trainer(
    "orm", train, ORMTrainConfig, doc="ORM: the outcome label of the same sampled solutions"))
