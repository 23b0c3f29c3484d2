"""How many torch threads, and a warning when the CPU turns out to be shared.

Why not torch's default (one thread per core): on a 2-core box with one other CPU-bound
process, 2 threads trained the testbed at ~0.25 steps/s and 1 thread at ~3.2 (issue 19): a
thread that waits for a busy core stalls every parallel op. Alone, 2 threads were ~2x faster
than 1. So the default is one thread per core that is idle when we start (the 1-minute load
average says how many are busy), and a `RateWatch` prints one line when the work later runs
far slower than its first steps (someone started competing). `benchmarks/threads.py` measures
1 vs 2 threads, alone and beside a busy process. The thread count does not change results
(the testbed trains to the same losses at 1 and 2 threads).
"""
from __future__ import annotations

import os
import sys
import time
from typing import TextIO

ENV = "THINKBENCH_THREADS"


def usable_cores() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


def busy_cores() -> float:
    """Runnable processes averaged over the last minute (0 where the OS does not say)."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return 0.0


def default_threads(cores: int | None = None, load: float | None = None, most: int | None = None) -> int:
    """One thread per idle core (at least 1, at most `most`, torch's own default)."""
    cores = usable_cores() if cores is None else cores
    load = busy_cores() if load is None else load
    idle = max(1, cores - round(load))
    return max(1, min(idle, most if most is not None else cores))


def choose_threads(requested: int | None = None) -> tuple[int, str]:
    """(threads, why): THINKBENCH_THREADS, else `requested`, else one per idle core (chosen once)."""
    env = os.environ.get(ENV, "").strip()
    if env:
        try:
            n = int(env)
        except ValueError:
            from harness.registry import ConfigError

            raise ConfigError(f"{ENV}={env!r}: expected a positive integer") from None
        if n > 0:
            return n, ENV
    if requested:
        return requested, "threads"
    if not _DEFAULT:  # decided once per process: every policy and trainer in it agrees
        load = busy_cores()
        _DEFAULT.append((default_threads(load=load, most=_torch_default()), f"{usable_cores()} cores, load {load:.1f}"))
    return _DEFAULT[0]


_DEFAULT: list[tuple[int, str]] = []


_TORCH_DEFAULT: list[int] = []


def _torch_default() -> int:
    """torch's own thread count before we first changed it (one per physical core)."""
    if not _TORCH_DEFAULT:
        import torch

        _TORCH_DEFAULT.append(torch.get_num_threads())
    return _TORCH_DEFAULT[0]


def apply_threads(requested: int | None = None) -> int:
    """Set torch's thread count (see `choose_threads`); returns it."""
    import torch

    _torch_default()  # remembered before the first change
    n, _ = choose_threads(requested)
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n


class RateWatch:
    """Notices when steps run far slower than the first ones did, and says so once.

    Call `tick()` after each step. The first `warmup` steps are ignored (allocations, caches);
    the next `window` set the reference rate; from then on every `window` steps are compared
    with it and, if `factor` times slower, one hint line goes to `out`.
    """

    def __init__(self, what: str, warmup: int = 5, window: int = 20, factor: float = 3.0,
                 out: TextIO | None = None, clock=time.perf_counter) -> None:
        self.what, self.warmup, self.window, self.factor = what, warmup, window, factor
        self.out, self.clock = out, clock
        self.steps, self.mark, self.reference, self.warned = 0, None, None, False
        self.last_rate: float | None = None

    def tick(self) -> str | None:
        """Count one step; returns the hint when it is printed (once)."""
        self.steps += 1
        if self.steps == self.warmup:
            self.mark = self.clock()
        done = self.steps - self.warmup
        if done <= 0 or done % self.window:
            return None
        now = self.clock()
        rate = self.window / max(now - self.mark, 1e-9)
        self.mark, self.last_rate = now, rate
        if self.reference is None:
            self.reference = rate
            return None
        if self.warned or rate * self.factor > self.reference:
            return None
        self.warned = True
        threads = _threads()
        advice = (f"with {threads} torch threads, {ENV}=1 is often much faster on a shared machine" if threads > 1
                  else "it already uses 1 torch thread: only the wall time suffers, not the results")
        hint = (f"thinkbench: {self.what} now runs at {rate:.2f} steps/s, {self.reference / rate:.0f}x slower "
                f"than its first steps ({self.reference:.2f}/s): another process is using the CPU; {advice}.")
        print(hint, file=self.out or sys.stderr, flush=True)
        return hint


def _threads() -> int:
    import torch

    return torch.get_num_threads()
