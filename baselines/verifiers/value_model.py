"""`prm` and `orm`: a value model from an HF checkpoint scores each step of a solution.

Three kinds of checkpoint load (read from `config.architectures`):
- `*ForTokenClassification` with one label (thinkbench's trained PRM/ORM): the sigmoid of the
  logit at the newline that ends each step;
- `*ForSequenceClassification`: one score for the whole text (an ORM), given to the last step;
- a causal LM read at a step tag, Math-Shepherd style: each step is followed by `step_tag`
  and its score is P("+") / (P("+") + P("-")) at that tag (`label_tokens`).
Per-step scores become one solution score by `aggregate` (last, min, prod, mean).
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch

from harness.compute import inference_cost
from harness.contracts import Cost, Problem, VerifierBase, VerifierConfig
from harness.registry import VERIFIERS, ConfigError

Aggregate = Literal["last", "min", "prod", "mean"]


def layout(task, tokenizer, step_tag: str | None, problem: Problem,
           steps: Sequence[str]) -> tuple[list[int], list[int]]:
    """Token ids of prompt + steps, and the token index that scores each step (the newline
    after it, or the step tag's first token)."""
    sep = f" {step_tag}{task.step_separator}" if step_tag else task.step_separator
    text, marks = task.prompt(problem), []
    for step in steps:
        text += step
        marks.append(len(text) + (1 if step_tag else 0))
        text += sep
    enc = tokenizer(text, return_offsets_mapping=True)
    ids, offsets = list(enc["input_ids"]), enc["offset_mapping"]
    positions = [next((i for i, (a, b) in enumerate(offsets) if a <= mark < b), len(ids) - 1) for mark in marks]
    return ids, positions


@dataclass(frozen=True)
class PRMConfig(VerifierConfig):
    """A process reward model: a score per step, aggregated (default min)."""

    path: str                               # the value model's checkpoint
    aggregate: Aggregate = "min"            # how step scores become one solution score
    step_tag: str | None = None             # causal-LM PRMs: the tag read after each step
    label_tokens: tuple[str, str] = ("+", "-")
    device: str | None = None               # default: cuda when present, else cpu
    batch_size: int = 64

    def validate(self) -> None:
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")


@dataclass(frozen=True)
class ORMConfig(PRMConfig):
    """An outcome reward model: the score at the last step."""

    aggregate: Aggregate = "last"


class ValueModelVerifier(VerifierBase):
    """Step scores from a value model; see the module docstring."""

    def __init__(self, task, cfg: PRMConfig) -> None:
        from transformers import (
            AutoConfig,
            AutoModelForCausalLM,
            AutoModelForSequenceClassification,
            AutoModelForTokenClassification,
            AutoTokenizer,
        )

        path, step_tag = cfg.path, cfg.step_tag
        self.task, self.aggregate, self.step_tag, self.batch_size = task, cfg.aggregate, step_tag, cfg.batch_size
        self.device = cfg.device or ("cuda" if torch.cuda.is_available() else "cpu")
        try:
            config = AutoConfig.from_pretrained(path)
            self.tokenizer = AutoTokenizer.from_pretrained(path)
        except Exception as e:  # noqa: BLE001 - any load failure is a bad checkpoint path
            raise ConfigError(f"verifier {str(path)!r} could not be loaded: {str(e).splitlines()[0]}") from None
        arch = (config.architectures or [""])[0]
        self.head = ("token" if arch.endswith("ForTokenClassification") else
                     "sequence" if arch.endswith("ForSequenceClassification") else "label_token")
        loader = {"token": AutoModelForTokenClassification, "sequence": AutoModelForSequenceClassification,
                  "label_token": AutoModelForCausalLM}[self.head]
        try:
            self.model = loader.from_pretrained(path, attn_implementation="eager").to(self.device).eval()
        except Exception as e:  # noqa: BLE001 - a corrupt or truncated weights file
            raise ConfigError(f"verifier {str(path)!r}: weights could not be loaded "
                              f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})") from None
        self.params = sum(p.numel() for p in self.model.parameters())
        if self.head == "label_token":
            if not step_tag:
                raise ConfigError(f"verifier {str(path)!r} is a causal LM: give its step_tag (e.g. 'ки')")
            self.label_ids = [self.tokenizer.convert_tokens_to_ids(t) for t in cfg.label_tokens]
        pad = self.tokenizer.pad_token_id
        self.pad_id = pad if pad is not None else (self.tokenizer.eos_token_id or 0)

    @torch.inference_mode()
    def score_many(self, problems: Sequence[Problem], steps: Sequence[Sequence[str]]
                   ) -> tuple[list[list[float]], list[Cost]]:
        """Per-step scores of each solution, and what scoring it cost."""
        scores: list[list[float]] = []
        costs: list[Cost] = []
        for start in range(0, len(problems), self.batch_size):
            t0 = time.perf_counter()
            batch = [layout(self.task, self.tokenizer, self.step_tag, p, s) for p, s in zip(problems[start:start + self.batch_size],
                                                         steps[start:start + self.batch_size])]
            width = max(len(ids) for ids, _ in batch)
            ids = torch.full((len(batch), width), self.pad_id, dtype=torch.long)
            mask = torch.zeros_like(ids)
            for i, (row, _) in enumerate(batch):  # right padding: positions stay where they were
                ids[i, :len(row)] = torch.tensor(row)
                mask[i, :len(row)] = 1
            out = self.model(input_ids=ids.to(self.device), attention_mask=mask.to(self.device)).logits.float()
            wall = (time.perf_counter() - t0) / len(batch)
            for i, (row, positions) in enumerate(batch):
                if not positions:
                    scores.append([])
                elif self.head == "token":
                    scores.append(torch.sigmoid(out[i, positions, 0]).tolist())
                elif self.head == "sequence":
                    scores.append([0.5] * (len(positions) - 1) + [float(torch.sigmoid(out[i, 0]))])
                else:
                    pair = out[i, positions][:, self.label_ids].softmax(-1)
                    scores.append(pair[:, 0].tolist())
                costs.append(inference_cost(self.params, len(row), 0, 0, wall))
        return scores, costs


VERIFIERS.register("prm", config=PRMConfig)(ValueModelVerifier)
VERIFIERS.register("orm", config=ORMConfig)(ValueModelVerifier)
