"""Writing files so that a user's disk never holds half of one: checked first, atomic always."""
from __future__ import annotations

import os
from pathlib import Path

from harness.registry import ConfigError


def check_writable_dir(path: Path, what: str = "run directory") -> None:
    """Make `path` (a directory) or say in one line why it cannot be: it is a file, it sits
    under a file, or the disk refuses a write (read-only, full). Checked before any work."""
    for parent in [path, *path.parents]:
        if parent.exists() and not parent.is_dir():
            where = "is a file" if parent == path else f"sits under a file ({parent})"
            raise ConfigError(f"{path}: {what} {where}")
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".probe-{os.getpid()}"
        with open(probe, "wb") as fh:
            fh.write(b"x" * 4096)
            fh.flush()
            os.fsync(fh.fileno())
        probe.unlink()
    except OSError as e:
        raise ConfigError(f"{path}: cannot write the {what} ({e.strerror or e})") from None


def atomic_write(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary file and a rename; on failure (a full disk)
    the old file stays and the temporary is removed."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise ConfigError(f"{path}: cannot write ({e.strerror or e})") from None
