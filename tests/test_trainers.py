"""Trainers from a base checkpoint (sft, rft, dpo, grpo, rloo): each runs a few real steps on the
tiny testbed, its checkpoint loads and generates, its cost adds up, a rerun is a cache hit, the
same seed gives the same weights, and a matrix's `train:` section feeds evaluation cells."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from harness.checkpoint import read_info
from harness.cli import main as cli
from harness.config import make_config
from harness.matrix import parse_matrix
from harness.registry import BACKENDS, TRAINERS, ConfigError
from harness.report.html import write_report
from harness.runner import run_matrix
from harness.store import load_records
from harness.trained import TrainSpec, ensure_trained

ADDITION = (("digits", 2),)
# Small enough for seconds per trainer; big enough that the base's samples hold both correct
# and incorrect solutions (DPO needs pairs, RFT needs correct ones: ~9 % of its samples are).
SMALL = {"problems": 48, "batch": 8, "max_tokens": 32}
CASES = {
    "sft-gold": ("sft", {"source": "gold"}),
    "sft-samples": ("sft", {"source": "samples"}),
    "rft": ("rft", {"samples": 8, "iterations": 2}),
    "dpo": ("dpo", {"samples": 8, "loss": ["sigmoid", "sft"]}),
    "grpo": ("grpo", {}),
    "rloo": ("rloo", {}),
}


def spec(base: Path, name: str, params: dict, budget: int = 3, seed: int = 0) -> TrainSpec:
    small = SMALL if params.get("source") != "gold" else {k: v for k, v in SMALL.items() if k != "max_tokens"}
    cfg = make_config(TRAINERS.config(name), small | params, name)
    return TrainSpec(name, str(base), "addition", ADDITION, budget, seed, cfg)


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-digit testbed after 300 steps: right on some samples, wrong on most."""
    from baselines.train.testbed import TestbedConfig, train_testbed

    cfg = TestbedConfig(digits=2, hidden=64, layers=2, heads=2, steps=300, batch=32, checkpoints=1)
    return train_testbed(tmp_path_factory.mktemp("testbed2"), cfg)


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_trainer_makes_a_checkpoint_that_generates_and_whose_cost_adds_up(base: Path, case: str,
                                                                                tmp_path: Path) -> None:
    name, params = CASES[case]
    path, info, reused = ensure_trained(spec(base, name, params), tmp_path / case)
    assert not reused and info["trainer"] == name and info["budget"] == 3
    policy = BACKENDS.get("hf")(str(path))
    outs, costs = policy.generate(["12+43\n"], max_tokens=16)
    assert outs[0][0].tokens > 0 and costs[0].generated_tokens == outs[0][0].tokens
    p = info["params"]
    assert p == policy.params
    # Training is 6·P per token, a reference model's scoring 2·P, sampling the data its own cost.
    assert info["train_tokens"] > 0
    assert info["stage_flops"] == pytest.approx(6 * p * info["train_tokens"] + 2 * p * info["scored_tokens"])
    samples_data = name != "sft" or params["source"] == "samples"
    assert (info["data_flops"] > 0) == samples_data
    added = info["stage_flops"] + info["data_flops"]
    assert info["post_train_flops"] == pytest.approx(added)
    assert info["train_flops"] == pytest.approx(read_info(base)["train_flops"] + added)
    if name in ("grpo", "rloo"):  # every rollout token is sampled once and trained on once
        assert info["data_flops"] == pytest.approx(2 * p * info["train_tokens"])
        assert (info["scored_tokens"] > 0) == (name == "rloo")  # RLOO's default KL needs a reference
    if name == "dpo":
        assert info["scored_tokens"] == info["train_tokens"] and info["pairs"] > 0


def test_a_rerun_finds_the_checkpoint_and_does_not_retrain(base: Path, tmp_path: Path) -> None:
    s = spec(base, "grpo", {})
    path, _, reused = ensure_trained(s, tmp_path / "g")
    stamp = (path / "model.safetensors").stat().st_mtime_ns
    again, _, reused_again = ensure_trained(s, tmp_path / "g")
    assert (reused, reused_again) == (False, True)
    assert (again / "model.safetensors").stat().st_mtime_ns == stamp
    # A different budget, seed or config is a different checkpoint.
    assert len({s.key(), spec(base, "grpo", {}, budget=4).key(), spec(base, "grpo", {}, seed=1).key(),
                spec(base, "grpo", {"lr": 2e-5}).key()}) == 4


