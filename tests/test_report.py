"""The report's compute-vs-accuracy claims on hand-built records, where the right answer is known:
efficiency against best-of-N from achievable configurations only, envelopes that never connect
what no configuration runs, and verifier compute on the default axis."""
from __future__ import annotations

import json
from dataclasses import MISSING, fields
from pathlib import Path

import pandas as pd
import pytest

from harness.contracts import Record
from harness.report import write_report
from harness.report.html import task_figure
from harness.report.stats import aggregate, efficiency, envelopes
from harness.store import load_failures, load_sessions

N = 100  # problems per configuration: accuracies are exact multiples of 1/N


def rows(method: str, budget: int, accuracy: float, *, checkpoint: str = "c", generated: float = 10.0,
         flops: float = 1.0, prompt: float = 5.0, verifier: str | None = None,
         method_name: str | None = None) -> list[dict]:
    """N records of one configuration: the first accuracy·N problems right, costs per problem."""
    defaults = {f.name: (None if f.default is MISSING else f.default) for f in fields(Record)}
    right = round(accuracy * N)
    return [defaults | {
        "run": "r", "task": "t", "checkpoint": checkpoint, "method": method, "budget": budget,
        "method_name": method_name or method.split("(")[0], "verifier": verifier, "seed": 0,
        "problem_id": f"p{i}", "correct": float(i < right), "generated_tokens": generated,
        "prompt_tokens": prompt, "flops": flops, "wall_s": flops / 1e9} for i in range(N)]


def frame(*groups: list[dict]) -> pd.DataFrame:
    return pd.DataFrame([r for g in groups for r in g], columns=Record.columns())


BON = "best_of_n(verifier=prm)"


def issue_case() -> pd.DataFrame:
    """The issue's synthetic case: best-of-16 at 0.50 for 100 FLOPs; majority@1 at 0.46 for 1 and
    majority@8 at 0.56 for 50. Interpolating the envelope in log-compute between the two
    majorities puts 0.50 at 50^0.4 ≈ 4.8 FLOPs (≈ 21×), which no configuration runs."""
    return frame(rows(BON, 16, 0.50, flops=100.0, verifier="prm"),
                 rows("majority", 1, 0.46, flops=1.0), rows("majority", 8, 0.56, flops=50.0))


def test_efficiency_uses_achievable_configurations_only() -> None:
    records = issue_case()
    (row,) = efficiency(aggregate(records), BON, records=records).to_dict("records")
    assert row["achievable"] == "majority@8"
    assert row["ratio"] == pytest.approx(2.0)            # was ≈ 20.9 from log interpolation
    # Time-sharing: majority@8 on 40 % of problems, majority@1 on the rest: 0.50 in expectation.
    assert row["mixture flops"] == pytest.approx(0.6 * 1 + 0.4 * 50)
    assert row["mixture ratio"] == pytest.approx(100 / 20.6)
    assert row["mixture"] == "0.60·majority@1 + 0.40·majority@8"
    assert row["paired n"] == N and row["paired difference"] == pytest.approx(0.06)


def test_report_prints_the_achievable_ratio(tmp_path: Path) -> None:
    (tmp_path / "run" / "records").mkdir(parents=True)
    issue_case().to_parquet(tmp_path / "run" / "records" / "part-0.parquet")
    write_report(tmp_path / "run", tmp_path / "rep")
    summary = (tmp_path / "rep" / "summary.md").read_text()
    line = next(x for x in summary.splitlines() if x.startswith(f"| t | c | {BON}@16 |"))
    cells = [c.strip() for c in line.strip("|").split("|")]
    assert cells[5:9] == ["majority@8", "0.560", "50", "2.00"]  # cheapest achievable, its acc/FLOPs, ×
    assert cells[11:] == ["20.6", "4.85"]                          # the mixture, labelled as one
    assert "randomized mixture" in summary and "20.9" not in summary


