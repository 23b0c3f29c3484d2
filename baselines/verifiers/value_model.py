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
from pathlib import Path

import torch

from baselines.verifiers.aggregate import AGGREGATES
from harness.compute import inference_cost
from harness.registry import VERIFIERS, ConfigError
from harness.types import Cost, Problem


def layout(task, tokenizer, step_tag: str | None, problem: Problem,
           steps: Sequence[str]) -> tuple[list[int], list[int]]:
    """Token ids of prompt + steps, and the token index that scores each step (the newline
    after it, or the step tag's first token)."""
    sep = f" {step_tag}\n" if step_tag else "\n"
    text, marks = task.prompt(problem), []
    for step in steps:
        text += step
        marks.append(len(text) + (1 if step_tag else 0))
        text += sep
    enc = tokenizer(text, return_offsets_mapping=True)
    ids, offsets = list(enc["input_ids"]), enc["offset_mapping"]
    positions = [next((i for i, (a, b) in enumerate(offsets) if a <= mark < b), len(ids) - 1) for mark in marks]
    return ids, positions


class ValueModelVerifier:
    """Step scores from a value model; see the module docstring."""

    def __init__(self, task, path: str | Path, *, aggregate: str = "min", step_tag: str | None = None,
                 label_tokens: tuple[str, str] = ("+", "-"), device: str | None = None,
                 batch_size: int = 64) -> None:
        from transformers import (AutoConfig, AutoModelForCausalLM, AutoModelForSequenceClassification,
                                  AutoModelForTokenClassification, AutoTokenizer)

        if aggregate not in AGGREGATES:
            raise ConfigError(f"unknown aggregate {aggregate!r} (known: {', '.join(AGGREGATES)})")
        self.task, self.aggregate, self.step_tag, self.batch_size = task, aggregate, step_tag, batch_size
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        try:
            config = AutoConfig.from_pretrained(path)
            self.tokenizer = AutoTokenizer.from_pretrained(path)
        except (OSError, ValueError) as e:
            raise ConfigError(f"verifier {str(path)!r} could not be loaded: {str(e).splitlines()[0]}") from None
        arch = (config.architectures or [""])[0]
        self.head = ("token" if arch.endswith("ForTokenClassification") else
                     "sequence" if arch.endswith("ForSequenceClassification") else "label_token")
        loader = {"token": AutoModelForTokenClassification, "sequence": AutoModelForSequenceClassification,
                  "label_token": AutoModelForCausalLM}[self.head]
        self.model = loader.from_pretrained(path, attn_implementation="eager").to(self.device).eval()
        self.params = sum(p.numel() for p in self.model.parameters())
        if self.head == "label_token":
            if not step_tag:
                raise ConfigError(f"verifier {str(path)!r} is a causal LM: give its step_tag (e.g. 'ки')")
            self.label_ids = [self.tokenizer.convert_tokens_to_ids(t) for t in label_tokens]
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


def _value_model(default_aggregate: str, doc: str):
    """A registry factory with explicit arguments (so a matrix's typos fail when it is read)."""

    def build(task, path: str, *, aggregate: str = default_aggregate, step_tag: str | None = None,
              label_tokens: tuple[str, str] = ("+", "-"), device: str | None = None,
              batch_size: int = 64) -> ValueModelVerifier:
        return ValueModelVerifier(task, path, aggregate=aggregate, step_tag=step_tag,
                                  label_tokens=tuple(label_tokens), device=device, batch_size=batch_size)

    build.__doc__ = doc
    return build


prm = VERIFIERS.register("prm")(_value_model("min", "Process reward model: a score per step, aggregated (default min)."))
orm = VERIFIERS.register("orm")(_value_model("last", "Outcome reward model: the score at the last step."))
