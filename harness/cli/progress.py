"""A progress bar with an ETA for long steps (training, evaluation), as a callback."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager


@contextmanager
def progress_bar() -> Iterator[Callable[[str, int, int], None]]:
    """Yields `update(what, done, total)`; a new `total` starts a new bar line."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TextColumn("eta"), TimeRemainingColumn()) as bar:
        jobs: dict[str, int] = {}

        def update(what: str, done: int, total: int) -> None:
            kind = what.split(" ")[0]  # "training ...", "evaluating ...": one bar per kind
            if kind not in jobs:
                jobs[kind] = bar.add_task(what, total=total, completed=done)
            bar.update(jobs[kind], description=what, completed=done, total=total)

        yield update