@pytest.mark.parametrize("name", ["sft-samples", "grpo", "dpo"])
def test_the_same_seed_gives_the_same_checkpoint(base: Path, tmp_path: Path, name: str) -> None:
    trainer, params = CASES[name]
    first, _, _ = ensure_trained(spec(base, trainer, params), tmp_path / "a")
    second, _, _ = ensure_trained(spec(base, trainer, params), tmp_path / "b")
    other, _, _ = ensure_trained(spec(base, trainer, params, seed=1), tmp_path / "c")
    a, b, c = (load_file(str(d / "model.safetensors")) for d in (first, second, other))
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_bad_trainer_settings_are_one_clear_error(base: Path) -> None:
    with pytest.raises(ConfigError, match="loss: unknown 'sigmod'"):
        make_config(TRAINERS.config("dpo"), {"loss": ["sigmod"]}, "dpo")
    with pytest.raises(ConfigError, match="generations must be >= 2 and divide batch"):
        make_config(TRAINERS.config("grpo"), {"batch": 12, "generations": 8}, "grpo")
    with pytest.raises(ConfigError, match="source"):
        make_config(TRAINERS.config("sft"), {"source": "teacher"}, "sft")


def test_cli_train_prints_the_checkpoint_path_last(base: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "cli"
    argv = ["train", "sft", "--base", str(base), "--budget", "2", "--param", "problems=16",
            "--param", "batch=4", "--task-param", "digits=2", "--out", str(out)]
    assert cli(argv) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1] == str(out) and read_info(out)["trainer"] == "sft"
    assert cli(argv) == 0
    assert "found (already trained" in capsys.readouterr().err
    assert cli(["train", "sft", "--base", str(base), "--budget", "2", "--param", "problem=16"]) == 2
    assert "unknown field 'problem'" in capsys.readouterr().err


