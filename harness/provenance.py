"""Where and with what a run was computed: the report's provenance.

Each `thinkbench run` appends one line to `runs/<run>/sessions.jsonl` (a resumed run has
several sessions, possibly on different machines), so a report can say which code, packages and
hardware produced its numbers.
"""
from __future__ import annotations

import datetime as dt
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

# The packages whose versions change numbers (decoding, checking, training).
PACKAGES = ("thinkbench", "torch", "transformers", "tokenizers", "trl", "math-verify", "sympy",
            "reasoning-gym", "lm-eval", "vllm", "numpy", "pandas")


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def source_commit() -> str | None:
    """The git commit of thinkbench's own source ("+dirty" with uncommitted changes), or None
    for an installed copy outside a checkout."""
    root = Path(__file__).resolve().parent.parent
    if not (root / ".git").exists():
        return None
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"], capture_output=True,
                              text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return head + ("+dirty" if dirty else "")


def devices() -> str:
    """The CUDA devices this process sees, without creating a CUDA context (a context in a Ray
    driver would hold GPU memory and make vLLM fall back to spawning)."""
    import torch

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if not count:
        return "cpu"
    try:
        names = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True,
                               text=True, timeout=10, check=True).stdout.strip().splitlines()
    except (OSError, subprocess.SubprocessError):
        names = []
    return f"{count} x {names[0]}" if names else f"{count} CUDA device(s)"


def environment() -> dict:
    """This process's provenance: date, host, threads, device, Python, package versions, commit."""
    import torch

    device = devices()
    return {
        "started": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "host": platform.node(),
        "platform": platform.platform(terse=True),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "device": device,
        "commit": source_commit(),
        "packages": {p: v for p in PACKAGES if (v := _version(p)) is not None},
    }
