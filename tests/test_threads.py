"""Threads that survive a busy machine (issue 19 item 6)."""
import io

import pytest
import torch

from harness.registry import ConfigError
from harness.threads import RateWatch, choose_threads, default_threads


def test_one_thread_per_idle_core() -> None:
    assert default_threads(cores=2, load=0.1) == 2
    assert default_threads(cores=2, load=1.2) == 1  # one other CPU-bound process: 1 thread, not 2
    assert default_threads(cores=2, load=7.0) == 1
    assert default_threads(cores=16, load=3.0, most=8) == 8  # never more than torch's own default


def test_env_and_argument_win(monkeypatch) -> None:
    monkeypatch.setenv("THINKBENCH_THREADS", "3")
    assert choose_threads(1) == (3, "THINKBENCH_THREADS")
    monkeypatch.delenv("THINKBENCH_THREADS")
    assert choose_threads(2) == (2, "threads")
    monkeypatch.setenv("THINKBENCH_THREADS", "many")
    with pytest.raises(ConfigError, match="THINKBENCH_THREADS='many'"):
        choose_threads()


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def run_steps(watch: RateWatch, clock: FakeClock, seconds: list[float]) -> list[str]:
    hints = []
    for s in seconds:
        clock.t += s
        hint = watch.tick()
        if hint:
            hints.append(hint)
    return hints


def test_a_slowdown_gets_one_hint_and_a_steady_run_none() -> None:
    threads = torch.get_num_threads()
    clock, out = FakeClock(), io.StringIO()
    steady = RateWatch("training", warmup=2, window=10, out=out, clock=clock)
    assert run_steps(steady, clock, [0.2] * 200) == [] and out.getvalue() == ""
    # 0.2 s/step, then someone else takes the CPU: 4 s/step (the 0.25 steps/s).
    clock, out = FakeClock(), io.StringIO()
    busy = RateWatch("training", warmup=2, window=10, out=out, clock=clock)
    hints = run_steps(busy, clock, [0.2] * 40 + [4.0] * 100)
    assert len(hints) == 1 and out.getvalue().count("\n") == 1
    assert "x slower than its first steps (5.00/s)" in hints[0] and "another process" in hints[0]
    torch.set_num_threads(2)
    try:
        clock = FakeClock()
        assert "THINKBENCH_THREADS=1" in run_steps(RateWatch("t", warmup=2, window=10, out=io.StringIO(),
                                                             clock=clock), clock, [0.2] * 40 + [4.0] * 20)[0]
    finally:
        torch.set_num_threads(threads)
    # A modest slowdown (2x) is noise on a shared machine, not worth a line.
    clock = FakeClock()
    assert run_steps(RateWatch("t", warmup=2, window=10, out=io.StringIO(), clock=clock), clock,
                     [0.2] * 40 + [0.4] * 100) == []


def test_configure_torch_applies_the_choice(monkeypatch) -> None:
    from harness.backends.hf import configure_torch

    before = torch.get_num_threads()
    try:
        monkeypatch.setenv("THINKBENCH_THREADS", "1")
        configure_torch(2)
        assert torch.get_num_threads() == 1  # the environment wins over the config's `threads`
        monkeypatch.delenv("THINKBENCH_THREADS")
        configure_torch(2)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
