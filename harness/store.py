"""Records: one row per (cell, problem), append-only Parquet under runs/<run>/records/.

Each finished cell is one part file, written to a temporary name and renamed (atomic), so
`pandas.read_parquet("runs/<run>/records")` reads every finished record, a crash loses at
most the cell in flight, and a rerun skips cells whose part exists (no duplicate rows).
"""
from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from harness.registry import ConfigError

COLUMNS = ["run", "cell", "cell_hash", "task", "split", "problem_id", "checkpoint", "method",
           "budget", "seed", "answer", "correct", "n_samples", "n_correct", "prompt_tokens",
           "cached_tokens", "generated_tokens", "flops", "wall_s", "error", "trace", "policy_params",
           "train_flops"]


class RunStore:
    """The record store of one run directory."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.records = self.root / "records"

    def part(self, cell_hash: str) -> Path:
        return self.records / f"cell-{cell_hash}.parquet"

    def has(self, cell_hash: str) -> bool:
        return self.part(cell_hash).exists()

    def write(self, cell_hash: str, rows: list[dict]) -> Path:
        """Write one cell's rows atomically."""
        self.records.mkdir(parents=True, exist_ok=True)
        frame = pd.DataFrame(rows, columns=COLUMNS)
        target = self.part(cell_hash)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        frame.to_parquet(tmp, index=False)
        os.replace(tmp, target)
        return target


def load_records(run_dir: str | Path) -> pd.DataFrame:
    """Every record of a run as one DataFrame (a user error if there are none)."""
    records = Path(run_dir) / "records"
    if not records.is_dir() or not any(records.glob("*.parquet")):
        raise ConfigError(f"{run_dir}: no records found (expected {records}/*.parquet)")
    return pd.read_parquet(records)
