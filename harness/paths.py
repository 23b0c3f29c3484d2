"""Where thinkbench keeps files it builds (checkpoints) outside a run directory."""
from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """THINKBENCH_CACHE, else $XDG_CACHE_HOME/thinkbench, else ~/.cache/thinkbench."""
    if "THINKBENCH_CACHE" in os.environ:
        return Path(os.environ["THINKBENCH_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "thinkbench"


def project_root() -> Path:
    """The source checkout (examples/ lives here when installed with `pip install -e .`)."""
    return Path(__file__).resolve().parents[1]
