"""What the code tasks share: code extraction and batched checking in the sandbox."""
from __future__ import annotations

from harness.contracts import Problem, TaskBase, Verdict
from tasks.code.extract import extract_code
from tasks.code.sandbox import run_checks


class CodeTask(TaskBase):
    """A task whose answers are programs; subclasses say how a test program is assembled
    (`program(code, problem)`) and set `timeout_s` and `workers`."""

    timeout_s: float = 10.0
    workers: int = 2

    def extract(self, completion: str) -> str | None:
        return extract_code(completion)

    def check(self, answer: str | None, problem: Problem) -> Verdict:
        return self.check_many([answer], [problem])[0]

    def check_many(self, answers: list[str | None], problems: list[Problem]) -> list[Verdict]:
        """Run every solution with its tests in its own sandbox, `workers` at a time."""
        programs = [self.program(a or "", p) for a, p in zip(answers, problems)]
        return run_checks(programs, self.timeout_s, self.workers)
