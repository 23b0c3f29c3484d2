"""`mbpp`: Mostly Basic Python Problems (Austin et al. 2021).

Source: a local JSONL in MBPP's format (`task_id`, `text` or `prompt`, `code`, `test_list`,
optional `test_setup_code`/`test_imports`) as `data`, or the HF dataset
`google-research-datasets/mbpp` when online. Prompted the way the MBPP paper does: the task
text plus its tests; checked by running the asserts in the sandbox.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.contracts import Problem
from harness.registry import TASKS, ConfigError
from tasks.code.base import CodeTask
from tasks.hub import load_hf_rows
from tasks.jsonl import check_count, read_jsonl

PROMPT = ("You are an expert Python programmer, and here is your task: {text} "
          "Your code should pass these tests:\n\n{tests}\n")


def load_hf(split: str) -> list[dict]:
    return load_hf_rows("mbpp", "google-research-datasets/mbpp", "full", split)


@TASKS.register("mbpp")
@dataclass
class MBPPTask(CodeTask):
    """MBPP: short Python functions from a description and three asserts, run in the sandbox."""

    data: str | None = None
    timeout_s: float = 10.0
    workers: int = 2
    name: str = "mbpp"

    @property
    def splits(self) -> tuple[str, ...] | None:
        """The HF dataset's splits; a `data` file is read whatever the split is called."""
        return None if self.data else ("train", "test", "validation", "prompt")

    def available(self, split: str, n: int) -> tuple[int, bool]:
        """How many of `n` problems the split gives (a data file is counted; the hub's is not
        fetched to check)."""
        return (min(n, len(self._rows(split))), True) if self.data else (n, True)

    def _rows(self, split: str) -> list[dict]:
        if self.data:
            path = Path(self.data)
            if not path.is_file():
                raise ConfigError(f"mbpp: data file {self.data!r} not found")
            return read_jsonl(path, ("task_id", "test_list"))
        return load_hf(split)

    def problems(self, split: str, n: int | None, seed: int) -> list[Problem]:
        rows = self._rows(split)
        check_count("mbpp", split, len(rows), n)
        out = []
        for i, row in enumerate(rows[:n] if n else rows):
            text = row.get("text", row.get("prompt"))
            if not isinstance(text, str):
                raise ConfigError(f"mbpp: row {i}: field 'text' (or 'prompt') missing")
            setup = row.get("test_setup_code", "") or "\n".join(row.get("test_imports", []) or [])
            out.append(Problem(id=str(row["task_id"]), prompt=PROMPT.format(text=text, tests="\n".join(row["test_list"])),
                               reference={"tests": list(row["test_list"]), "setup": setup},
                               meta={"code": row.get("code", "")}))
        return out

    def program(self, code: str, problem: Problem) -> str:
        return f"{problem.reference['setup']}\n{code}\n\n" + "\n".join(problem.reference["tests"]) + "\n"
