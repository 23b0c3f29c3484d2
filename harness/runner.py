"""Run a matrix as plan → execute → write.

- `plan(matrix, finished)`: the unfinished cells grouped into work units, one per checkpoint
  (a checkpoint is loaded once per unit).
- `execute(unit)`: a pure function of the unit that yields one `CellOutcome` per cell: its
  records, or its error. It touches no files: it is what a Ray task will run elsewhere.
- `run_matrix`: checks the run directory, takes its lock, and writes each outcome as it comes:
  a finished cell's records atomically, a failed cell's error to `failures/` (never as a
  finished cell: it reruns next time).
"""
from __future__ import annotations

import json
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from harness.checkpoint import post_train_flops, train_flops
from harness.config import config_dict
from harness.contracts import Attempt, Cost, Problem, Record, content_hash
from harness.files import atomic_write
from harness.matrix import Cell, CheckpointSpec, Matrix, TaskSpec, describe, pool_key
from harness.methods import SamplePool, SolveContext
from harness.progress import CellActivity, progress
from harness.provenance import environment
from harness.registry import BACKENDS, VERIFIERS, ConfigError
from harness.store import RunStore, next_version
from harness.trained import ensure_trained


@dataclass(frozen=True)
class WorkUnit:
    """Cells that share a checkpoint: loaded once, run in order."""

    run: str
    checkpoint: CheckpointSpec
    tasks: tuple[TaskSpec, ...]
    cells: tuple[Cell, ...]


@dataclass
class CellOutcome:
    """What executing one cell gave: its records, or the error that stopped it."""

    cell: Cell
    records: list[Record] = field(default_factory=list)
    error: str | None = None


@dataclass
class RunResult:
    """What a `run` did: cells run now, found finished, failed; rows written; where."""

    ran: int
    skipped: int
    rows: int
    wall_s: float
    failed: int = 0
    out: Path | None = None
    pruned: int = 0


def plan(matrix: Matrix, finished: set[str], run: str) -> list[WorkUnit]:
    """The cells not yet finished, one work unit per checkpoint (matrix order)."""
    todo = [c for c in matrix.cells() if c.hash not in finished]
    return [WorkUnit(run, ckpt, matrix.tasks, tuple(c for c in todo if c.checkpoint == ckpt))
            for ckpt in matrix.checkpoints if any(c.checkpoint == ckpt for c in todo)]


def describe_backend(config: object, settings: dict[str, object]) -> str:
    """The backend config as recorded: its fields, with `auto`/unset ones as the policy resolved them."""
    return json.dumps({**config_dict(config), **settings}, sort_keys=True, default=str)


def records_of(run: str, cell: Cell, problems: Sequence[Problem], attempts: list[Attempt],
               params: int, trained_flops: float, settings: dict[str, object] | None = None,
               post_trained_flops: float = 0.0) -> list[Record]:
    """One Record per problem (a problem the method skipped gets a row with its error).
    `settings`: what the policy resolved its config to, recorded with the backend config."""
    by_id = {a.problem_id: a for a in attempts}
    method, verifier = cell.method, cell.method.verifier
    shared = dict(run=run, cell=cell.id, cell_hash=cell.hash, task=cell.task.label, split=cell.task.split,
                  checkpoint=cell.checkpoint.label, checkpoint_path=cell.checkpoint.path,
                  backend=cell.checkpoint.backend, backend_config=describe_backend(cell.checkpoint.config, settings or {}),
                  method=method.label,
                  method_name=method.name, method_config=describe(method.config),
                  verifier=verifier.name if verifier else None,
                  verifier_config=describe(verifier.config) if verifier else None,
                  sampling=describe(method.sampling), budget=cell.budget, seed=cell.seed,
                  policy_params=params, train_flops=trained_flops, post_train_flops=post_trained_flops)
    rows = []
    for p in problems:
        a = by_id.get(p.id) or Attempt(p.id, None, Cost(), error="method returned no attempt")
        c = a.cost
        rows.append(Record(**shared, problem_id=p.id, prompt_hash=content_hash(p.prompt),
                           reference_hash=content_hash(p.reference), answer=a.answer,
                           correct=float(a.correct) if a.correct is not None else 0.0,
                           n_samples=a.n_samples, n_correct=a.n_correct,
                           prompt_tokens=float(c.prompt_tokens), cached_tokens=float(c.cached_tokens),
                           generated_tokens=float(c.generated_tokens), flops=float(c.flops),
                           wall_s=float(c.wall_s), error=a.error, trace=a.traces[0] if a.traces else None,
                           tree=a.tree))
    return rows