def test_a_reference_nothing_cheaper_matches_is_its_own_winner() -> None:
    records = frame(rows(BON, 4, 0.9, flops=10.0, verifier="prm"), rows("majority", 4, 0.5, flops=8.0))
    (row,) = efficiency(aggregate(records), BON).to_dict("records")
    assert row["achievable"] == f"{BON}@4" and row["ratio"] == 1.0 and row["mixture ratio"] == 1.0
    with pytest.raises(ValueError, match="token axis"):
        efficiency(aggregate(records), BON, x="generated_tokens")


def two_checkpoints() -> pd.DataFrame:
    """A small and a large checkpoint: per token the large one looks free, per FLOP it is not."""
    return frame(rows("majority", 1, 0.3, checkpoint="small", generated=10, flops=2e7),
                 rows("majority", 16, 0.5, checkpoint="small", generated=160, flops=3.2e8),
                 rows(BON, 16, 0.6, checkpoint="small", generated=160, flops=4e8, verifier="prm"),
                 rows("greedy", 1, 0.7, checkpoint="big", generated=10, flops=2e10))


def test_token_envelopes_never_span_checkpoints() -> None:
    agg = aggregate(two_checkpoints())
    by_ckpt = dict(envelopes(agg, "generated_tokens"))
    assert set(by_ckpt) == {"small", "big"}
    for ckpt, front in by_ckpt.items():
        assert set(front["checkpoint"]) == {ckpt}
    # Verifier-scored points are off the token envelope: their verifier's compute is not on it.
    assert list(by_ckpt["small"]["method"]) == ["majority", "majority"]
    ((_, flops_front),) = envelopes(agg, "flops")  # FLOPs price both sizes: one envelope
    assert list(zip(flops_front["checkpoint"], flops_front["method"], flops_front["budget"])) == [
        ("small", "majority", 1), ("small", "majority", 16), ("small", BON, 16), ("big", "greedy", 1)]


def test_figure_envelopes_are_staircases_of_one_checkpoint_per_token_axis() -> None:
    fig = task_figure(aggregate(two_checkpoints()), "t")
    envelope_traces = [i for i, t in enumerate(fig.data) if t.line.dash == "dash"]
    assert envelope_traces and all(fig.data[i].line.shape == "hv" for i in envelope_traces)
    views = {b.label: b.args[0] for b in fig.layout.updatemenus[0].buttons}
    tokens = next(v for label, v in views.items() if label.startswith("generated tokens"))
    shown = [i for i in envelope_traces if tokens["visible"][i]]
    ckpts = [{t.rsplit(" · ", 1)[1] for t in tokens["hovertext"][i]} for i in shown]
    assert sorted(map(sorted, ckpts)) == [["big"], ["small"]]
    flops = next(v for label, v in views.items() if label.startswith("inference FLOPs"))
    (spanning,) = [i for i in envelope_traces if flops["visible"][i]]
    assert {t.rsplit(" · ", 1)[1] for t in flops["hovertext"][spanning]} == {"small", "big"}


def test_verifier_compute_shows_on_the_default_axis() -> None:
    """best-of-N with a PRM generates what majority generates, then pays the PRM (prompt tokens
    and FLOPs): on the default axis it must sit to the right of majority."""
    params, prm_params, gen, prompt = 1e6, 1e6, 40.0, 20.0
    policy_flops = 2 * params * (prompt + gen)
    agg = aggregate(frame(
        rows("majority", 4, 0.5, generated=gen, prompt=prompt, flops=policy_flops),
        rows(BON, 4, 0.6, generated=gen, prompt=prompt + 4 * (prompt + gen),
             flops=policy_flops + 2 * prm_params * 4 * (prompt + gen), verifier="prm")))
    fig = task_figure(agg, "t")
    x = {t.name: t.x[0] for t in fig.data if t.mode == "lines+markers+text"}
    assert x[BON] > x["majority"]
    assert "verifier" in fig.layout.xaxis.title.text


def test_default_axis_falls_back_where_no_flops_are_counted() -> None:
    agg = aggregate(frame(rows("majority", 4, 0.5, generated=40, flops=0.0),
                          rows("greedy", 1, 0.4, generated=10, flops=0.0)))
    assert task_figure(agg, "t").layout.xaxis.title.text.startswith("generated tokens")


