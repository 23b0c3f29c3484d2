"""`thinkbench compare`: paired tests between two runs, the CI gate's exit code, and refusal of
runs that did not ask the same questions."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness.cli import main as cli
from harness.contracts import Record, content_hash
from harness.registry import ConfigError
from harness.report.compare import Gate, bootstrap_ci, compare, holm, mcnemar, paired_binary_ci, problems_needed, sign_flip


def run_dir(root: Path, name: str, scores: list[float], method: str = "greedy", prompts: str = "q",
            checkpoint: str = "ck") -> Path:
    """A run directory holding one cell: `scores[i]` on problem i."""
    rows = [Record(run=name, cell="c", task="t", problem_id=f"p{i}", prompt_hash=content_hash(f"{prompts}{i}"),
                   checkpoint=checkpoint, method=method, budget=1, correct=float(s)).__dict__
            for i, s in enumerate(scores)]
    (root / name / "records").mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_parquet(root / name / "records" / f"cell-{checkpoint}.parquet")
    return root / name


def test_mcnemar_exact_and_mid_p_against_the_binomial() -> None:
    # 10 problems gained, 2 lost: 2 · P(X <= 2 | n=12, 1/2) = 2 · (1 + 12 + 66) / 4096.
    assert mcnemar(10, 2) == pytest.approx(2 * 79 / 4096)
    assert mcnemar(2, 10, mid=True) == pytest.approx(2 * (79 - 66 / 2) / 4096)
    assert mcnemar(0, 0) == 1.0 and mcnemar(5, 5) == 1.0


def test_holm_and_sign_flip() -> None:
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    # Four differences all +0.5: the exact sign-flip p is the chance of all-same signs, 2/16.
    assert sign_flip(np.array([0.5, 0.5, 0.5, 0.5])) == pytest.approx(2 / 16)
    assert problems_needed(np.array([0.0, 1.0] * 50), 0.02) > 1000  # a 2-point drop is invisible at n=100


def test_a_binary_interval_agrees_with_mcnemar(tmp_path: Path) -> None:
    """4 problems lost, none gained, of 200 (the testbed's final vs step-600 greedy): McNemar
    p = 0.125. The percentile bootstrap said [-0.040, -0.005], a 'significant' interval beside a
    non-significant test; the paired interval for 0/1 scores includes 0."""
    base, new = [1] * 4 + [1] * 108 + [0] * 88, [0] * 4 + [1] * 108 + [0] * 88
    (row,) = compare(pd.read_parquet(run_dir(tmp_path, "a", base) / "records"),
                     pd.read_parquet(run_dir(tmp_path, "b", new) / "records")).itertuples()
    assert row.p == pytest.approx(0.125) and row.difference == pytest.approx(-0.02)
    assert row.ci_low < 0 < row.ci_high
    assert bootstrap_ci(np.array(new) - np.array(base))[1] < 0  # what the bootstrap claimed
    assert paired_binary_ci(0, 0, 200)[0] < 0 < paired_binary_ci(0, 0, 200)[1]
    lo, hi = paired_binary_ci(2, 12, 200)  # a real drop: the interval excludes 0, as McNemar does
    assert hi < 0 and lo == pytest.approx(-0.0876, abs=1e-3)


def test_paired_test_sees_what_the_unpaired_one_misses(tmp_path: Path) -> None:
    """The new run loses 12 problems and gains 2 of 200 (0.60 → 0.55): McNemar p = 0.013;
    a pooled two-proportion z-test on the same numbers gives p ≈ 0.31."""
    base = [1] * 120 + [0] * 80
    new = [0] * 12 + [1] * 108 + [1] * 2 + [0] * 78
    result = compare(pd.read_parquet(run_dir(tmp_path, "a", base) / "records"),
                     pd.read_parquet(run_dir(tmp_path, "b", new) / "records"), Gate(0.0, 0.05))
    (row,) = result.itertuples()
    assert (row.gained, row.lost) == (2, 12) and row.difference == pytest.approx(-0.05)
    assert row.p == pytest.approx(mcnemar(2, 12)) and row.p < 0.05 and row.fails
    pooled = (120 + 110) / 400
    z = 0.05 / math.sqrt(pooled * (1 - pooled) * 2 / 200)
    assert math.erfc(z / math.sqrt(2)) > 0.3
    assert row.ci_high < 0


def test_cli_gate_exit_codes_and_reports(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    base = run_dir(tmp_path, "base", [1] * 120 + [0] * 80)
    worse = run_dir(tmp_path, "worse", [0] * 12 + [1] * 108 + [1] * 2 + [0] * 78)
    churn = run_dir(tmp_path, "churn", [0] * 5 + [1] * 115 + [1] * 5 + [0] * 75)  # 5 gained, 5 lost
    assert cli(["compare", str(base), str(worse), "--out", str(tmp_path / "r1")]) == 1
    out = capsys.readouterr().out
    assert out.startswith("FAIL  t · greedy@1: 0.600 → 0.550") and "McNemar exact" in out
    assert (tmp_path / "r1" / "compare.md").read_text().count("| FAIL |") == 1
    assert (tmp_path / "r1" / "compare.html").is_file()
    # Allowed a 10-point drop: the same runs pass.
    assert cli(["compare", str(base), str(worse), "--max-drop", "0.1", "--out", str(tmp_path / "r2")]) == 0
    capsys.readouterr()
    assert cli(["compare", str(base), str(churn), "--max-drop", "0.02", "--out", str(tmp_path / "r3")]) == 0
    assert "a drop of 0.02 needs ~" in capsys.readouterr().out  # 200 problems cannot see 2 points


def test_runs_that_asked_other_questions_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    base = run_dir(tmp_path, "base", [1, 0, 1, 1])
    other_prompts = run_dir(tmp_path, "prompts", [1, 0, 1, 1], prompts="other")
    fewer = run_dir(tmp_path, "fewer", [1, 0, 1])
    with pytest.raises(ConfigError, match="same problem ids with different prompts"):
        compare(pd.read_parquet(base / "records"), pd.read_parquet(other_prompts / "records"))
    assert cli(["compare", str(base), str(fewer)]) == 2
    assert "different problems (1 only in the base run, 0 only in the new one)" in capsys.readouterr().err


def test_runs_with_several_checkpoints_pair_checkpoint_with_checkpoint(tmp_path: Path) -> None:
    """One checkpoint each: paired whatever their labels. Several: by label, never mixed."""
    for name, (x, y) in {"a": ([1, 1, 0, 0], [1, 0, 1, 0]), "b": ([1, 1, 0, 0], [0, 0, 0, 0])}.items():
        run_dir(tmp_path, name, x, checkpoint="ck1")
        run_dir(tmp_path, name, y, checkpoint="ck2")
    result = compare(pd.read_parquet(tmp_path / "a" / "records"), pd.read_parquet(tmp_path / "b" / "records"))
    assert list(result["task"]) == ["ck1 · t", "ck2 · t"]
    assert list(result["difference"]) == [0.0, -0.5]
    one = compare(pd.read_parquet(run_dir(tmp_path, "old", [1, 0], checkpoint="v1") / "records"),
                  pd.read_parquet(run_dir(tmp_path, "new", [1, 1], checkpoint="v2") / "records"))
    assert list(one["difference"]) == [0.5]
