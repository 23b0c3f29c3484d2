"""The run directory never lies: failed cells stay unfinished, one matrix per directory, one
writer at a time, nothing written outside it, and an unwritable place is said before any work."""
from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pytest
import yaml

from harness.cli import main
from harness.contracts import Attempt, Cost
from harness.methods import register_method
from harness.registry import ConfigError
from harness.store import RunStore

EXPLODE = {"on": True}


@register_method("test_exploding")
def exploding(ctx, problems, budget):
    """Raises while EXPLODE["on"]; else answers every problem with nothing."""
    if EXPLODE["on"]:
        raise RuntimeError("method exploded")
    return [Attempt(p.id, None, Cost(generated_tokens=1)) for p in problems]


def write_matrix(path: Path, ckpt: Path, *, temperature: float = 1.0, methods: list | None = None,
                 name: str = "t") -> Path:
    path.write_text(yaml.safe_dump({
        "name": name, "tasks": [{"name": "addition", "params": {"digits": 4}, "n_problems": 4}],
        "checkpoints": [{"name": "tiny", "path": str(ckpt)}],
        "methods": methods or ["greedy", {"name": "majority", "budgets": [1, 2]}],
        "generation": {"temperature": temperature, "max_tokens": 40}}))
    return path


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err.strip()


def test_a_failed_cell_is_kept_shown_and_rerun(tiny_ckpt: Path, tmp_path: Path, capsys) -> None:
    m = write_matrix(tmp_path / "m.yaml", tiny_ckpt, methods=["greedy", "test_exploding"])
    run = tmp_path / "run"
    EXPLODE["on"] = True
    code, _, err = cli(capsys, "run", str(m), "--out", str(run), "--quiet")
    assert code == 1 and "1 cells failed" in err
    records = pd.read_parquet(run / "records")
    assert set(records["method"]) == {"greedy"}  # the failed cell is not a finished cell at 0
    (failure,) = (run / "failures").glob("*.json")
    assert "method exploded" in failure.read_text()

    assert cli(capsys, "report", str(run), "--out", str(tmp_path / "rep"))[0] == 0
    summary = (tmp_path / "rep" / "summary.md").read_text()
    assert "## Failed cells (1)" in summary and "method exploded" in summary
    table = summary.split("## Failed cells")[0]
    (row,) = [ln for ln in table.splitlines() if ln.startswith("|") and "test_exploding" in ln]
    assert "FAILED" in row and "0.000" not in row  # shown as failed, never as a row of accuracy 0

    EXPLODE["on"] = False
    code, out, _ = cli(capsys, "run", str(m), "--out", str(run), "--quiet")
    assert code == 0 and "ran 1 cells" in out and "1 already finished" in out
    assert not list((run / "failures").glob("*.json"))
    assert set(pd.read_parquet(run / "records")["method"]) == {"greedy", "test_exploding"}


