"""`gsm8k`: grade-school math word problems (Cobbe et al. 2021).

Source: a local JSONL file in GSM8K's own format (`question`, `answer` ending in `#### N`,
optional `id`) given as `data`, the 100 shipped test rows (`data: builtin:gsm8k-test-100`),
or the HF dataset `openai/gsm8k` when `data` is not given and a network is there.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from harness.registry import TASKS, ConfigError
from harness.types import Problem, Verdict
from tasks.base import TaskBase
from tasks.math.numbers import canonical_number, last_number, numbers_equal

BUILTIN = {"builtin:gsm8k-test-100": Path(__file__).parent / "data" / "gsm8k-test-100.jsonl"}
HASH_RE = re.compile(r"####\s*(.+?)\s*$", re.MULTILINE)
ANSWER_IS_RE = re.compile(r"[Tt]he (?:final )?answer is[:\s]*\$?\s*(-?[\d,]*\.?\d+)")
PROMPT = "Question: {question}\nAnswer: Let's think step by step."


def reference_answer(solution: str) -> str:
    """The number after `####` in a GSM8K solution."""
    found = HASH_RE.findall(solution)
    if not found:
        raise ValueError("no '#### N' final answer")
    return found[-1].replace(",", "").strip()


def read_rows(path: Path) -> list[dict]:
    """JSONL rows; a bad line is named by file and line number."""
    rows = []
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise ConfigError(f"{path}:{lineno}: not valid JSON ({e.msg})") from None
            for key in ("question", "answer"):
                if not isinstance(row.get(key), str):
                    raise ConfigError(f"{path}:{lineno}: field {key!r} missing or not a string")
            rows.append(row)
    return rows


def load_hf(split: str) -> list[dict]:
    """GSM8K from the HF hub (needs `datasets` and a network)."""
    try:
        from datasets import load_dataset

        return [dict(r) for r in load_dataset("openai/gsm8k", "main", split=split)]
    except Exception as e:  # noqa: BLE001 - any failure means "not available here"
        raise ConfigError("gsm8k: no `data` file given and the HF dataset openai/gsm8k could not be "
                          f"loaded ({type(e).__name__}); offline, set data: PATH.jsonl or "
                          "data: builtin:gsm8k-test-100") from None


@TASKS.register("gsm8k")
@dataclass
class GSM8KTask(TaskBase):
    """GSM8K with lm-eval-style extraction: `####`, then "The answer is", then the last number."""

    data: str | None = None
    prompt_template: str = PROMPT
    name: str = "gsm8k"
    _rows: dict = field(default_factory=dict, repr=False)

    def _load(self, split: str) -> list[dict]:
        if split not in self._rows:
            if self.data is None:
                self._rows[split] = load_hf(split)
            else:
                path = BUILTIN.get(self.data, Path(self.data))
                if not path.is_file():
                    raise ConfigError(f"gsm8k: data file {self.data!r} not found")
                self._rows[split] = read_rows(path)
        return self._rows[split]

    def problems(self, split: str, n: int | None, seed: int) -> list[Problem]:
        rows = self._load(split)
        index = range(len(rows))
        if n is not None and n < len(rows):  # a seeded subset, kept in file order
            index = sorted(np.random.default_rng(seed).choice(len(rows), size=n, replace=False).tolist())
        out = []
        for i in index:
            row = rows[i]
            try:
                ref = reference_answer(row["answer"])
            except ValueError as e:
                raise ConfigError(f"gsm8k: row {i}: {e}") from None
            out.append(Problem(id=str(row.get("id", i)), reference=ref,
                               prompt=self.prompt_template.format(question=row["question"]),
                               meta={"solution": row["answer"]}))
        return out

    def extract(self, completion: str) -> str | None:
        for rule in (HASH_RE, ANSWER_IS_RE):
            found = rule.findall(completion)
            if found:
                return found[-1].strip()
        return last_number(completion)

    def check(self, answer: str | None, problem: Problem) -> Verdict:
        if answer is None:
            return Verdict(False, "no answer found")
        ok = numbers_equal(answer, problem.reference)
        return Verdict(ok, "equal" if ok else f"expected {problem.reference}")

    def canonical(self, answer: str) -> str:
        return canonical_number(answer)
