"""The README's main job end to end: bootstrap → run → report, and the testbed's headline."""
from pathlib import Path

import pandas as pd
import pytest

from harness.cli import main
from harness.report.fits import fit_coverage
from harness.report.stats import paired_differences
from harness.store import load_records


@pytest.mark.slow
def test_quickstart_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("THINKBENCH_CACHE", str(tmp_path / "cache"))  # train from scratch
    monkeypatch.chdir(tmp_path)
    assert main(["quickstart"]) == 0
    assert (tmp_path / "reports" / "quickstart" / "index.html").stat().st_size > 1_000_000
    records = pd.read_parquet(tmp_path / "runs" / "quickstart" / "records")
    assert len(records) == 12 * 200 and records["error"].isna().all()
    acc = records.groupby(["method", "budget"])["correct"].mean()
    assert 0.3 <= acc[("greedy", 1)] <= 0.7                 # a plateaued, mid-accuracy testbed
    diffs = paired_differences(records, "sample").set_index("method")
    assert diffs.loc["majority", "ci_low"] > 0               # maj@16 beats one sample
    cov_vs_maj = paired_differences(records[records["method"] != "sample"], "majority").set_index("method")
    assert cov_vs_maj.loc["oracle_best_of_n", "ci_low"] > 0  # coverage@16 beats maj@16
    # The report fits the scaling curves: coverage follows the Monkeys power law on the testbed.
    page = (tmp_path / "reports" / "quickstart" / "index.html").read_text()
    assert "id='fits'" in page and "id='difficulty'" in page and "id='provenance'" in page
    (cov,) = fit_coverage(load_records(tmp_path / "runs" / "quickstart"), n_boot=50)
    assert cov.params["a"] < 0 and cov.params["b"] < 0 and not cov.flagged
    assert all(lo < hi for lo, hi in cov.intervals.values())
