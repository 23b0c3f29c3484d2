"""Everything a matrix names is checked when it is read, before the run directory is claimed:
one line naming the file and the field, exit code 2 (issue 18, items 7-9)."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from harness.cli import main
from harness.matrix import load_matrix
from harness.registry import ConfigError

REST = "checkpoints: [CKPT]\nmethods: [greedy]\n"


@pytest.mark.parametrize("body,needle", [
    # 7: more problems than the split holds (the addition sampler used to loop forever)
    ("tasks: [{name: addition, params: {digits: 1}, n_problems: 50}]\n" + REST,
     "tasks[0].n_problems: addition(digits=1): asks for 50 problems but its test split holds 9"),
    ("tasks: [{name: addition, params: {digits: 2}}]\nn_problems: 900\n" + REST,
     "n_problems: addition(digits=2): asks for 900 problems but its test split holds 813"),
    ("tasks: [{name: addition, params: {digits: 1}, split: train, n_problems: 73}]\n" + REST,
     "tasks[0].n_problems: addition(digits=1): asks for 73 problems but its train split holds 72"),
    ("tasks: [{name: gsm8k, params: {data: 'builtin:gsm8k-test-100'}, n_problems: 101}]\n" + REST,
     "tasks[0].n_problems: gsm8k(data=builtin:gsm8k-test-100): asks for 101 problems but its test split holds 100"),
    # 8: a key given twice, at the top or deeper
    ("tasks: [{name: addition, n_problems: 3}]\nmethods: [majority]\n" + REST,
     "duplicate key 'methods' (lines 2 and 4)"),
    ("tasks: [{name: addition, n_problems: 3}]\ncheckpoints: [CKPT]\nmethods:\n"
     "  - name: majority\n    budgets: [2]\n    budgets: [4]\n", "duplicate key 'budgets' (lines 5 and 6)"),
    # 9: split, verifier backend, temperature, a procedural task's count
    ("tasks: [{name: addition, n_problems: 3}]\nsplit: tset\n" + REST,
     "split: addition: unknown split 'tset' (known: train, test)"),
    ("tasks: [{name: addition, n_problems: 3, split: tset}]\n" + REST,
     "tasks[0].split: addition: unknown split 'tset' (known: train, test)"),
    ("tasks: [{name: addition, n_problems: 3}]\ncheckpoints: [CKPT]\n"
     "methods: [greedy, {name: best_of_n, verifier: {name: judge, path: CKPT, backend: hff}}]\n",
     "methods[1].verifier.backend: unknown backend 'hff'"),
    ("tasks: [{name: addition, n_problems: 3}]\ngeneration: {temperature: .nan}\n" + REST,
     "generation.temperature: expected a number, got nan"),
    ("tasks: [{name: addition, n_problems: 3}]\ncheckpoints: [CKPT]\n"
     "methods: [{name: majority, generation: {temperature: .inf}}]\n", "methods[0].generation: need a finite temperature"),
    ("tasks: [addition]\n" + REST, "tasks[0].n_problems: addition draws its problems: say how many"),
])
def test_matrix_mistakes_are_said_before_the_run_directory_is_claimed(capsys, tmp_path: Path, body: str,
                                                                      needle: str) -> None:
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    path = tmp_path / "bad.yaml"
    path.write_text(body.replace("CKPT", str(ckpt)))
    with pytest.raises(ConfigError) as e:  # the reader refuses it (before any run could loop)
        load_matrix(path)
    assert needle in str(e.value) and str(path) in str(e.value)
    code = main(["run", str(path), "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "Traceback" not in err
    assert needle in err and str(path) in err
    assert not (tmp_path / "run").exists()


def test_a_procedural_task_never_gives_fewer_problems_or_loops(tmp_path: Path) -> None:
    """The task itself refuses too (trainers ask it for problems without a matrix)."""
    from tasks.math.addition import AdditionTask

    assert len(AdditionTask(digits=1).problems("test", 9, 0)) == 9  # the whole split can be drawn
    with pytest.raises(ConfigError, match="more than the test split holds \\(9 problems\\)"):
        AdditionTask(digits=1).problems("test", 10, 0)


def test_split_counts_match_the_hash_they_vectorise() -> None:
    from tasks.math.addition import count_in_split, in_test_split

    for digits in (1, 2):
        span = range(10 ** (digits - 1), 10**digits)
        test = sum(in_test_split(a, b) for a in span for b in span)
        assert count_in_split(digits, "test", 10**6) == test
        assert count_in_split(digits, "train", 10**6) == len(span) ** 2 - test


def test_a_run_that_dies_on_a_config_error_leaves_a_directory_the_fixed_matrix_reuses(
        tiny_ckpt: Path, tmp_path: Path, capsys, monkeypatch) -> None:
    """A mistake only found at run time (here: a dataset that cannot be loaded) stops the run
    with one line; the corrected matrix then runs into the same --out and keeps the cells
    already written."""
    import tasks.math.gsm8k

    def unreachable(*_a):
        raise ConfigError("gsm8k: no `data` file given and the HF dataset openai/gsm8k could not be loaded")

    monkeypatch.setattr(tasks.math.gsm8k, "load_hf_rows", unreachable)
    doc = {"name": "late", "tasks": [{"name": "addition", "params": {"digits": 4}, "n_problems": 2},
                                     {"name": "gsm8k", "n_problems": 2, "label": "gsm"}],
           "checkpoints": [{"name": "tiny", "path": str(tiny_ckpt)}], "methods": ["greedy"],
           "generation": {"max_tokens": 8}}
    m = tmp_path / "m.yaml"
    m.write_text(yaml.safe_dump(doc))
    out = tmp_path / "run"
    assert main(["run", str(m), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "openai/gsm8k" in err
    assert len(list((out / "records").glob("*.parquet"))) == 1  # the addition cell was written

    doc["tasks"][1]["params"] = {"data": "builtin:gsm8k-test-100"}  # the fix
    m.write_text(yaml.safe_dump(doc))
    assert main(["run", str(m), "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "ran 1 cells" in printed and "1 already finished" in printed
