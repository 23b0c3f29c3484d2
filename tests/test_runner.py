"""Matrix → records → report on a real tiny checkpoint: resume, errors on rows, determinism."""
import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from harness.contracts import Problem, Verdict
from harness.matrix import parse_matrix
from harness.registry import TASKS
from harness.report import write_report
from harness.runner import run_matrix
from tasks.math.addition import AdditionTask


@TASKS.register("test_flaky_addition")
@dataclass
class FlakyAddition(AdditionTask):
    """Addition whose checker crashes on its second problem (to test per-row errors)."""

    name: str = "test_flaky_addition"

    def check(self, answer: str | None, problem: Problem) -> Verdict:
        if problem.id == self.problems("test", 6, 0)[1].id:
            raise RuntimeError("checker exploded")
        return super().check(answer, problem)


def matrix(ckpt: Path, task: str = "addition"):
    return parse_matrix({
        "name": "t", "tasks": [{"name": task, "params": {"digits": 4}, "n_problems": 6}],
        "checkpoints": [{"name": "tiny", "path": str(ckpt)}],
        "methods": ["greedy", "sample", {"name": "majority", "budgets": [1, 2, 4]},
                    {"name": "oracle_best_of_n", "budgets": [1, 2, 4]}],
        "generation": {"temperature": 1.0, "max_tokens": 40}, "seeds": [0]}, "test.yaml")


def test_run_records_resume_and_report(tiny_ckpt: Path, tmp_path: Path) -> None:
    run = tmp_path / "runs" / "t"
    first = run_matrix(matrix(tiny_ckpt), run, quiet=True)
    assert (first.ran, first.skipped, first.rows) == (8, 0, 48)
    df = pd.read_parquet(run / "records")
    for col in ("run", "cell", "task", "problem_id", "checkpoint", "method", "budget", "seed", "answer",
                "correct", "prompt_tokens", "cached_tokens", "generated_tokens", "flops", "wall_s", "error"):
        assert col in df.columns, col
    assert len(df) == 48 and df["error"].isna().all()
    # The backend's resolved settings are on every row (device, dtype, attention, chat template).
    backend = json.loads(df["backend_config"].iloc[0])
    assert (backend["device"], backend["dtype"], backend["attention"], backend["chat_template"]) == \
        ("cpu", "float32", "sdpa", False)
    assert (df["generated_tokens"] > 0).all() and (df["flops"] > 0).all()

    # One pool feeds every pooled cell: maj@1 = pass@1 = sample accuracy, per problem.
    pooled = df[df["budget"] == 1].pivot(index="problem_id", columns="method", values="correct")
    assert (pooled["majority"] == pooled["sample"]).all()
    assert (pooled["oracle_best_of_n"] == pooled["sample"]).all()
    assert (df[df["method"] != "greedy"]["n_samples"] == 4).all()
    # Coverage never falls with k; expected cost grows linearly with k.
    cov = df[df["method"] == "oracle_best_of_n"].pivot(index="problem_id", columns="budget", values="correct")
    assert (cov[2] >= cov[1]).all() and (cov[4] >= cov[2]).all()
    gen = df[df["method"] == "majority"].groupby("budget")["generated_tokens"].sum()
    assert gen[4] == pytest.approx(4 * gen[1])
    # Identical prompts cost the same in every cell: greedy and a pooled cell at k=1 alike.
    prompt = df[df["budget"] == 1].pivot_table(index="problem_id", columns="method",
                                               values=["prompt_tokens", "cached_tokens"])
    for col in ("prompt_tokens", "cached_tokens"):
        assert (prompt[col]["majority"] - prompt[col]["greedy"]).abs().max() < 1e-9, col
    assert prompt["cached_tokens"]["greedy"].sum() > 0  # problems share a prefix (BOS and more)

    # Resume: nothing reruns and no row is duplicated; a lost part reruns alone, identically.
    again = run_matrix(matrix(tiny_ckpt), run, quiet=True)
    assert (again.ran, again.skipped) == (0, 8)
    assert len(pd.read_parquet(run / "records")) == 48
    part = sorted((run / "records").glob("*.parquet"))[0]
    before = pd.read_parquet(part)
    part.unlink()
    third = run_matrix(matrix(tiny_ckpt), run, quiet=True)
    assert (third.ran, third.skipped) == (1, 7)
    pd.testing.assert_frame_equal(pd.read_parquet(part).drop(columns="wall_s"),
                                  before.drop(columns="wall_s"))

    index = write_report(run, tmp_path / "report")
    page = index.read_text()
    assert "Plotly.newPlot" in page and "majority" in page and '<script src="http' not in page
    summary = (tmp_path / "report" / "summary.md").read_text()
    assert "| addition(digits=4) | tiny | majority | 4 | 1 | 6 |" in summary


def test_same_seed_same_numbers(tiny_ckpt: Path, tmp_path: Path) -> None:
    run_matrix(matrix(tiny_ckpt), tmp_path / "a", quiet=True)
    run_matrix(matrix(tiny_ckpt), tmp_path / "b", quiet=True)
    cols = ["cell", "problem_id", "answer", "correct", "generated_tokens", "trace"]
    a = pd.read_parquet(tmp_path / "a" / "records").sort_values(["cell", "problem_id"])[cols]
    b = pd.read_parquet(tmp_path / "b" / "records").sort_values(["cell", "problem_id"])[cols]
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True))


def test_a_failing_check_is_recorded_on_its_row(tiny_ckpt: Path, tmp_path: Path) -> None:
    run_matrix(matrix(tiny_ckpt, task="test_flaky_addition"), tmp_path / "f", quiet=True)
    df = pd.read_parquet(tmp_path / "f" / "records")
    bad = df[df["error"].notna()]
    assert set(bad["problem_id"]) == {FlakyAddition().problems("test", 6, 0)[1].id}
    assert bad["error"].str.contains("checker exploded").all()
    assert len(bad) == 8 and len(df) == 48  # every cell recorded it; the other rows are fine


def test_a_cells_cost_does_not_depend_on_what_ran_before(tiny_ckpt: Path, tmp_path: Path) -> None:
    """A judge-scored cell costs the same alone and after other cells (the judge's caches are
    reset per cell; prompt costs depend on the prompts, not on batch layout)."""
    def judged(budgets: list[int]):
        return parse_matrix({
            "name": "j", "tasks": [{"name": "addition", "params": {"digits": 4}, "n_problems": 6}],
            "checkpoints": [{"name": "tiny", "path": str(tiny_ckpt)}],
            "methods": ["greedy", {"name": "beam", "verifier": {"name": "judge", "path": str(tiny_ckpt), "n": 2},
                                   "budgets": budgets}],
            "generation": {"temperature": 1.0, "max_tokens": 40}, "seeds": [0]}, "j.yaml")

    run_matrix(judged([4, 8]), tmp_path / "both", quiet=True)
    run_matrix(judged([8]), tmp_path / "alone", quiet=True)
    cols = ["problem_id", "prompt_tokens", "cached_tokens", "generated_tokens", "flops"]
    both, alone = (pd.read_parquet(tmp_path / d / "records") for d in ("both", "alone"))
    pick = lambda df: df[df["budget"] == 8][cols].sort_values("problem_id").reset_index(drop=True)  # noqa: E731
    pd.testing.assert_frame_equal(pick(both), pick(alone))
