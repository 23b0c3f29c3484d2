"""The run directory: one matrix's records, its failed cells, and the lock of its one writer.

```
runs/<run>/run.json                    which matrix owns the directory (its cells' identities)
runs/<run>/matrix.yaml                 a copy of that matrix
runs/<run>/sessions.jsonl              one line per `thinkbench run`: host, packages, commit (provenance)
runs/<run>/records/cell-<hash>.parquet one file per finished cell (the `Record` schema)
runs/<run>/failures/cell-<hash>.json   a cell that raised: its error; rerun by the next `run`
runs/<run>/.lock                       held by the one `thinkbench run` writing here
```
Each finished cell is written to a temporary name and renamed (atomic), so
`pandas.read_parquet("runs/<run>/records")` reads every finished record, a crash loses at most
the cell in flight, and a rerun skips cells whose part exists (no duplicate rows). A run
directory belongs to one matrix: records of different matrices are never mixed.
"""
from __future__ import annotations

import errno
import fcntl
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
import dataclasses
from dataclasses import asdict
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from harness.contracts import Record
from harness.files import atomic_write, check_writable_dir
from harness.registry import ConfigError

SCHEMA = Record.arrow_schema()
COLUMNS = Record.columns()


class RunStore:
    """The record store of one run directory."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.records = self.root / "records"
        self.failures = self.root / "failures"
        self.manifest = self.root / "run.json"

    def part(self, cell_hash: str) -> Path:
        return self.records / f"cell-{cell_hash}.parquet"

    def failure(self, cell_hash: str) -> Path:
        return self.failures / f"cell-{cell_hash}.json"

    def has(self, cell_hash: str) -> bool:
        return self.part(cell_hash).exists()

    def prepare(self) -> None:
        """Check, before any cell is computed, that records and failures can be written."""
        check_writable_dir(self.root)
        check_writable_dir(self.records, "records directory")
        check_writable_dir(self.failures, "failures directory")

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the run directory's lock: one `thinkbench run` writes a run at a time."""
        path = self.root / ".lock"
        fh = open(path, "a+")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            fh.close()
            if e.errno in (errno.EAGAIN, errno.EACCES):
                raise ConfigError(f"{self.root}: in use by another `thinkbench run` ({holder}); "
                                  "wait for it to finish or use another --out") from None
            raise
        try:
            fh.seek(0)
            fh.truncate()
            fh.write(f"pid {os.getpid()}, since {time.strftime('%H:%M:%S')}")
            fh.flush()
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
            fh.close()

    def owner(self) -> dict | None:
        """The manifest of the matrix that owns this directory (None: a new directory)."""
        if not self.manifest.is_file():
            return None
        try:
            return json.loads(self.manifest.read_text())
        except (OSError, ValueError):
            return {}

    def stored_cells(self) -> set[str]:
        """Hashes of every cell with records or a failure here."""
        found = {p.stem.removeprefix("cell-") for p in self.records.glob("cell-*.parquet")}
        return found | {p.stem.removeprefix("cell-") for p in self.failures.glob("cell-*.json")}

    def adopt(self, name: str, fingerprint: str, cells: dict[str, str], source: str | None,
              prune: bool = False) -> int:
        """Make this directory the matrix's; with `prune`, drop the stored cells it does not
        name (returns how many). Without it, a directory owned by another matrix is refused."""
        owner = self.owner()
        stale = self.stored_cells() - set(cells)
        if not prune and ((owner is not None and owner.get("fingerprint") != fingerprint)
                          or (owner is None and stale)):
            kept = len(self.stored_cells() & set(cells))
            raise ConfigError(
                f"{self.root}: holds the results of a different matrix ({len(stale)} stored cells it does "
                f"not name, {kept} it shares); rerun with --new-version to start a new run directory, "
                "or --prune to keep only the cells this matrix names")
        for h in stale:
            self.part(h).unlink(missing_ok=True)
            self.failure(h).unlink(missing_ok=True)
        atomic_write(self.manifest, json.dumps({"matrix": name, "fingerprint": fingerprint, "cells": cells},
                                               indent=1).encode())
        if source and Path(source).is_file():
            atomic_write(self.root / "matrix.yaml", Path(source).read_bytes())
        return len(stale)

    def log_session(self, info: dict) -> None:
        """Append one `thinkbench run` session's provenance (`harness.provenance.environment`)."""
        path = self.root / "sessions.jsonl"
        old = path.read_bytes() if path.is_file() else b""
        atomic_write(path, old + (json.dumps(info, sort_keys=True, default=str) + "\n").encode())

    def write(self, cell_hash: str, records: list[Record]) -> Path:
        """Write one finished cell's records atomically; its old failure, if any, is gone."""
        frame = pd.DataFrame([asdict(r) for r in records], columns=COLUMNS)
        target = self.part(cell_hash)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        try:
            pq.write_table(pa.Table.from_pandas(frame, schema=SCHEMA, preserve_index=False), tmp)
            os.replace(tmp, target)
        except OSError as e:
            tmp.unlink(missing_ok=True)
            raise ConfigError(f"{target}: cannot write records ({e.strerror or e})") from None
        self.failure(cell_hash).unlink(missing_ok=True)
        return target

    def fail(self, cell_hash: str, info: dict) -> None:
        """Keep a failed cell's error; the cell stays unfinished and reruns next time."""
        atomic_write(self.failure(cell_hash), json.dumps(info, indent=1, default=str).encode())


def next_version(root: Path) -> Path:
    """`runs/NAME-v2`, `-v3`, ...: the first that does not exist yet."""
    base = root.name.rsplit("-v", 1)[0] if root.name.rsplit("-v", 1)[-1].isdigit() else root.name
    n = 2
    while (root.parent / f"{base}-v{n}").exists():
        n += 1
    return root.parent / f"{base}-v{n}"


def load_failures(run_dir: str | Path) -> pd.DataFrame:
    """The run's failed cells (task, checkpoint, method, budget, seed, error), maybe empty."""
    rows = []
    for path in sorted((Path(run_dir) / "failures").glob("cell-*.json")):
        try:
            rows.append(json.loads(path.read_text()))
        except (OSError, ValueError):
            continue
    return pd.DataFrame(rows, columns=["cell", "task", "checkpoint", "method", "budget", "seed", "error"])


def load_sessions(run_dir: str | Path) -> list[dict]:
    """The run's sessions (oldest first), as `RunStore.log_session` wrote them; unreadable lines skipped."""
    path = Path(run_dir) / "sessions.jsonl"
    if not path.is_file():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


def load_records(run_dir: str | Path) -> pd.DataFrame:
    """Every record of a run as one DataFrame (a user error if there are none)."""
    records = Path(run_dir) / "records"
    if not records.is_dir() or not any(records.glob("*.parquet")):
        failed = len(load_failures(run_dir))
        extra = f"; {failed} cells failed (see {Path(run_dir) / 'failures'})" if failed else ""
        raise ConfigError(f"{run_dir}: no records found (expected {records}/*.parquet){extra}")
    parts = []
    for part in sorted(records.glob("*.parquet")):
        try:
            df = pd.read_parquet(part)
        except Exception as e:  # noqa: BLE001 - a torn copy or not a Parquet file
            raise ConfigError(f"{part}: records could not be read ({type(e).__name__}: "
                              f"{str(e).splitlines()[0] if str(e) else ''})") from None
        # A part written before a column existed reads with that column's default (a run
        # resumed across versions), so every run has the one Record schema.
        for f in dataclasses.fields(Record):
            if f.name not in df.columns:
                df[f.name] = f.default
        parts.append(df)
    return pd.concat(parts, ignore_index=True)
