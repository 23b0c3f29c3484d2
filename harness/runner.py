"""Run a matrix: load each checkpoint once, solve each cell, write its records, skip finished cells."""
from __future__ import annotations

import json
import shutil
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from harness.matrix import Cell, Matrix, pool_key
from harness.methods import SamplePool, SolveContext
from harness.registry import BACKENDS, VERIFIERS, ConfigError
from harness.store import RunStore
from harness.types import Attempt, Cost, Problem


@dataclass
class RunResult:
    """What a `run` did: cells run now, cells found finished, rows written."""

    ran: int
    skipped: int
    rows: int
    wall_s: float


def train_flops_of(path: str) -> float:
    """Training FLOPs recorded next to a checkpoint by thinkbench's trainers (0 when unknown)."""
    info = Path(path) / "thinkbench.json"
    return float(json.loads(info.read_text()).get("train_flops", 0.0)) if info.is_file() else 0.0


def _rows(run: str, cell: Cell, problems: Sequence[Problem], attempts: list[Attempt],
          params: int, train_flops: float) -> list[dict]:
    by_id = {a.problem_id: a for a in attempts}
    rows = []
    for p in problems:
        a = by_id.get(p.id) or Attempt(p.id, None, Cost(), error="method returned no attempt")
        c = a.cost
        rows.append({
            "run": run, "cell": cell.id, "cell_hash": cell.hash, "task": cell.task.label,
            "split": cell.task.split, "problem_id": p.id, "checkpoint": cell.checkpoint.label,
            "method": cell.method.label, "budget": cell.budget, "seed": cell.seed, "answer": a.answer,
            "correct": float(a.correct) if a.correct is not None else 0.0,
            "n_samples": a.n_samples, "n_correct": a.n_correct, "prompt_tokens": float(c.prompt_tokens),
            "cached_tokens": float(c.cached_tokens), "generated_tokens": float(c.generated_tokens),
            "flops": float(c.flops), "wall_s": float(c.wall_s), "error": a.error,
            "trace": a.traces[0] if a.traces else None, "policy_params": params,
            "train_flops": train_flops})
    return rows


def _check(task, problems: Sequence[Problem], attempts: list[Attempt]) -> None:
    """Fill `correct` where the method left it to the task's checker; errors stay on the row."""
    by_id = {p.id: p for p in problems}
    for a in attempts:
        if a.correct is None and a.error is None:
            try:
                a.correct = float(task.check(a.answer, by_id[a.problem_id]).correct)
            except Exception as e:  # noqa: BLE001 - recorded on the problem's row
                a.correct, a.error = 0.0, f"check failed: {type(e).__name__}: {e}"


def run_matrix(matrix: Matrix, out: str | Path, *, quiet: bool = False) -> RunResult:
    """Run every unfinished cell of `matrix` into the run directory `out`."""
    t0 = time.perf_counter()
    out = Path(out)
    store = RunStore(out)
    out.mkdir(parents=True, exist_ok=True)
    if Path(matrix.source).is_file() and not (out / "matrix.yaml").exists():
        shutil.copyfile(matrix.source, out / "matrix.yaml")
    cells = matrix.cells()
    todo = [c for c in cells if not store.has(c.hash)]
    rows_written = 0
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), disable=quiet) as bar:
        job = bar.add_task(f"{matrix.name}: {len(todo)} cells to run", total=len(todo))
        for ckpt in matrix.checkpoints:
            mine = [c for c in todo if c.checkpoint == ckpt]
            if not mine:
                continue
            bar.update(job, description=f"loading {ckpt.label}")
            policy = BACKENDS.get(ckpt.backend)(ckpt.path, **ckpt.params)
            train_flops = train_flops_of(ckpt.path)
            pools: dict[tuple, SamplePool] = {}
            verifiers: dict[tuple, object] = {}
            for spec in matrix.tasks:
                task = spec.build()
                task_cells = [c for c in mine if c.task == spec]
                if not task_cells:
                    continue
                problems = task.problems(spec.split, spec.n_problems, spec.problem_seed)
                for cell in task_cells:
                    bar.update(job, description=f"{cell.task.label} · {cell.method.label}@{cell.budget} "
                                                f"· seed {cell.seed}")
                    if hasattr(policy, "reset_prefix_cache"):  # a cell's cost must not depend on order
                        policy.reset_prefix_cache()
                    pool = None
                    if cell.method.method.pooled:
                        pool = pools.setdefault(pool_key(cell), SamplePool(cell.pool, cell.seed,
                                                                           cell.method.sampling))
                    verifier = None
                    if cell.method.verifier:
                        vkey = (spec.label, json.dumps(cell.method.verifier, sort_keys=True))
                        if vkey not in verifiers:
                            args = {k: v for k, v in cell.method.verifier.items() if k != "name"}
                            verifiers[vkey] = VERIFIERS.get(cell.method.verifier["name"])(task, **args)
                        verifier = verifiers[vkey]
                    ctx = SolveContext(policy, task, cell.seed, cell.method.sampling, pool,
                                       verifier=verifier, params=dict(cell.method.params))
                    try:
                        attempts = cell.method.method.solve(ctx, problems, cell.budget)
                        _check(task, problems, attempts)
                    except ConfigError:
                        raise
                    except Exception as e:  # noqa: BLE001 - the cell fails, the run goes on
                        error = f"{type(e).__name__}: {e} | {traceback.format_exc(limit=-1).strip()}"
                        attempts = [Attempt(p.id, None, Cost(), correct=0.0, error=error) for p in problems]
                    rows = _rows(out.name, cell, problems, attempts, policy.params, train_flops)
                    store.write(cell.hash, rows)
                    rows_written += len(rows)
                    bar.advance(job)
        bar.update(job, description=f"{matrix.name}: done")
    return RunResult(len(todo), len(cells) - len(todo), rows_written, time.perf_counter() - t0)