def test_colours_stay_with_their_method_across_reports() -> None:
    """A method's colour is a function of its label (was: of its position among the run's methods)."""
    def colours(agg: pd.DataFrame) -> dict[str, str]:
        return {t.name: t.line.color for t in task_figure(agg, "t").data if t.mode == "lines+markers+text"}

    few = colours(aggregate(frame(rows("majority", 4, 0.5), rows("greedy", 1, 0.4))))
    many = colours(aggregate(frame(rows("beam", 4, 0.5, verifier="prm"), rows("majority", 4, 0.5),
                                   rows("greedy", 1, 0.4), rows("best_of_n(orm)", 4, 0.5, verifier="orm"),
                                   rows(BON, 4, 0.5, verifier="prm"))))
    assert few["majority"] == many["majority"] and few["greedy"] == many["greedy"]
    assert len(set(many.values())) == len(many)  # two best_of_n variants: two shades


def test_oracle_is_drawn_as_the_upper_bound_and_budgets_label_points() -> None:
    agg = aggregate(frame(rows("oracle_best_of_n", 4, 0.9), rows("oracle_best_of_n", 8, 0.95),
                          rows("majority", 4, 0.5), rows("majority", 8, 0.55)))
    lines = {t.name: t for t in task_figure(agg, "t").data if t.mode == "lines+markers+text"}
    oracle = lines["oracle_best_of_n (oracle: upper bound)"]
    assert oracle.line.dash == "dot" and lines["majority"].line.dash == "solid"
    assert list(lines["majority"].text) == ["4", "8"]


def test_log_axis_labels_decades() -> None:
    agg = aggregate(frame(rows("majority", 1, 0.5, flops=3e8), rows("majority", 64, 0.6, flops=2e10)))
    axis = task_figure(agg, "t").layout.xaxis
    assert axis.dtick == 1 and axis.exponentformat == "power"
    narrow = aggregate(frame(rows("majority", 1, 0.5, flops=3e8), rows("majority", 2, 0.6, flops=6e8)))
    assert task_figure(narrow, "t").layout.xaxis.dtick == "D2"  # less than a decade: 2-5 ticks


def test_failed_cells_show_as_failed_not_as_zero(tmp_path: Path) -> None:
    run = tmp_path / "run"
    (run / "records").mkdir(parents=True)
    (run / "failures").mkdir()
    frame(rows("majority", 4, 0.5), rows("greedy", 1, 0.4)).to_parquet(run / "records" / "part-0.parquet")
    (run / "failures" / "cell-x.json").write_text(json.dumps(
        {"cell": "t/c/beam@8/seed0", "task": "t", "checkpoint": "c", "method": "beam", "budget": 8, "seed": 0,
         "error": "RuntimeError: out of memory"}))
    write_report(run, tmp_path / "report")
    summary = (tmp_path / "report" / "summary.md").read_text()
    line = next(ln for ln in summary.splitlines() if "| beam | 8 |" in ln)  # the summary table's row
    assert "FAILED" in line and "0.000" not in line
    fig = task_figure(aggregate(pd.read_parquet(run / "records")), "t", load_failures(run))
    assert "beam@8" in fig.layout.annotations[0].text and "not plotted" in fig.layout.annotations[0].text