def _check(task, problems: Sequence[Problem], attempts: list[Attempt]) -> None:
    """Fill `correct` where the method left it to the task's checker; errors stay on the row."""
    by_id = {p.id: p for p in problems}
    todo = [a for a in attempts if a.correct is None and a.error is None]
    try:
        verdicts = task.check_many([a.answer for a in todo], [by_id[a.problem_id] for a in todo])
        for a, v in zip(todo, verdicts):
            a.correct = float(v.correct)
    except Exception:  # noqa: BLE001 - one by one, to pin the failure on its problem's row
        for a in todo:
            try:
                a.correct = float(task.check(a.answer, by_id[a.problem_id]).correct)
            except Exception as e:  # noqa: BLE001 - recorded on the problem's row
                a.correct, a.error = 0.0, f"check failed: {type(e).__name__}: {e}"


def execute(unit: WorkUnit, on_cell: Callable[[Cell], None] | None = None,
            on_activity: Callable[[Cell, str], None] | None = None) -> Iterator[CellOutcome]:
    """Run a unit's cells; yields each cell's outcome as soon as it is known. A cell that
    raises yields its error (and the unit goes on); a user mistake (ConfigError) propagates.
    `on_activity(cell, text)`: what the running cell is doing (calls, tokens/s), every second."""
    ckpt = unit.checkpoint
    policy = BACKENDS.get(ckpt.backend)(ckpt.path, ckpt.config)
    trained, post_trained = train_flops(ckpt.path), post_train_flops(ckpt.path)
    pools: dict[tuple, SamplePool] = {}
    verifiers: dict[tuple, object] = {}
    for spec in unit.tasks:
        cells = [c for c in unit.cells if c.task == spec]
        if not cells:
            continue
        task = spec.build()
        problems = task.problems(spec.split, spec.n_problems, spec.problem_seed)
        for cell in cells:
            if on_cell:
                on_cell(cell)
            activity = CellActivity(lambda text, cell=cell: on_activity(cell, text) if on_activity else None)
            pool = None
            if cell.method.method.pooled:
                pool = pools.setdefault(pool_key(cell), SamplePool(cell.pool, cell.seed, cell.method.sampling))
            # Everything that touches the policy or a verifier is the cell's: if it raises (a
            # dead engine, a lost server) the cell fails and the run goes on.
            try:
                policy.reset_cache()  # a cell's cost must not depend on what ran before it
                verifier = None
                if cell.method.verifier:
                    v = cell.method.verifier
                    key = (spec.label, v)
                    if key not in verifiers:
                        verifiers[key] = VERIFIERS.get(v.name)(task, v.config)
                    verifier = verifiers[key]
                    verifier.reset_cache()
                ctx = SolveContext(activity.wrap(policy), task, cell.seed, cell.method.sampling, pool, verifier,
                                   cell.method.config)
                attempts = cell.method.method.solve(ctx, problems, cell.budget)
                _check(task, problems, attempts)
            except ConfigError:
                raise
            except Exception as e:  # noqa: BLE001 - the cell fails, the run goes on
                yield CellOutcome(cell, error=f"{type(e).__name__}: {e}\n{traceback.format_exc(limit=-3)}")
                continue
            finally:
                activity.close()
            yield CellOutcome(cell, records_of(unit.run, cell, problems, attempts, policy.params, trained,
                                                policy.settings(), post_trained))


