"""Reading task data files: JSONL (optionally gzipped), every bad row named by file and line."""
from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np

from harness.registry import ConfigError


def read_jsonl(path: Path, required: tuple[str, ...] = (), strings: tuple[str, ...] = ()) -> list[dict]:
    """Rows of a .jsonl or .jsonl.gz file; `required` fields must be present, `strings` must be str."""
    opener = gzip.open if path.suffix == ".gz" else open
    rows = []
    try:
        with opener(path, "rt", encoding="utf-8") as fh:
            lines = list(fh)
    except (UnicodeDecodeError, OSError, EOFError) as e:  # binary, not gzip, truncated gzip
        raise ConfigError(f"{path}: not a readable JSONL file ({type(e).__name__})") from None
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise ConfigError(f"{path}:{lineno}: not valid JSON ({e.msg})") from None
        if not isinstance(row, dict):
            raise ConfigError(f"{path}:{lineno}: not a JSON object")
        for key in required:
            if key not in row:
                raise ConfigError(f"{path}:{lineno}: field {key!r} missing")
        for key in strings:
            if not isinstance(row.get(key), str):
                raise ConfigError(f"{path}:{lineno}: field {key!r} missing or not a string")
        rows.append(row)
    return rows


def check_count(task: str, split: str, size: int, n: int | None) -> None:
    """A ConfigError when `n` problems are asked of a split of `size` rows (never fewer, silently)."""
    if n is not None and n > size:
        raise ConfigError(f"{task}: n_problems {n} is more than the {split} split holds ({size} problems)")


def seeded_subset(size: int, n: int | None, seed: int) -> list[int]:
    """Row indices: all of them, or a seeded random n of them kept in file order."""
    if n is None or n >= size:
        return list(range(size))
    return sorted(np.random.default_rng(seed).choice(size, size=n, replace=False).tolist())
