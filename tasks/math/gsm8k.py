"""`gsm8k`: grade-school math word problems (Cobbe et al. 2021).

Source: a local JSONL file in GSM8K's own format (`question`, `answer` ending in `#### N`,
optional `id`) given as `data`, the 100 shipped test rows (`data: builtin:gsm8k-test-100`),
or the HF dataset `openai/gsm8k` when `data` is not given and a network is there.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from harness.contracts import Problem
from harness.registry import TASKS, ConfigError
from tasks.jsonl import check_count, read_jsonl, seeded_subset
from tasks.math.base import PERCENT_RE, MathTask, load_hf_rows

BUILTIN = {"builtin:gsm8k-test-100": Path(__file__).parent / "data" / "gsm8k-test-100.jsonl"}
HASH_RE = re.compile(r"####\s*(.+?)\s*$", re.MULTILINE)
PROMPT = "Question: {question}\nAnswer: Let's think step by step."


def reference_answer(solution: str) -> str:
    """The number after `####` in a GSM8K solution."""
    found = HASH_RE.findall(solution)
    if not found:
        raise ValueError("no '#### N' final answer")
    return found[-1].replace(",", "").strip()


@TASKS.register("gsm8k")
@dataclass
class GSM8KTask(MathTask):
    """GSM8K: numeric answers; extraction and equivalence of the math tasks."""

    data: str | None = None
    prompt_template: str = PROMPT
    name: str = "gsm8k"
    _rows: dict = field(default_factory=dict, repr=False)

    @property
    def splits(self) -> tuple[str, ...] | None:
        """openai/gsm8k's splits; a `data` file is read whatever the split is called."""
        return None if self.data else ("train", "test")

    def available(self, split: str, n: int) -> tuple[int, bool]:
        """How many of `n` problems the split gives (a data file is counted; the hub's is not
        fetched to check: its size is said when the run loads it)."""
        return (min(n, len(self._load(split))), True) if self.data else (n, True)

    def _load(self, split: str) -> list[dict]:
        if split not in self._rows:
            if self.data is None:
                self._rows[split] = load_hf_rows("gsm8k", "openai/gsm8k", "main", split)
            else:
                path = BUILTIN.get(self.data, Path(self.data))
                if not path.is_file():
                    raise ConfigError(f"gsm8k: data file {self.data!r} not found")
                self._rows[split] = read_jsonl(path, strings=("question", "answer"))
        return self._rows[split]

    def problems(self, split: str, n: int | None, seed: int) -> list[Problem]:
        rows = self._load(split)
        check_count("gsm8k", split, len(rows), n)
        out = []
        for i in seeded_subset(len(rows), n, seed):
            row = rows[i]
            try:
                ref = reference_answer(row["answer"])
            except ValueError as e:
                raise ConfigError(f"gsm8k: row {i}: {e}") from None
            out.append(Problem(id=str(row.get("id", i)), reference=ref,
                               prompt=self.prompt_template.format(question=row["question"]),
                               meta={"solution": row["answer"],
                                     "percent": bool(PERCENT_RE.search(row["question"]))}))
        return out
