"""Checkpoints a trainer makes from a base: what identifies one, where it lives, and building it
once. A matrix's `train:` section and `thinkbench train` both go through `ensure_trained`, so a
rerun with the same (trainer and its code, base, task, budget, seed, config) finds the
checkpoint and does not retrain."""
from __future__ import annotations

import fcntl
import functools
import hashlib
import json
import sys
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from harness.checkpoint import read_info, write_info
from harness.paths import cache_dir
from harness.registry import TRAINERS

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class TrainSpec:
    """One trainer run: `trainer` from checkpoint `base` on `task`'s train split for `budget`
    steps with `seed` and the typed `config`."""

    trainer: str
    base: str            # resolved checkpoint directory ("" for a trainer that starts from scratch)
    task: str            # registered task name
    task_params: tuple   # sorted (name, value) pairs
    budget: int
    seed: int
    config: Any
    base_spec: TrainSpec | None = None  # the base is itself a trainer's checkpoint (a chain)

    def key(self) -> str:
        """Identity of the checkpoint: everything that changes its weights, the base's own
        identity included (a trained base: its spec's key, known before it is built; else its
        thinkbench.json and weight files' sizes and times)."""
        base_id = self.base_spec.key() if self.base_spec else _dir_identity(Path(self.base))
        ident = {"trainer": self.trainer, "code": trainer_code(self.trainer), "base": self.base,
                 "base_id": base_id, "task": self.task, "task_params": self.task_params,
                 "budget": self.budget, "seed": self.seed, "config": asdict(self.config)}
        return hashlib.sha256(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()[:12]

    def default_path(self) -> Path:
        """Where the checkpoint is cached: $THINKBENCH_CACHE/trained/<trainer>-<key>."""
        return cache_dir() / "trained" / f"{self.trainer}-{self.key()}"


@functools.lru_cache(maxsize=None)
def trainer_code(name: str) -> str:
    """A version of trainer `name`'s code: a hash of the source of the module that defines it
    and of the modules of its own package it uses (`baselines.train.tuning`, the value model),
    so a fix to a trainer makes a new checkpoint instead of finding the old one."""
    module = sys.modules[TRAINERS.get(name).train.__module__]
    package = module.__name__.split(".")[0]
    used = {module.__name__}
    for value in vars(module).values():
        owner = value.__name__ if isinstance(value, types.ModuleType) else getattr(value, "__module__", None)
        if isinstance(owner, str) and owner.split(".")[0] == package:
            used.add(owner)
    digest = hashlib.sha256()
    for mod in sorted(used):
        source = getattr(sys.modules.get(mod), "__file__", None)
        digest.update(mod.encode() + b"\0" + (Path(source).read_bytes() if source else b"") + b"\0")
    return digest.hexdigest()[:12]


def _dir_identity(path: Path) -> dict:
    if not path.is_dir():
        return {}
    files = sorted(p for p in path.iterdir() if p.suffix in (".safetensors", ".bin"))
    return {"info": read_info(path), "weights": [(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in files]}


def is_built(spec: TrainSpec, path: Path) -> bool:
    """Whether `path` holds the finished checkpoint of `spec`. A chain's key is its base's spec,
    so it also checks that the base is the one it was trained from (a base rebuilt since, by
    newer code say, makes the chain stale)."""
    info = read_info(path)
    if info.get("train_key") != spec.key():
        return False
    return spec.base_spec is None or info.get("base_identity") == _as_json(_dir_identity(Path(spec.base)))


def _as_json(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


@contextmanager
def _lock(path: Path) -> Iterator[None]:
    """One builder per checkpoint: a second waits, then finds it built."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def ensure_trained(spec: TrainSpec, out: Path | None = None, progress: Progress | None = None
                   ) -> tuple[Path, dict, bool]:
    """Build the checkpoint of `spec` in `out` (default: its cache path) unless it is there.
    Returns (path, its thinkbench.json, whether it was reused)."""
    path = Path(out) if out is not None else spec.default_path()
    if spec.base_spec is not None:  # a chain: its base first (found in the cache when built)
        ensure_trained(spec.base_spec, Path(spec.base), progress)
    with _lock(path):
        if is_built(spec, path):
            return path, read_info(path), True
        from harness.matrix import build_task  # late: the matrix module builds TrainSpecs

        trainer = TRAINERS.get(spec.trainer)
        task = build_task(spec.task, dict(spec.task_params))
        base = Path(spec.base) if spec.base else None  # the testbed trains from scratch
        result = trainer.train(base, task, spec.budget, spec.seed, spec.config, path, progress)
        info = read_info(result.path) | {"train_key": spec.key()}
        if spec.base_spec is not None:
            info["base_identity"] = _as_json(_dir_identity(Path(spec.base)))
        write_info(result.path, info)
        return Path(result.path), info, False