def test_a_policy_that_dies_fails_its_cells_and_the_run_goes_on(tiny_ckpt: Path, tmp_path: Path, capsys,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """A backend that dies between cells (vLLM's engine did, on a CPU-build bug) raised from
    `reset_cache`, outside the cell's try: the run stopped with a traceback and lost the rest.
    Now each cell it takes down is a failed cell, and finished cells are kept."""
    from harness.backends.hf import HFPolicy

    real, calls = HFPolicy.reset_cache, []

    def dying(self: HFPolicy) -> None:
        calls.append(1)
        if len(calls) > 1:
            raise RuntimeError("EngineDeadError: the engine died")
        real(self)

    monkeypatch.setattr(HFPolicy, "reset_cache", dying)
    EXPLODE["on"] = False
    m = write_matrix(tmp_path / "m.yaml", tiny_ckpt, methods=["greedy", "test_exploding"])
    code, _, err = cli(capsys, "run", str(m), "--out", str(tmp_path / "run"), "--quiet")
    assert code == 1 and "1 cells failed" in err and "Traceback" not in err
    assert set(pd.read_parquet(tmp_path / "run" / "records")["method"]) == {"greedy"}
    (failure,) = (tmp_path / "run" / "failures").glob("*.json")
    assert "the engine died" in failure.read_text()


def test_a_changed_matrix_never_mixes_with_the_old_one(tiny_ckpt: Path, tmp_path: Path, capsys) -> None:
    run = tmp_path / "run"
    first = write_matrix(tmp_path / "a.yaml", tiny_ckpt, temperature=1.0)
    assert cli(capsys, "run", str(first), "--out", str(run), "--quiet")[0] == 0
    second = write_matrix(tmp_path / "b.yaml", tiny_ckpt, temperature=0.3)
    code, _, err = cli(capsys, "run", str(second), "--out", str(run), "--quiet")
    assert code == 2 and len(err.splitlines()) == 1
    assert "holds the results of a different matrix" in err and "--new-version" in err and "--prune" in err
    assert len(pd.read_parquet(run / "records")) == 4 * 3  # untouched

    code, out, _ = cli(capsys, "run", str(second), "--out", str(run), "--quiet", "--new-version")
    assert code == 0 and str(tmp_path / "run-v2") in out
    assert len(pd.read_parquet(tmp_path / "run-v2" / "records")) == 4 * 3

    # --prune keeps the cells both matrices name (greedy ignores temperature) and drops the rest.
    code, out, _ = cli(capsys, "run", str(second), "--out", str(run), "--quiet", "--prune")
    assert code == 0 and "ran 2 cells" in out and "2 cells of the old matrix dropped" in out
    df = pd.read_parquet(run / "records")
    assert len(df) == 4 * 3 and df.groupby(["method", "budget", "problem_id"]).size().max() == 1
    assert yaml.safe_load((run / "matrix.yaml").read_text())["generation"]["temperature"] == 0.3


def test_one_writer_per_run_directory(tiny_ckpt: Path, tmp_path: Path, capsys) -> None:
    m = write_matrix(tmp_path / "m.yaml", tiny_ckpt)
    run = tmp_path / "run"
    store = RunStore(run)
    store.prepare()
    with store.lock():  # as if another `thinkbench run` were writing here
        code, _, err = cli(capsys, "run", str(m), "--out", str(run), "--quiet")
    assert code == 2 and "in use by another `thinkbench run` (pid" in err
    assert not (run / "records").exists() or not list((run / "records").glob("*.parquet"))
    assert cli(capsys, "run", str(m), "--out", str(run), "--quiet")[0] == 0  # released


def test_two_processes_on_one_run_directory(tiny_ckpt: Path, tmp_path: Path) -> None:
    """Real processes: while another process holds the run, `thinkbench run` is refused at once
    (instead of computing every cell a second time) and says who holds it."""
    m = write_matrix(tmp_path / "m.yaml", tiny_ckpt)
    run = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from harness.store import RunStore; s = RunStore(sys.argv[1]); s.prepare()\n"
        "with s.lock():\n    print('locked', flush=True); time.sleep(120)"), str(run)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        second = subprocess.run([sys.executable, "-m", "harness.cli", "run", str(m), "--out", str(run), "--quiet"],
                                capture_output=True, text=True, timeout=300)
    finally:
        holder.kill()
        holder.wait()
    assert second.returncode == 2, second.stderr
    assert f"in use by another `thinkbench run` (pid {holder.pid}" in second.stderr
    assert not list((run / "records").glob("*.parquet"))  # nothing was computed


@pytest.mark.parametrize("layout", ["out is a file", "out under a file", "records is a file"])
def test_unwritable_run_directory_is_said_before_any_work(tiny_ckpt: Path, tmp_path: Path, capsys,
                                                          layout: str) -> None:
    m = write_matrix(tmp_path / "m.yaml", tiny_ckpt)
    run = tmp_path / "run"
    if layout == "out is a file":
        run.write_text("x")
    elif layout == "out under a file":
        run.write_text("x")
        run = run / "sub"
    else:
        run.mkdir()
        (run / "records").write_text("x")
    code, _, err = cli(capsys, "run", str(m), "--out", str(run), "--quiet")
    assert code == 2 and len(err.splitlines()) == 1 and "Traceback" not in err
    assert "is a file" in err or "sits under a file" in err


