"""lm-eval's TaskManager, built once per process and include path, and only as big as needed.

Indexing lm-eval's thousands of built-in task YAMLs takes 10-30 s; a local task (a YAML under
`include_path`) needs none of them. So names found under `include_path` alone resolve with a
manager over that directory (milliseconds); any other name gets the full index."""
from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any


@lru_cache(maxsize=8)
def _manager(include_path: str | None, defaults: bool) -> Any:
    from lm_eval.tasks import TaskManager

    return TaskManager(include_path=include_path, include_defaults=defaults)


def task_manager(include_path: str | None, names: Sequence[str]) -> Any:
    """A TaskManager that knows every name in `names` if lm-eval knows it (built once)."""
    if include_path:
        local = _manager(include_path, False)
        if all(name in local.all_tasks for name in names):
            return local
    return _manager(include_path, True)
