"""Checkpoints: the one place that reads and writes `thinkbench.json` (what a trainer records
beside the HF files: training tokens and FLOPs, config, evaluations) and that resolves the
names a matrix may use for a checkpoint (`testbed`, `testbed/step-600`, `testbed/prm`)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.files import atomic_write
from harness.registry import TRAINERS, ConfigError

INFO = "thinkbench.json"

# What builds each kind of testbed alias, named in the error when it is missing.
BUILDERS = {"final": "thinkbench bootstrap", "prm": "thinkbench train-verifier --kind prm",
            "orm": "thinkbench train-verifier --kind orm"}


def read_info(path: str | Path) -> dict[str, Any]:
    """The checkpoint's thinkbench.json ({} when it has none or it is unreadable)."""
    info = Path(path) / INFO
    if not info.is_file():
        return {}
    try:
        data = json.loads(info.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_info(path: str | Path, info: dict[str, Any]) -> None:
    """Write thinkbench.json atomically (merge with `read_info` first to update)."""
    atomic_write(Path(path) / INFO, json.dumps(info, indent=2, default=str).encode())


def train_flops(path: str | Path) -> float:
    """Training FLOPs recorded by thinkbench's trainers (0 when unknown)."""
    return float(read_info(path).get("train_flops", 0.0))


def testbed_home() -> Path:
    """Where the testbed trainer keeps its checkpoints (through the registry: the engine does
    not import baselines)."""
    trainer = TRAINERS.get("testbed")
    assert trainer.home is not None
    return trainer.home(trainer.config())


def resolve_checkpoint(value: str) -> str:
    """`testbed` and `testbed/<sub>` name the bootstrapped testbed; anything else is a path."""
    if value == "testbed" or value.startswith("testbed/"):
        sub = "final" if value == "testbed" else value.split("/", 1)[1]
        home = testbed_home()
        path = home / sub
        if path.is_dir():
            return str(path)
        builder = BUILDERS.get(sub)
        if builder is None and sub.startswith("step-"):
            built = sorted(p.name for p in home.glob("*") if p.is_dir() and not p.name.startswith("."))
            known = ", ".join(f"testbed/{b}" for b in built) or "none yet (run `thinkbench bootstrap`)"
            raise ConfigError(f"checkpoint {value!r} does not exist (built: {known})")
        if builder is None:
            raise ConfigError(f"checkpoint {value!r}: unknown testbed checkpoint (known: testbed, "
                              "testbed/step-N, testbed/prm, testbed/orm)")
        raise ConfigError(f"checkpoint {value!r} is not built yet: run `{builder}` first")
    if not Path(value).expanduser().is_dir():
        raise ConfigError(f"checkpoint {value!r}: no such directory")
    return str(Path(value).expanduser().resolve())
