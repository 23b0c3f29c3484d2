"""Records: one row per (cell, problem), append-only Parquet under runs/<run>/records/.

Each finished cell is one part file, written to a temporary name and renamed (atomic), so
`pandas.read_parquet("runs/<run>/records")` reads every finished record, a crash loses at
most the cell in flight, and a rerun skips cells whose part exists (no duplicate rows).
"""
from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from harness.registry import ConfigError

import pyarrow as pa

# One schema for every part file: a column that is all null in one cell (no answer anywhere)
# must not make the parts disagree when pandas reads them as one dataset.
SCHEMA = pa.schema(
    [(c, pa.string()) for c in ("run", "cell", "cell_hash", "task", "split", "problem_id", "checkpoint",
                                "method")]
    + [("budget", pa.int64()), ("seed", pa.int64()), ("answer", pa.string()), ("correct", pa.float64()),
       ("n_samples", pa.int64()), ("n_correct", pa.float64())]
    + [(c, pa.float64()) for c in ("prompt_tokens", "cached_tokens", "generated_tokens", "flops", "wall_s")]
    + [("error", pa.string()), ("trace", pa.string()), ("policy_params", pa.int64()), ("train_flops", pa.float64())])
COLUMNS = SCHEMA.names


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
        pq.write_table(pa.Table.from_pandas(frame, schema=SCHEMA, preserve_index=False), tmp)
        os.replace(tmp, target)
        return target


def load_records(run_dir: str | Path) -> pd.DataFrame:
    """Every record of a run as one DataFrame (a user error if there are none)."""
    records = Path(run_dir) / "records"
    if not records.is_dir() or not any(records.glob("*.parquet")):
        raise ConfigError(f"{run_dir}: no records found (expected {records}/*.parquet)")
    return pd.read_parquet(records)
