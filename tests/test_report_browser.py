"""The report as a reader sees it: opened in headless Chromium, no console errors, every plotly
figure drawn with its traces, and the drill-down (samples) and tree sections present."""
from __future__ import annotations

from pathlib import Path

import pytest

import browser

pytestmark = pytest.mark.skipif(not browser.available(),
                                reason="needs chromium, chromium-driver and selenium (.ci/run installs them)")


def test_the_report_renders_in_a_browser(tiny_ckpt: Path, tmp_path: Path) -> None:
    from harness.matrix import parse_matrix
    from harness.report import write_report
    from harness.runner import run_matrix

    matrix = parse_matrix({
        "name": "browser", "tasks": [{"name": "addition", "params": {"digits": 2}, "n_problems": 8}],
        "checkpoints": [{"name": "tiny", "path": str(tiny_ckpt)}], "seeds": [0],
        "generation": {"temperature": 1.0, "max_tokens": 48},
        "methods": ["greedy", {"name": "majority", "budgets": [1, 2, 4]},
                    {"name": "beam", "budgets": [4], "verifier": "oracle"}]})
    run_matrix(matrix, tmp_path / "run", quiet=True)
    page = write_report(tmp_path / "run", tmp_path / "report")
    seen = browser.view(page)
    assert seen.console_errors == []
    assert seen.traces_per_figure and all(n > 0 for n in seen.traces_per_figure), seen.traces_per_figure
    assert {"samples", "trees", "provenance"} <= seen.section_ids


def test_a_broken_page_is_seen_as_broken(tmp_path: Path) -> None:
    """The check can fail: a script error and an empty figure are both caught."""
    page = tmp_path / "broken.html"
    page.write_text("<html><body><div class='plotly-graph-div'><svg class='main-svg'></svg></div>"
                    "<script>undefined_function()</script></body></html>")
    seen = browser.view(page)
    assert any("undefined_function" in e for e in seen.console_errors)
    assert seen.traces_per_figure == [0]
