"""Progress a user can see (issue 19 item 7): plain lines into a pipe, a smoothed ETA,
what a running cell is doing."""
import io
from pathlib import Path

from harness.matrix import parse_matrix
from harness.progress import Bars, Rate, clock_text, progress_bar
from harness.runner import run_matrix


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_a_trainer_prints_plain_lines_while_it_runs_into_a_pipe(capsys, monkeypatch) -> None:
    """Into a file or pipe the training printed nothing for 39 minutes (rich drew only at the end)."""
    monkeypatch.setenv("THINKBENCH_PROGRESS_S", "0")
    seen_during = []
    with progress_bar() as update:
        for step in range(1, 6):
            update("training testbed · loss 1.000", step, 10)
            seen_during.append(capsys.readouterr().err)
    assert all("training testbed" in text and f"{i}/10" in text for i, text in enumerate(seen_during, 1))
    assert "eta" in seen_during[-1]


def test_plain_lines_are_periodic_not_per_update() -> None:
    out = io.StringIO()
    bars = Bars(out=out, plain=True, every_s=3600)
    with bars:
        job = bars.add_task("cells", total=100)
        for _ in range(99):
            bars.advance(job)
        assert out.getvalue().count("\n") == 1  # the first line only: then one per hour
        bars.advance(job)
    assert out.getvalue().count("\n") == 2 and "100/100" in out.getvalue()  # and when it is done


def test_the_eta_comes_from_a_smoothed_rate() -> None:
    """One slow unit after many steady ones moves the ETA a little, not by 100x."""
    clock = FakeClock()
    rate = Rate(half_life=10, clock=clock)
    for done in range(1, 31):  # 30 units at 10 s each
        clock.t += 10
        rate.update(done)
    steady = rate.eta_s(30, 100)
    assert abs(steady - 700) < 1
    clock.t += 300  # one unit takes 300 s
    rate.update(31)
    after_slow = rate.eta_s(31, 100)
    assert 700 < after_slow < 5 * 690  # an unsmoothed rate would say 69 x 300 s = 20700 s
    for done in range(32, 40):  # back to normal: the ETA comes back down
        clock.t += 10
        rate.update(done)
    assert rate.eta_s(39, 100) < after_slow
    assert clock_text(3725) == "1:02:05" and clock_text(None) == "-:--:--"


def test_a_running_cell_shows_calls_and_tokens_per_second(tiny_ckpt: Path, tmp_path: Path, capsys,
                                                           monkeypatch) -> None:
    monkeypatch.setenv("THINKBENCH_PROGRESS_S", "0")
    m = parse_matrix({"name": "p", "tasks": [{"name": "addition", "n_problems": 3, "params": {"digits": 2}}],
                      "checkpoints": [str(tiny_ckpt)], "methods": ["greedy"], "budgets": [1],
                      "generation": {"max_tokens": 16}})
    run_matrix(m, tmp_path / "run")
    err = capsys.readouterr().err
    assert "1 generate calls, 3 prompts" in err and "tok/s" in err