@contextmanager
def small_disk(path: Path, size: str, readonly: bool = False) -> Iterator[Path]:
    """A tiny tmpfs mounted at `path` (root only: CI and these machines run as root)."""
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a small filesystem")
    path.mkdir(parents=True, exist_ok=True)
    opts = f"size={size}" + (",ro" if readonly else "")
    if subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(path)], capture_output=True).returncode:
        pytest.skip("cannot mount tmpfs here")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def test_read_only_and_full_disks_are_one_line(tiny_ckpt: Path, tmp_path: Path, capsys) -> None:
    m = write_matrix(tmp_path / "m.yaml", tiny_ckpt)
    with small_disk(tmp_path / "ro", "1m", readonly=True) as ro:
        code, _, err = cli(capsys, "run", str(m), "--out", str(ro / "run"), "--quiet")
        assert code == 2 and "Read-only file system" in err and len(err.splitlines()) == 1
    with small_disk(tmp_path / "full", "4k") as full:
        code, _, err = cli(capsys, "run", str(m), "--out", str(full / "run"), "--quiet")
        assert code == 2 and "No space left on device" in err and len(err.splitlines()) == 1


def test_report_is_written_atomically(tiny_ckpt: Path, tmp_path: Path, capsys) -> None:
    """A report that does not fit leaves the previous report whole (no truncated index.html)."""
    m = write_matrix(tmp_path / "m.yaml", tiny_ckpt)
    assert cli(capsys, "run", str(m), "--out", str(tmp_path / "run"), "--quiet")[0] == 0
    with small_disk(tmp_path / "rep", "1m") as rep:
        (rep / "index.html").write_text("previous report")
        (rep / "summary.md").write_text("previous summary")
        code, _, err = cli(capsys, "report", str(tmp_path / "run"), "--out", str(rep))
        assert code == 2 and "No space left on device" in err
        assert (rep / "index.html").read_text() == "previous report"
        assert (rep / "summary.md").read_text() == "previous summary"
        assert sorted(p.name for p in rep.iterdir()) == ["index.html", "summary.md"]  # no temp left


def test_corrupt_checkpoint_is_one_line(tiny_ckpt: Path, tmp_path: Path, capsys) -> None:
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(tiny_ckpt, bad)
    weights = bad / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])  # truncated
    m = write_matrix(tmp_path / "m.yaml", bad)
    code, _, err = cli(capsys, "run", str(m), "--out", str(tmp_path / "run"), "--quiet")
    assert code == 2 and len(err.splitlines()) == 1 and "could not be loaded" in err and str(bad) in err


def test_missing_testbed_aliases_name_their_builder(tmp_path: Path, monkeypatch, capsys) -> None:
    from harness.checkpoint import resolve_checkpoint, testbed_home

    monkeypatch.setenv("THINKBENCH_CACHE", str(tmp_path / "cache"))
    home = testbed_home()
    for sub in ("final", "step-300"):
        (home / sub).mkdir(parents=True)
    assert resolve_checkpoint("testbed/step-300") == str(home / "step-300")
    with pytest.raises(ConfigError, match=r"run `thinkbench train-verifier --kind orm` first"):
        resolve_checkpoint("testbed/orm")
    with pytest.raises(ConfigError, match=r"'testbed/step-601' does not exist \(built: testbed/final, testbed/step-300\)"):
        resolve_checkpoint("testbed/step-601")


def test_records_written_before_a_column_existed_read_with_its_default(tmp_path) -> None:
    """A run resumed across versions: an old part lacks `post_train_flops`; it reads as 0."""
    import pandas as pd

    from harness.contracts import Record
    from harness.store import load_records

    records = tmp_path / "run" / "records"
    records.mkdir(parents=True)
    new = pd.DataFrame([Record(run="run", cell="a", problem_id="p1", post_train_flops=5.0).__dict__])
    new.to_parquet(records / "cell-new.parquet")
    new.drop(columns=["post_train_flops"]).assign(cell="b").to_parquet(records / "cell-old.parquet")
    df = load_records(tmp_path / "run").sort_values("cell")
    assert list(df["post_train_flops"]) == [5.0, 0.0] and list(df.columns) == Record.columns()