def test_a_matrix_train_section_feeds_cells_and_a_rerun_does_not_retrain(base: Path, tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("THINKBENCH_CACHE", str(tmp_path / "cache"))
    doc = {"name": "tr", "tasks": [{"name": "addition", "params": {"digits": 2}, "n_problems": 6}],
           "checkpoints": [str(base)],
           "train": {"base": str(base), "trainers": [
               {"name": "sft", "label": "control", "budgets": [1, 2], "params": SMALL | {"source": "samples"}},
               {"name": "grpo", "budgets": [2], "params": SMALL}]},
           "methods": ["greedy", {"name": "majority", "budgets": [2]}],
           "generation": {"max_tokens": 48}}
    matrix = parse_matrix(doc, "tr.yaml")
    assert [c.label for c in matrix.checkpoints] == [base.name, "control@1", "control@2", "grpo@2"]
    result = run_matrix(matrix, tmp_path / "run", quiet=True)
    assert result.failed == 0
    df = load_records(tmp_path / "run")
    trained = df[df.checkpoint != base.name]
    assert set(trained.checkpoint) == {"control@1", "control@2", "grpo@2"}
    assert (trained.post_train_flops > 0).all() and (df[df.checkpoint == base.name].post_train_flops == 0).all()
    by_ckpt = trained.groupby("checkpoint").post_train_flops.first()
    assert by_ckpt["control@2"] > by_ckpt["control@1"]
    # The report puts training and test-time compute on one axis, a curve per trainer × method.
    write_report(tmp_path / "run", tmp_path / "report")
    summary = (tmp_path / "report" / "summary.md").read_text()
    assert "## Training + test-time compute" in summary
    section = summary.split("## Training + test-time compute")[1].split("\n## ")[0]
    rows = [line for line in section.splitlines() if line.startswith("| addition") and "control@2 | greedy" in line]
    cells = [c.strip() for c in rows[0].strip("|").split("|")]
    train, test, total = (float(c) for c in cells[-3:])
    assert train == pytest.approx(by_ckpt["control@2"], rel=1e-2) and total == pytest.approx(train + test, rel=1e-2)
    page = (tmp_path / "report" / "index.html").read_text()
    # (plotly's JSON writes "·" as itself with orjson and as \u00b7 without: match the prefix)
    assert "accuracy vs training + test-time compute" in page and '"name":"control ' in page
    built = sorted((tmp_path / "cache" / "trained").glob("*/model.safetensors"))
    assert len(built) == 3
    stamps = [p.stat().st_mtime_ns for p in built]
    # A new run directory with the same matrix: the checkpoints are found, not retrained.
    again = run_matrix(parse_matrix(doc, "tr.yaml"), tmp_path / "run2", quiet=True)
    assert again.failed == 0 and [p.stat().st_mtime_ns for p in built] == stamps


def test_a_train_section_names_its_mistakes(base: Path) -> None:
    doc = {"name": "tr", "tasks": [{"name": "addition", "params": {"digits": 2}, "n_problems": 2}], "methods": ["greedy"],
           "train": {"base": str(base), "trainers": [{"name": "grpo", "budgets": [2], "params": {"lr": "fast"}}]}}
    with pytest.raises(ConfigError, match=r"tr.yaml: train.trainers\[0\].params.lr: expected float"):
        parse_matrix(doc, "tr.yaml")
    doc["train"] = {"base": str(base), "task": "gsm8k", "trainers": [{"name": "grpo", "budgets": [2]}]}
    with pytest.raises(ConfigError, match="train.task: 'gsm8k' is not a task of this matrix"):
        parse_matrix(doc, "tr.yaml")
    doc["train"] = {"base": str(base), "trainers": [{"name": "ppo", "budgets": [2]}]}
    with pytest.raises(ConfigError, match=r"train.trainers\[0\]: .*ppo"):
        parse_matrix(doc, "tr.yaml")


def test_search_made_data_and_a_chain_of_trainers(base: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """rft on solutions found by a test-time method (majority@4 here: no verifier needed), then
    grpo from that checkpoint: the chain's checkpoint carries both trainers' compute."""
    monkeypatch.setenv("THINKBENCH_CACHE", str(tmp_path / "cache"))
    doc = {"name": "chain", "tasks": [{"name": "addition", "params": {"digits": 2}, "n_problems": 4}],
           "train": {"base": str(base), "trainers": [
               {"name": "rft", "label": "searched", "budgets": [2],
                "params": SMALL | {"samples": 2, "search": "majority", "search_budget": 4}},
               {"name": "grpo", "base": "searched@2", "budgets": [2], "params": SMALL}]},
           "methods": ["greedy"], "generation": {"max_tokens": 32}}
    matrix = parse_matrix(doc, "chain.yaml")
    assert run_matrix(matrix, tmp_path / "run", quiet=True).failed == 0
    first, second = (read_info(c.path) for c in matrix.checkpoints)
    assert first["sampled_per_round"] == 48 * 2 and 0 < first["kept_per_round"][0] <= 96
    assert second["base"] == matrix.checkpoints[0].path
    assert second["post_train_flops"] == pytest.approx(
        first["post_train_flops"] + second["stage_flops"] + second["data_flops"])
    # The chain's identity is known before its base is built: a fresh parse names the same cells.
    assert parse_matrix(doc, "chain.yaml").fingerprint() == matrix.fingerprint()
    # A base rebuilt since (newer code, same settings) makes the chain stale: it retrains.
    from harness.trained import ensure_trained as build

    grpo = matrix.checkpoints[1]
    assert build(grpo.train)[2] is True  # found
    (Path(grpo.train.base) / "model.safetensors").touch()
    assert build(grpo.train)[2] is False  # retrained
    with pytest.raises(ConfigError, match=r"train.trainers\[1\].base: 'searched@3' is not an earlier"):
        doc["train"]["trainers"][1]["base"] = "searched@3"
        parse_matrix(doc, "chain.yaml")
    with pytest.raises(ConfigError, match="search 'beam' needs a verifier"):
        make_config(TRAINERS.config("rft"), {"search": "beam"}, "rft")


def test_a_learning_rate_written_1e_4_is_a_number(base: Path, tmp_path: Path) -> None:
    """YAML 1.1 reads `1e-4` (no dot) as a string; a matrix and `--param` read it as a float."""
    path = tmp_path / "m.yaml"
    path.write_text(f"tasks: [{{name: addition, params: {{digits: 2}}, n_problems: 2}}]\nmethods: [greedy]\n"
                    f"train: {{base: {base}, trainers: [{{name: grpo, budgets: [2], params: {{lr: 1e-4}}}}]}}\n")
    from harness.matrix import load_matrix

    assert load_matrix(path).checkpoints[0].train.config.lr == 1e-4
    path.write_text(path.read_text().replace("lr: 1e-4", "lr: '1e-4'"))  # quoted: a string, refused
    with pytest.raises(ConfigError, match="lr: expected float, got '1e-4'"):
        load_matrix(path)


def test_step_level_pairs_meet_at_the_first_wrong_step() -> None:
    """First-pit pairs: the prompt carries the shared right prefix; chosen and rejected are the
    right and the wrong continuations from the first wrong step to the end."""
    from baselines.train.dpo import step_pairs
    from baselines.train.tuning import Sampled
    from tasks.math.addition import AdditionTask, solution_text

    task = AdditionTask(digits=2)
    p = task.problems("train", 1, 0)[0]
    a, b = p.meta["a"], p.meta["b"]
    right = solution_text(a, b, 2)
    lines = right.splitlines()
    da, db = a % 10, b % 10
    slip = f"{da}+{db}+0={da + db + 1}"  # the first column miswritten
    wrong = "\n".join([slip] + lines[1:]) + "\n"
    rows = step_pairs([[Sampled(p, right, True), Sampled(p, wrong, False)]], task, pairs=4)
    assert rows == [{"prompt": task.prompt(p), "chosen": right, "rejected": wrong}]
    # A slip in the second column: the prompt carries the right first column.
    wrong2 = "\n".join([lines[0], lines[1].replace("=", "=1")] + lines[2:]) + "\n"
    (row,) = step_pairs([[Sampled(p, right, True), Sampled(p, wrong2, False)]], task, pairs=4)
    head = lines[0] + "\n"
    assert row == {"prompt": task.prompt(p) + head, "chosen": right[len(head):], "rejected": wrong2[len(head):]}
    assert row["chosen"].endswith("\n") and row["chosen"].startswith(lines[1])  # to the end, not one step
    assert step_pairs([[Sampled(p, wrong, False)]], task, pairs=4) == []  # no correct solution to pair with


def test_a_trainer_that_fails_fails_its_cells_and_the_run_goes_on(base: Path, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """DPO with one sample per problem has no (correct, incorrect) pair: its cells are failures
    (never finished cells), the other checkpoint's cells finish, and a rerun retries it."""
    from harness.store import load_failures

    monkeypatch.setenv("THINKBENCH_CACHE", str(tmp_path / "cache"))
    doc = {"name": "f", "tasks": [{"name": "addition", "params": {"digits": 2}, "n_problems": 3}],
           "train": {"base": str(base), "trainers": [
               {"name": "dpo", "budgets": [2], "params": SMALL | {"samples": 1}},
               {"name": "sft", "budgets": [1], "params": {"problems": 48, "batch": 8}}]},
           "methods": ["greedy", {"name": "majority", "budgets": [2]}], "generation": {"max_tokens": 32}}
    result = run_matrix(parse_matrix(doc, "f.yaml"), tmp_path / "run", quiet=True)
    assert result.failed == 2 and result.rows == 2 * 3
    failures = load_failures(tmp_path / "run")
    assert set(failures.checkpoint) == {"dpo@2"}
    assert failures.error.str.contains("training dpo@2 failed: ValueError: dpo: no problem had both").all()
    assert set(load_records(tmp_path / "run").checkpoint) == {"sft@1"}
