"""Competition math: `math` (Hendrycks et al. 2021), `math500` (its 500-problem subset from
"Let's Verify Step by Step") and `aime` (AIME 2024).

Sources: a local JSONL with `problem` and `answer` (or a `solution` whose last `\\boxed{}` is
the answer) as `data`, or the HF datasets when online: `HuggingFaceH4/MATH-500`,
`EleutherAI/hendrycks_math` (all seven subjects), `HuggingFaceH4/aime_2024`. A problem's id
is the row's `id`, else `unique_id` (MATH-500's own), else its row number.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from harness.contracts import Problem
from harness.registry import TASKS, ConfigError
from tasks.jsonl import check_count, read_jsonl, seeded_subset
from tasks.math.base import MathTask, load_hf_rows
from tasks.math.extract import last_boxed

PROMPT = ("Solve the following math problem step by step. Put your final answer within "
          "\\boxed{{}}.\n\n{problem}")
HENDRYCKS_SUBJECTS = ("algebra", "counting_and_probability", "geometry", "intermediate_algebra",
                      "number_theory", "prealgebra", "precalculus")


def row_answer(row: dict) -> str | None:
    """The reference answer of a MATH-style row: `answer`, else the solution's last box."""
    if row.get("answer") not in (None, ""):
        return str(row["answer"])
    return last_boxed(row.get("solution", "") or "")


@dataclass
class CompetitionMath(MathTask):
    """Shared loader for the competition math tasks."""

    data: str | None = None
    prompt_template: str = PROMPT
    name: str = ""
    _rows: dict = field(default_factory=dict, repr=False)

    # (HF dataset, config, split or None for the requested one) per source; set by each task.
    HF_SOURCES: ClassVar[tuple[tuple[str, str | None, str | None], ...]] = ()

    # The splits the HF sources have (a source with a fixed split has that one only).
    HF_SPLITS: ClassVar[tuple[str, ...]] = ("test",)

    @property
    def splits(self) -> tuple[str, ...] | None:
        """The HF source's splits; a `data` file is read whatever the split is called."""
        return None if self.data else self.HF_SPLITS

    def available(self, split: str, n: int) -> tuple[int, bool]:
        """How many of `n` problems the split gives (a data file is counted; a hub dataset is
        not fetched to check: its size is said when the run loads it)."""
        return (min(n, len(self._load(split))), True) if self.data else (n, True)

    def hf_rows(self, split: str) -> list[dict]:
        return [r for name, config, fixed in self.HF_SOURCES
                for r in load_hf_rows(self.name, name, config, fixed or split)]

    def _load(self, split: str) -> list[dict]:
        if split not in self._rows:
            if self.data:
                path = Path(self.data)
                if not path.is_file():
                    raise ConfigError(f"{self.name}: data file {self.data!r} not found")
                self._rows[split] = read_jsonl(path, strings=("problem",))
            else:
                self._rows[split] = self.hf_rows(split)
        return self._rows[split]

    def problems(self, split: str, n: int | None, seed: int) -> list[Problem]:
        rows = self._load(split)
        check_count(self.name, split, len(rows), n)
        out = []
        for i in seeded_subset(len(rows), n, seed):
            row = rows[i]
            answer = row_answer(row)
            if answer is None:
                raise ConfigError(f"{self.name}: row {i}: no `answer` and no \\boxed{{}} in `solution`")
            out.append(Problem(id=str(row.get("id", row.get("unique_id", i))), reference=answer,
                               prompt=self.prompt_template.format(problem=row["problem"]),
                               meta={k: row[k] for k in ("level", "subject", "type") if k in row}))
        return out


@TASKS.register("math500")
@dataclass
class Math500(CompetitionMath):
    """MATH-500: 500 MATH test problems (Lightman et al. 2023), \\boxed answers, math-verify."""

    name: str = "math500"
    HF_SOURCES = (("HuggingFaceH4/MATH-500", None, "test"),)


@TASKS.register("math")
@dataclass
class HendrycksMath(CompetitionMath):
    """MATH (Hendrycks et al. 2021): 7 subjects, answers from the solution's last \\boxed{}."""

    name: str = "math"
    HF_SPLITS = ("train", "test")
    HF_SOURCES = tuple(("EleutherAI/hendrycks_math", s, None) for s in HENDRYCKS_SUBJECTS)


@TASKS.register("aime")
@dataclass
class AIME(CompetitionMath):
    """AIME 2024: 30 problems with integer answers 0-999."""

    name: str = "aime"
    HF_SOURCES = (("HuggingFaceH4/aime_2024", None, "train"),)