def test_report_has_provenance_samples_trees_and_data_files(tiny_ckpt: Path, tmp_path: Path) -> None:
    """End to end on the testbed: the report says what produced it (matrix, checkpoint, sessions
    with package versions), shows right and wrong samples per cell with their costs, draws a
    tree search's tree, and exports the records it was built from."""
    from harness.matrix import parse_matrix
    from harness.runner import run_matrix

    matrix = parse_matrix({
        "name": "prov", "tasks": [{"name": "addition", "params": {"digits": 2}, "n_problems": 8}],
        "checkpoints": [{"name": "tiny", "path": str(tiny_ckpt)}], "seeds": [0],
        "generation": {"temperature": 1.0, "max_tokens": 48},
        "methods": ["greedy", {"name": "majority", "budgets": [2]},
                    {"name": "beam", "budgets": [4], "verifier": "oracle"}]})
    run_matrix(matrix, tmp_path / "run", quiet=True)
    (session,) = load_sessions(tmp_path / "run")
    assert session["packages"]["torch"] and session["cells"] == 3 and session["torch_threads"] >= 1
    page = write_report(tmp_path / "run", tmp_path / "report").read_text()
    for part in ("id='provenance'", "id='samples'", "id='trees'", str(tiny_ckpt), "transformers "
                 + session["packages"]["transformers"], "path to the answer"):
        assert part in page, part
    exported = pd.read_parquet(tmp_path / "report" / "records.parquet")
    assert ("<b>right</b>" in page) == (exported["correct"] == 1).any()
    assert ("<b>wrong</b>" in page) == (exported["correct"] == 0).any()
    assert len(exported) == 8 * 3 and exported["tree"].notna().sum() == 8  # beam's rows only
    summary = pd.read_csv(tmp_path / "report" / "summary.csv")
    assert set(summary["method"]) == {"greedy", "majority", "beam(verifier=oracle)"}


def test_the_report_says_how_many_cells_finished_and_which_failed(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture) -> None:
    """A run still in progress: 2 of the matrix's 5 cells finished, 1 failed, 2 not run yet, in
    the summary's header, the HTML page and the terminal's last line."""
    from harness.cli import main as cli
    run = tmp_path / "run"
    (run / "records").mkdir(parents=True)
    (run / "failures").mkdir()
    frame(rows("majority", 4, 0.5)).to_parquet(run / "records" / "cell-a.parquet")
    frame(rows("greedy", 1, 0.4)).to_parquet(run / "records" / "cell-b.parquet")
    (run / "failures" / "cell-c.json").write_text(json.dumps(
        {"cell": "t/c/beam@8/seed0", "task": "t", "checkpoint": "c", "method": "beam", "budget": 8, "seed": 0,
         "error": "RuntimeError: out of memory"}))
    (run / "run.json").write_text(json.dumps({"matrix": "m", "fingerprint": "f",
                                              "cells": {h: f"cell {h}" for h in "abcde"}}))
    assert cli(["report", str(run), "--out", str(tmp_path / "report")]) == 0
    said = "2 of 5 cells finished; 1 failed; 2 not run yet (run in progress or stopped): failed t/c/beam@8/seed0."
    assert said in (tmp_path / "report" / "summary.md").read_text().splitlines()[2]
    assert said in (tmp_path / "report" / "index.html").read_text()
    assert capsys.readouterr().out.splitlines()[-1].startswith(said)
    (run / "failures" / "cell-c.json").unlink()
    for h in "cde":
        frame(rows("greedy", 1, 0.4)).to_parquet(run / "records" / f"cell-{h}.parquet")
    write_report(run, tmp_path / "report")
    assert "5 of 5 cells finished." in (tmp_path / "report" / "summary.md").read_text()


def test_the_report_command_ends_with_headlines_and_the_path(tmp_path: Path, capsys) -> None:
    """`thinkbench report` prints one headline per task and checkpoint (the best configuration
    that reads no reference, with its interval) and the report's path, not all of summary.md."""
    from harness.cli import main

    run = tmp_path / "run"
    (run / "records").mkdir(parents=True)
    frame(rows("majority", 4, 0.5), rows("greedy", 1, 0.4), rows("oracle_best_of_n", 4, 0.9),
          rows("greedy", 1, 0.3, checkpoint="d")).to_parquet(run / "records" / "part-0.parquet")
    assert main(["report", str(run), "--out", str(tmp_path / "report")]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3, lines
    assert lines[0].startswith("t · c: best majority@4 0.500 [") and "(of 2 configurations)" in lines[0]
    assert lines[1].startswith("t · d: best greedy@1 0.300 [")
    assert lines[2].endswith(str(tmp_path / "report" / "index.html"))
