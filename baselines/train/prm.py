"""`prm` / `orm` trainers: value models from Monte-Carlo rollouts (Math-Shepherd, Wang et al. 2024).

Labelling: for each train problem, sample solutions from the policy; for every step prefix,
draw k completions and label the step with the fraction that reach a correct answer (soft
label; hard label = any correct). The last step's label is the solution's own correctness,
which is also the ORM's outcome label. Training: a tiny Llama with a one-logit token
classification head, BCE on the label at each step's newline (ORM: at the last step only).
Labelling and training compute are both counted.
"""
from __future__ import annotations

import math
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch

from baselines.verifiers.value_model import ORMConfig, PRMConfig, ValueModelVerifier, layout
from harness.checkpoint import read_info, write_info
from harness.compute import training_flops
from harness.contracts import Cost, Problem, TrainedCheckpoint, Trainer, TrainerConfig
from harness.registry import BACKENDS, TRAINERS


@dataclass
class LabeledSolution:
    """One sampled solution with its Monte-Carlo step labels."""

    problem: Problem
    steps: list[str]
    soft: list[float]   # fraction of rollouts from each step prefix that end correct
    correct: bool       # the solution's own outcome


@dataclass(frozen=True)
class ValueModelConfig(TrainerConfig):
    """Labelling (problems × samples, rollouts per step prefix) and training knobs."""

    problems: int = 200      # train problems whose sampled solutions are labelled
    samples: int = 4         # sampled solutions per problem
    rollouts: int = 4        # Monte-Carlo rollouts per step prefix
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
        if min(self.problems, self.samples, self.rollouts, self.steps, self.batch) < 1:
            raise ValueError("problems, samples, rollouts, steps and batch must be >= 1")


def mc_labels(policy, task, problems: list[Problem], *, samples: int = 4, rollouts: int = 8,
              max_tokens: int = 64, temperature: float = 1.0, seed: int = 0
              ) -> tuple[list[LabeledSolution], Cost]:
    """Sample solutions and label each step prefix by k rollouts from it (all problems batched)."""
    cost = Cost()
    outs, costs = policy.generate([task.prompt(p) for p in problems], n=samples, temperature=temperature,
                                  max_tokens=max_tokens, seed=seed)
    cost = sum(costs, cost)
    solutions = []
    for p, comps in zip(problems, outs):
        for c in comps:
            steps = task.steps(c.text)
            if steps:
                correct = task.check(task.extract(c.text), p).correct
                solutions.append(LabeledSolution(p, steps, [0.0] * len(steps), correct))
    # Every proper prefix of every solution, rolled out k times in one batched call.
    prefixes = [(si, j) for si, s in enumerate(solutions) for j in range(1, len(s.steps))]
    sep = task.step_separator
    prompts = [task.prompt(solutions[si].problem) + "".join(st + sep for st in solutions[si].steps[:j])
               for si, j in prefixes]
    if prompts:
        routs, rcosts = policy.generate(prompts, n=rollouts, temperature=temperature,
                                        max_tokens=max_tokens, seed=seed + 1)
        cost = sum(rcosts, cost)
        for (si, j), comps in zip(prefixes, routs):
            s = solutions[si]
            head = "".join(st + sep for st in s.steps[:j])
            wins = sum(task.check(task.extract(head + c.text), s.problem).correct for c in comps)
            s.soft[j - 1] = wins / len(comps)
    for s in solutions:
        s.soft[-1] = float(s.correct)
    return solutions, cost


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
    """AUROC of step scores against hard MC labels (a step is good if any rollout from it wins)."""
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


def train(base: Path, task, budget: int, seed: int, cfg: ValueModelConfig, out: Path,
          progress=None) -> TrainedCheckpoint:
    """The trainer contract: label the policy `base`'s samples on `task`'s train split by
    rollouts, train the value model for `budget` steps, and measure held-out AUROC."""
    cfg = replace(cfg, steps=budget, seed=seed)
    policy = BACKENDS.get("hf")(base)
    t0 = time.perf_counter()
    solutions, label_cost = mc_labels(policy, task, task.problems("train", cfg.problems, seed),
                                      samples=cfg.samples, rollouts=cfg.rollouts, seed=seed)
    print(f"labelled {len(solutions)} solutions ({sum(len(s.steps) for s in solutions)} steps) with "
          f"{cfg.rollouts} rollouts per step prefix: {label_cost.generated_tokens:.0f} generated tokens, "
          f"{label_cost.flops:.3g} FLOPs, {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    path = train_value_model(solutions, task, base, out, cfg, label_cost, init_from=base)
    held, _ = mc_labels(policy, task, task.problems("test", cfg.eval_problems, seed + 1),
                        samples=cfg.samples, rollouts=cfg.rollouts, seed=seed + 1)
    prm = cfg.target == "prm"
    verifier = ValueModelVerifier(task, (PRMConfig if prm else ORMConfig)(path=str(path)))
    scores, _ = verifier.score_many([s.problem for s in held], [s.steps for s in held])
    auroc = step_auroc(scores if prm else [sc[-1:] for sc in scores],
                       held if prm else [replace(s, soft=s.soft[-1:]) for s in held])
    info = read_info(path) | {"heldout_auroc": auroc, "heldout_solutions": len(held)}
    write_info(path, info)
    return TrainedCheckpoint(path, Cost(flops=info["train_flops"] + label_cost.flops,
                                        wall_s=info["train_wall_s"]), info)


@dataclass(frozen=True)
class ORMTrainConfig(ValueModelConfig):
    target: str = "orm"


TRAINERS.register("prm", config=ValueModelConfig)(Trainer(
    "prm", train, ValueModelConfig, doc="PRM from Monte-Carlo rollout labels (Math-Shepherd)"))
TRAINERS.register("orm", config=ORMTrainConfig)(Trainer(
    "orm", train, ORMTrainConfig, doc="ORM: the outcome label of the same rollouts"))