def run_matrix(matrix: Matrix, out: str | Path, *, quiet: bool = False, prune: bool = False,
               new_version: bool = False, ray: str | None = None) -> RunResult:
    """Run every unfinished cell of `matrix` into the run directory `out` (see module doc).

    `ray`: None runs the units here, one after another; "local" starts a Ray instance on this
    machine and an address joins a cluster: the units run as Ray tasks and this process writes
    what they return (`harness.ray_executor`). Trained checkpoints are made here first.
    """
    t0 = time.perf_counter()
    out = Path(out)
    cells = matrix.cells()
    if new_version and (RunStore(out).owner() is not None or RunStore(out).stored_cells()):
        out = next_version(out)
    store = RunStore(out)
    store.prepare()
    with store.lock(), _claim_kept_on_success(store):
        pruned = store.adopt(matrix.name, matrix.fingerprint(), {c.hash: c.id for c in cells}, matrix.source,
                             prune=prune)
        units = plan(matrix, {c.hash for c in cells if store.has(c.hash)}, out.name)
        total = sum(len(u.cells) for u in units)
        if total:  # the driver's session (with --ray each unit's worker logs its own too)
            store.log_session(environment() | {"matrix": matrix.name, "cells": total,
                                               "executor": "local" if ray is None else f"ray:{ray} (driver)"})
        rows = failed = 0
        with progress(quiet) as bar:
            job = bar.add_task(f"{matrix.name}: {total} cells to run", total=total)
            ready = []
            for unit in units:
                error = _train(unit.checkpoint, bar) if unit.checkpoint.train is not None else None
                if error is None:
                    ready.append(unit)
                    continue
                for cell in unit.cells:  # every cell of this checkpoint fails; the run goes on
                    failed += 1
                    store.fail(cell.hash, _failure(cell, error))
                    bar.advance(job)

            def show(c: Cell, doing: str = "") -> None:
                bar.update(job, description=f"{c.task.label} · {c.method.label}@{c.budget} · seed {c.seed}"
                           + (f" · {doing}" if doing else ""))

            if ray is None or not ready:
                outcomes = (o for unit in ready for o in execute(unit, show, show))
            else:
                from harness.ray_executor import ray_outcomes

                bar.update(job, description=f"{len(ready)} units on Ray")
                # Each unit's worker logs where it ran: the records are its, not this driver's.
                outcomes = ray_outcomes(ready, None if ray == "local" else ray,
                                        lambda env: store.log_session(env | {"matrix": matrix.name,
                                                                             "executor": f"ray:{ray}"}))
            for outcome in outcomes:
                cell = outcome.cell
                if outcome.error is None:
                    store.write(cell.hash, outcome.records)
                    rows += len(outcome.records)
                else:
                    failed += 1
                    store.fail(cell.hash, _failure(cell, outcome.error))
                bar.advance(job)
            bar.update(job, description=f"{matrix.name}: done")
    return RunResult(total, len(cells) - total, rows, time.perf_counter() - t0, failed, out, pruned)


@contextmanager
def _claim_kept_on_success(store: RunStore) -> Iterator[None]:
    """A run that dies on a user mistake (ConfigError) gives back its claim on the directory:
    the manifest (and matrix copy) are what they were before, so the corrected matrix adopts
    the directory and keeps the cells already written (they are the same cells)."""
    saved = {path: path.read_bytes() if path.is_file() else None
             for path in (store.manifest, store.root / "matrix.yaml")}
    try:
        yield
    except ConfigError:
        for path, old in saved.items():
            if old is None:
                path.unlink(missing_ok=True)
            else:
                atomic_write(path, old)
        raise


def _failure(cell: Cell, error: str) -> dict:
    """What `failures/cell-<hash>.json` holds for a cell that did not finish."""
    return {"cell": cell.id, "task": cell.task.label, "checkpoint": cell.checkpoint.label,
            "method": cell.method.label, "budget": cell.budget, "seed": cell.seed, "error": error,
            "at": time.strftime("%Y-%m-%d %H:%M:%S")}


def _train(ckpt: CheckpointSpec, bar) -> str | None:
    """Build a `train:` checkpoint unless it is cached, with its own progress line; the error
    text if training failed (a ConfigError, a user mistake, propagates)."""
    spec = ckpt.train
    assert spec is not None
    job = bar.add_task(f"training {ckpt.label}", total=spec.budget)

    def update(what: str, done: int, total: int) -> None:
        bar.update(job, description=f"{ckpt.label}: {what}", completed=done, total=total)

    try:
        _, _, reused = ensure_trained(spec, progress=update)
    except ConfigError:
        raise
    except Exception as e:  # noqa: BLE001 - recorded on each of its cells
        bar.remove_task(job)
        return f"training {ckpt.label} failed: {type(e).__name__}: {e}\n{traceback.format_exc(limit=-3)}"
    bar.update(job, description=f"{ckpt.label}: {'cached' if reused else 'trained'}", completed=spec.budget)
    return None
