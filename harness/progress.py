"""Progress a user can see: bars on a terminal, plain periodic lines into a file or pipe.

- `progress(quiet)` gives a `Bars`: `add_task`, `update`, `advance`, `remove_task` (rich's names).
  On a terminal it draws rich bars; otherwise it prints one plain line per task every
  `THINKBENCH_PROGRESS_S` seconds (default 30) and when a task finishes, so a log shows
  that training is alive (it printed nothing for 39 minutes into a pipe, issue 19).
- ETAs come from a smoothed rate (`Rate`: an exponential average of seconds per unit), so
  one slow or fast unit does not swing them (ETAs jumped from 0:30:13 to 0:00:05).
- `CellActivity`: what a running cell is doing (generate calls, prompts, tokens through the
  model and tokens/s), shown on the cell's line while the cell runs.
"""
from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TextIO

PLAIN_EVERY_S = 30.0


class Rate:
    """Seconds per unit, exponentially averaged over about `half_life` units (a unit that
    takes 30x the others moves the ETA by about 3x, not 30x; 10 normal ones bring it back)."""

    def __init__(self, half_life: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.half_life, self.clock = half_life, clock
        self.last_t = clock()
        self.last_done = 0.0
        self.per_unit: float | None = None

    def update(self, done: float) -> None:
        """Record that `done` units are finished now."""
        now = self.clock()
        if done < self.last_done:  # restarted (a new phase): start over
            self.last_done, self.last_t, self.per_unit = done, now, None
            return
        units = done - self.last_done
        if units <= 0:
            return  # no news: a unit in progress is not a rate yet
        per_unit = (now - self.last_t) / units
        weight = 1 - 0.5 ** (units / self.half_life)
        self.per_unit = per_unit if self.per_unit is None else (1 - weight) * self.per_unit + weight * per_unit
        self.last_done, self.last_t = done, now

    @property
    def rate(self) -> float | None:
        """Units per second (None until a unit finished)."""
        return None if not self.per_unit else 1 / self.per_unit

    def eta_s(self, done: float, total: float | None) -> float | None:
        """Seconds left at the smoothed rate (None until there is a rate)."""
        if total is None or self.per_unit is None:
            return None
        return max(0.0, (total - done) * self.per_unit)


def clock_text(seconds: float | None) -> str:
    """0:04:05, or -:--:-- when unknown."""
    if seconds is None:
        return "-:--:--"
    s = int(round(seconds))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


@dataclass
class _Task:
    description: str
    total: float | None
    completed: float = 0.0
    rate: Rate = field(default_factory=Rate)
    started: float = field(default_factory=time.monotonic)
    printed: float = float("-inf")  # the first update prints
    finished: bool = False

    def line(self) -> str:
        done = f"{self.completed:g}/{self.total:g}" if self.total is not None else f"{self.completed:g}"
        elapsed = time.monotonic() - self.started
        return (f"{self.description}: {done} · {clock_text(elapsed)} elapsed · "
                f"eta {clock_text(self.rate.eta_s(self.completed, self.total))}")


class Bars:
    """Tasks with done/total and a smoothed ETA, drawn by rich on a terminal, else as plain lines."""

    def __init__(self, quiet: bool = False, out: TextIO | None = None, plain: bool | None = None,
                 every_s: float | None = None) -> None:
        self.out = out or sys.stderr
        self.quiet = quiet
        self.plain = (not _is_terminal(self.out)) if plain is None else plain
        self.every_s = every_s if every_s is not None else float(os.environ.get("THINKBENCH_PROGRESS_S", PLAIN_EVERY_S))
        self.tasks: dict[int, _Task] = {}
        self._rich = None
        self._ids: dict[int, Any] = {}

    def __enter__(self) -> Bars:
        if not self.quiet and not self.plain:
            self._rich = _rich_progress(self.out)
            self._rich.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._rich is not None:
            self._rich.__exit__(*exc)
            self._rich = None

    def add_task(self, description: str, total: float | None = None, completed: float = 0) -> int:
        """A new line; returns its id."""
        tid = len(self.tasks)
        self.tasks[tid] = _Task(description, total, completed)
        self.tasks[tid].rate.update(completed)
        if self._rich is not None:
            self._ids[tid] = self._rich.add_task(description, total=total, completed=completed, eta="-:--:--")
        self._show(tid)
        return tid

    def update(self, tid: int, *, description: str | None = None, completed: float | None = None,
               total: float | None = None, advance: float | None = None) -> None:
        """Change a task's text, progress or size."""
        t = self.tasks[tid]
        if description is not None:
            t.description = description
        if total is not None:
            t.total = total
        if advance is not None:
            t.completed += advance
        if completed is not None:
            t.completed = completed
        t.rate.update(t.completed)
        self._show(tid)

    def advance(self, tid: int, amount: float = 1) -> None:
        self.update(tid, advance=amount)

    def remove_task(self, tid: int) -> None:
        self.tasks.pop(tid)
        if self._rich is not None:
            self._rich.remove_task(self._ids.pop(tid))

    def _show(self, tid: int) -> None:
        t = self.tasks[tid]
        if self.quiet:
            return
        if self._rich is not None:
            self._rich.update(self._ids[tid], description=t.description, completed=t.completed, total=t.total,
                              eta=clock_text(t.rate.eta_s(t.completed, t.total)))
            return
        now = time.monotonic()
        done = t.total is not None and t.completed >= t.total
        if done and t.finished:
            return
        if done or now - t.printed >= self.every_s:
            t.printed, t.finished = now, done
            print(t.line(), file=self.out, flush=True)


def _is_terminal(out: TextIO) -> bool:
    try:
        return out.isatty()
    except (AttributeError, ValueError):
        return False


def _rich_progress(out: TextIO):
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    TextColumn("eta {task.fields[eta]}"), console=Console(file=out))


