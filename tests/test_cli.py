"""User mistakes: one clear line naming the file/field/value, exit code 2, no traceback."""
from pathlib import Path

import pytest

from harness.cli import main

GOOD_TASK = "tasks: [{name: addition, n_problems: 3}]\n"


def run_cli(capsys, *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    err = capsys.readouterr().err.strip()
    return code, err


@pytest.mark.parametrize("body,needle", [
    ("tasks: [{name: additon}]\ncheckpoints: [CKPT]\nmethods: [greedy]\n", "tasks[0]: unknown task 'additon'"),
    (GOOD_TASK + "checkpoints: [CKPT]\nmethods: [greedy, majorty]\n", "methods[1]: unknown method 'majorty'"),
    (GOOD_TASK + "checkpoints: [/nope/ckpt]\nmethods: [greedy]\n", "checkpoints[0]: checkpoint '/nope/ckpt': no such directory"),
    (GOOD_TASK + "checkpoints: [CKPT]\nmethods: [greedy]\nbudgetz: [1]\n", "unknown field 'budgetz'"),
    (GOOD_TASK + "checkpoints: [CKPT]\nmethods: [greedy]\nbudgets: [0, 2]\n", "budgets: expected a non-empty list of positive integers"),
    (GOOD_TASK + "checkpoints: [CKPT]\nmethods: [{name: greedy, budget: 3}]\n", "methods[0]: unknown field 'budget'"),
    (GOOD_TASK + "checkpoints: [CKPT]\nmethods: [greedy]\ngeneration: {temperature: hot}\n", "generation.temperature: expected float, got 'hot'"),
    ("tasks: [{name: addition, params: {digits: 99}}]\ncheckpoints: [CKPT]\nmethods: [greedy]\n", "digits must be an integer in 1..12"),
    ("tasks: [{name: addition, n_problems: -1}]\ncheckpoints: [CKPT]\nmethods: [greedy]\n", "tasks[0].n_problems"),
    (GOOD_TASK + "methods: [greedy]\n", "missing field 'checkpoints'"),
    ("tasks: [addition\n", "not valid YAML at line"),
    # Typed configs: every knob is checked when the matrix is read.
    (GOOD_TASK + "checkpoints: [CKPT]\nmethods: [{name: beam, verifier: oracle, budgets: [8], params: {expansion: 8}}]\n",
     "methods[0].params: unknown field 'expansion' (known: expansions, max_steps)"),
    (GOOD_TASK + "checkpoints: [CKPT]\nmethods: [{name: mcts, verifier: oracle, params: {rollout: 'false'}}]\n",
     "methods[0].params.rollout: expected bool, got 'false'"),
    (GOOD_TASK + "checkpoints: [CKPT]\nmethods: [{name: beam, verifier: oracle, budgets: [4, 6]}]\n",
     "methods[0].budgets: beam: budget 6 is not a multiple of expansions (4)"),
    (GOOD_TASK + "checkpoints: [CKPT]\nmethods: [{name: greedy, params: {temperature: 0.5}}]\n",
     "methods[0].params: unknown field 'temperature' (known: none: it takes no parameters)"),
    (GOOD_TASK + "checkpoints: [CKPT]\nmethods: [greedy]\nexclude: [{method: gready}]\n",
     "exclude[0]: matches no cell of the matrix (method 'gready' is not in it; known: greedy)"),
    (GOOD_TASK + "checkpoints: [CKPT]\nmethods: [majority]\nbudgets: [2, 6]\nexclude: [{budget: '6'}]\n",
     "exclude[0].budget: expected int, got '6'"),
    (GOOD_TASK + "checkpoints: [CKPT]\nmethods: [greedy]\nexclude: [{method: greedy}]\n", "excludes every cell"),
    ("tasks: [addition]\ncheckpoints: [CKPT]\nmethods: [greedy]\nn_problems: true\n",
     "n_problems: expected a positive integer, got True"),
    ("tasks: [{name: addition, params: {digits: '4'}}]\ncheckpoints: [CKPT]\nmethods: [greedy]\n",
     "tasks[0].params.digits: expected int, got '4'"),
    (GOOD_TASK + "checkpoints: [{path: CKPT, params: {batch_sise: 8}}]\nmethods: [greedy]\n",
     "checkpoints[0].params: unknown field 'batch_sise'"),
    # A matrix's name names its directory under runs/: nothing may escape it.
    ("name: ../../x\n" + GOOD_TASK + "checkpoints: [CKPT]\nmethods: [greedy]\n", "name: '../../x' must be a plain name"),
    ("name: /abs/path\n" + GOOD_TASK + "checkpoints: [CKPT]\nmethods: [greedy]\n", "name: '/abs/path' must be a plain name"),
])
def test_matrix_mistakes_are_one_line(capsys, tmp_path: Path, body: str, needle: str) -> None:
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    path = tmp_path / "bad.yaml"
    path.write_text(body.replace("CKPT", str(ckpt)))
    code, err = run_cli(capsys, "run", str(path), "--out", str(tmp_path / "run"))
    assert code == 2
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert needle in err and str(path) in err


def test_missing_files(capsys, tmp_path: Path) -> None:
    code, err = run_cli(capsys, "run", str(tmp_path / "none.yaml"))
    assert code == 2 and "no such matrix file" in err
    code, err = run_cli(capsys, "report", str(tmp_path / "norun"))
    assert code == 2 and "no records found" in err


def test_listings_show_every_knob_with_its_type_and_default_wrapped(capsys, monkeypatch) -> None:
    """A newcomer's listing: no `_MISSING_TYPE` reprs, no private fields, no line past the
    terminal's width, and each knob as `name: type = default` (or `(required)`)."""
    monkeypatch.setenv("COLUMNS", "80")
    seen = {}
    for kind in ("tasks", "methods", "verifiers", "trainers", "backends"):
        assert main([kind]) == 0
        seen[kind] = out = capsys.readouterr().out
        assert "_MISSING_TYPE" not in out and "_rows" not in out, kind
        assert max(map(len, out.splitlines())) <= 80, kind
    assert "    digits: int = 4" in seen["tasks"]
    assert "    expansions: int = 4" in seen["methods"]
    assert "    path: str (required)" in seen["verifiers"]
    assert "    attention: 'auto' | 'eager' | 'sdpa' | 'flash_attention_2' = 'auto'" in seen["backends"]


def test_listings(capsys) -> None:
    assert main(["tasks"]) == 0
    out = capsys.readouterr().out
    assert "addition" in out and "gsm8k" in out
    assert main(["methods"]) == 0
    out = capsys.readouterr().out
    for name in ("greedy", "sample", "majority", "oracle_best_of_n"):
        assert name in out
