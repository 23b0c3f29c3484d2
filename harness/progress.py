"""Progress bars with an ETA: one look for the runner's cells and a trainer's steps."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager


def progress(quiet: bool = False):
    """A rich Progress: description, bar, done/total, elapsed, ETA (hidden when `quiet`)."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    TextColumn("eta"), TimeRemainingColumn(), disable=quiet)


@contextmanager
def progress_bar() -> Iterator[Callable[[str, int, int], None]]:
    """Yields `update(what, done, total)` for a trainer; each kind of work ("training ...",
    "evaluating ...") gets its own bar line."""
    with progress() as bar:
        jobs: dict[str, int] = {}

        def update(what: str, done: int, total: int) -> None:
            kind = what.split(" ")[0]  # "training ...", "evaluating ...": one bar per kind
            if kind not in jobs:
                jobs[kind] = bar.add_task(what, total=total, completed=done)
            bar.update(jobs[kind], description=what, completed=done, total=total)

        yield update