def progress(quiet: bool = False) -> Bars:
    """Bars for the runner's cells and a trainer's steps (nothing shown when `quiet`)."""
    return Bars(quiet)


@contextmanager
def progress_bar() -> Iterator[Callable[[str, int, int], None]]:
    """Yields `update(what, done, total)` for a trainer; each kind of work ("training ...",
    "evaluating ...") gets its own line."""
    with progress() as bar:
        jobs: dict[str, int] = {}

        def update(what: str, done: int, total: int) -> None:
            kind = what.split(" ")[0]  # "training ...", "evaluating ...": one line per kind
            if kind not in jobs:
                jobs[kind] = bar.add_task(what, total=total, completed=done)
            bar.update(jobs[kind], description=what, completed=done, total=total)

        yield update


class CellActivity:
    """Counts a running cell's generate calls, prompts and the tokens its model is fed.

    `wrap(policy)` returns the policy with `generate` counted; when the policy holds a torch
    module as `.model`, a forward hook counts the token positions fed to it (prefill and each
    decode step), so a long single call still shows tokens/s. `on_change(text)` is called at
    most every `every_s` seconds (and after each call) with a one-line summary.
    """

    def __init__(self, on_change: Callable[[str], None], every_s: float = 1.0) -> None:
        self.on_change, self.every_s = on_change, every_s
        self.calls = self.prompts = self.tokens = 0
        self.started = time.monotonic()
        self._shown = 0.0
        self._hook = None

    def text(self) -> str:
        wall = max(time.monotonic() - self.started, 1e-9)
        return (f"{self.calls} generate calls, {self.prompts} prompts, {self.tokens} tokens "
                f"({self.tokens / wall:.0f} tok/s)")

    def _tick(self, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._shown >= self.every_s:
            self._shown = now
            self.on_change(self.text())

    def wrap(self, policy: Any) -> Any:
        """Count `policy.generate`; hook its model's forward when it has one."""
        model = getattr(policy, "model", None)
        if self._hook is None and hasattr(model, "register_forward_hook"):
            self._hook = model.register_forward_pre_hook(self._forward, with_kwargs=True)
        return _Counted(policy, self)

    def _forward(self, module: Any, args: tuple, kwargs: dict) -> None:
        ids = kwargs.get("input_ids", args[0] if args else None)
        if hasattr(ids, "numel"):
            self.tokens += int(ids.numel())
            self._tick()

    def close(self) -> None:
        """Remove the forward hook."""
        if self._hook is not None:
            self._hook.remove()
            self._hook = None


class _Counted:
    """A policy whose generate calls are counted by a CellActivity (all else passes through)."""

    def __init__(self, policy: Any, activity: CellActivity) -> None:
        self._policy, self._activity = policy, activity

    def __getattr__(self, name: str) -> Any:
        return getattr(self._policy, name)

    def generate(self, prompts, *args, **kwargs):
        out = self._policy.generate(prompts, *args, **kwargs)
        self._activity.calls += 1
        self._activity.prompts += len(prompts)
        self._activity._tick(force=True)
        return out
