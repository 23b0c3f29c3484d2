"""lm-eval both ways, on real lm-eval runs of the tiny testbed model over a local task YAML:

- `thinkbench import-lm-eval` on lm-eval's own --log_samples output (every filter kept);
- `lm_eval:<task>` as a thinkbench task: greedy through `thinkbench run` equals lm-eval's `hf`
  model problem for problem (prompt, completion, extracted answer, verdict);
- thinkbench as an lm-eval model (`thinkbench lm-eval`): greedy returns what HFLM returns, and
  majority returns a completion whose filtered answer is the vote's answer.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from harness.cli import main
from harness.contracts import content_hash
from harness.registry import ConfigError, Registry

# lm-eval and datasets must never reach for the hub here: the task reads a local JSON file.
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

N = 6
MAX_TOKENS = 64
TASK_YAML = """task: tb_add
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: generate_until
doc_to_text: "{{{{question}}}}"
doc_to_target: "{{{{answer}}}}"
generation_kwargs:
  until: ["\\n\\n"]
  do_sample: false
  max_gen_toks: {max_tokens}
filter_list:
  - name: strict-match
    filter:
      - function: regex
        regex_pattern: "A=(-?\\\\d+)"
      - function: take_first
  - name: flexible-extract
    filter:
      - function: regex
        group_select: 0
        regex_pattern: "(-?\\\\d+)"
      - function: take_first
metric_list:
  - metric: exact_match
    aggregation: mean
    higher_is_better: true
"""
MC_YAML = """task: tb_mc
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: multiple_choice
doc_to_text: "{{{{question}}}}"
doc_to_choice: ["yes", "no"]
doc_to_target: 0
"""


@pytest.fixture(scope="module")
def task_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A local lm-eval task over addition problems (the testbed's prompt format), plus a
    multiple-choice task over the same rows."""
    from tasks.math.addition import AdditionTask

    root = tmp_path_factory.mktemp("lm_eval_tasks")
    data = root / "add.jsonl"
    data.write_text("".join(json.dumps({"question": p.prompt, "answer": p.reference}) + "\n"
                            for p in AdditionTask().problems("test", N, 0)))
    (root / "tb_add.yaml").write_text(TASK_YAML.format(data=data, max_tokens=MAX_TOKENS))
    (root / "tb_mc.yaml").write_text(MC_YAML.format(data=data))
    return root


def save_like_lm_eval(results: dict, out: Path) -> None:
    """Save results and samples with lm-eval's EvaluationTracker, as its CLI does."""
    from lm_eval.loggers import EvaluationTracker

    tracker = EvaluationTracker(output_path=str(out))
    tracker.general_config_tracker.log_experiment_args(
        model_source=results["config"]["model"], model_args=results["config"]["model_args"],
        system_instruction=None, chat_template=None, fewshot_as_multiturn=False)
    samples = results.pop("samples")
    tracker.save_results_aggregated(results=results, samples=samples)
    for name in results["configs"]:
        tracker.save_results_samples(task_name=name, samples=samples[name])


@pytest.fixture(scope="module")
def hf_output(tiny_ckpt: Path, task_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """lm-eval's `hf` model on the task, greedy, with --log_samples output on disk."""
    import lm_eval
    from lm_eval.tasks import TaskManager

    out = tmp_path_factory.mktemp("lm_eval_hf")
    results = lm_eval.simple_evaluate(
        model="hf", model_args={"pretrained": str(tiny_ckpt), "dtype": "float32", "device": "cpu",
                                "attn_implementation": "eager"},
        tasks=["tb_add"], task_manager=TaskManager(include_path=str(task_dir), include_defaults=False), batch_size=N,
        log_samples=True, bootstrap_iters=0)
    save_like_lm_eval(results, out)
    return out


def samples_of(out: Path) -> list[dict]:
    files = sorted(out.rglob("samples_*.jsonl"))
    assert len(files) == 1, files
    return [json.loads(line) for line in files[0].read_text().splitlines()]


def one_line_error(capsys, argv: list[str]) -> str:
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


# ── import-lm-eval ───────────────────────────────────────────────────────────────────────────

def test_import_keeps_every_filter_and_compares(hf_output: Path, tmp_path: Path, capsys) -> None:
    run = tmp_path / "runs" / "hf-import"
    assert main(["import-lm-eval", str(hf_output), "--out", str(run)]) == 0
    assert "cost columns of imported records are 0" in capsys.readouterr().out
    records = pd.read_parquet(run / "records")
    lines = samples_of(hf_output)
    assert sorted(records["method"].unique()) == ["flexible-extract", "strict-match"]
    assert len(records) == len(lines) == 2 * N  # both filters of every doc, none overwritten
    by_key = records.set_index(["method", "problem_id"])
    for line in lines:
        row = by_key.loc[(line["filter"], str(line["doc_id"]))]
        assert row["answer"] == line["filtered_resps"][0]
        assert row["trace"] == line["resps"][0][0]
        assert row["correct"] == line["exact_match"]
        assert row["prompt_hash"] == content_hash(line["arguments"]["gen_args_0"]["arg_0"])
        assert row["checkpoint_path"] == json.loads(row["backend_config"])["model_args"]["pretrained"]
    # The two filters read different answers from one completion (flexible-extract: its first number).
    strict, flexible = (records[records["method"] == m].sort_values("problem_id")["answer"].tolist()
                        for m in ("strict-match", "flexible-extract"))
    assert strict != flexible
    # lm-eval's own aggregate equals the mean of the imported rows.
    results = json.loads(next(hf_output.rglob("results_*.json")).read_text())["results"]["tb_add"]
    for m in ("strict-match", "flexible-extract"):
        assert records[records["method"] == m]["correct"].mean() == pytest.approx(results[f"exact_match,{m}"])
    assert main(["compare", str(run), str(run), "--out", str(tmp_path / "cmp")]) == 0
    assert main(["report", str(run), "--out", str(tmp_path / "rep")]) == 0


def test_import_mistakes_are_one_line(hf_output: Path, tmp_path: Path, capsys) -> None:
    real = next(hf_output.rglob("samples_*.jsonl"))
    empty = tmp_path / "empty"
    empty.mkdir()
    err = one_line_error(capsys, ["import-lm-eval", str(empty), "--out", str(tmp_path / "r0")])
    assert "no lm-eval samples files" in err and str(empty) in err

    broken = tmp_path / "broken"
    broken.mkdir()
    lines = real.read_text().splitlines()
    (broken / real.name).write_text("\n".join([lines[0], lines[1][:40]] + lines[2:]) + "\n")
    err = one_line_error(capsys, ["import-lm-eval", str(broken), "--out", str(tmp_path / "r1")])
    assert f"{broken / real.name}:2: not valid JSON" in err

    no_id = tmp_path / "no_id"
    no_id.mkdir()
    first = json.loads(lines[0])
    del first["doc_id"]
    (no_id / real.name).write_text("\n".join([json.dumps(first)] + lines[1:]) + "\n")
    err = one_line_error(capsys, ["import-lm-eval", str(no_id), "--out", str(tmp_path / "r2")])
    assert f"{no_id / real.name}:1: no 'doc_id' field" in err


# ── lm_eval:<task> as a thinkbench task, and the parity with lm-eval's hf model ──────────────

def test_greedy_parity_with_lm_eval_hf(tiny_ckpt: Path, task_dir: Path, hf_output: Path, tmp_path: Path) -> None:
    matrix = tmp_path / "parity.yaml"
    matrix.write_text(json.dumps({
        "name": "parity",
        "tasks": [{"name": "lm_eval:tb_add", "params": {"include_path": str(task_dir)}}],
        "checkpoints": [{"path": str(tiny_ckpt), "params": {"dtype": "float32", "attention": "eager",
                                                             "device": "cpu"}}],
        "methods": ["greedy"],
        "generation": {"max_tokens": MAX_TOKENS, "stop": ["\n\n"]}}))
    assert main(["run", str(matrix), "--out", str(tmp_path / "run")]) == 0
    ours = pd.read_parquet(tmp_path / "run" / "records").set_index("problem_id")
    theirs = [s for s in samples_of(hf_output) if s["filter"] == "strict-match"]
    assert len(ours) == len(theirs) == N
    for line in theirs:
        row = ours.loc[str(line["doc_id"])]
        assert row["prompt_hash"] == content_hash(line["arguments"]["gen_args_0"]["arg_0"])  # same prompt
        assert row["trace"] == line["resps"][0][0]                                           # same completion
        assert row["answer"] == line["filtered_resps"][0]                                    # same extraction
        assert row["correct"] == line["exact_match"]                                         # same verdict
    assert ours["answer"].notna().all()


def test_lm_eval_task_scores_with_its_metric(task_dir: Path) -> None:
    from harness.matrix import build_task

    task = build_task("lm_eval:tb_add", {"include_path": str(task_dir)})
    problems = task.problems("test", 3, 0)
    assert [p.id for p in problems] == ["0", "1", "2"] and task.stop == ("\n\n",)
    ref = problems[0].reference
    assert task.check(ref, problems[0]).correct and not task.check(ref + "1", problems[0]).correct
    assert task.extract(f"1+2+0=3\nA={ref}\n\nA=5\n") == ref  # cut at `until`, as lm-eval's models cut
    assert task.extract("no answer here") is None and not task.check(None, problems[0]).correct
    flexible = build_task("lm_eval:tb_add", {"include_path": str(task_dir), "filter": "flexible-extract"})
    assert flexible.extract("1+2+0=3\nA=77\n") == "1" and task.extract("1+2+0=3\nA=77 x9\n") == "77"
    with pytest.raises(ConfigError, match="params.filter: unknown filter 'strict'"):
        build_task("lm_eval:tb_add", {"include_path": str(task_dir), "filter": "strict"})
    with pytest.raises(ConfigError, match="output_type 'multiple_choice'"):
        build_task("lm_eval:tb_mc", {"include_path": str(task_dir)})


def test_lm_eval_family_is_lazy_and_says_how_to_install() -> None:
    code = ("import sys; from harness.registry import TASKS, load_plugins; load_plugins(); "
            "assert 'lm_eval:tb' in TASKS and 'lm_eval' not in sys.modules, 'imported lm_eval'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[1])
    reg: Registry = Registry("task")
    reg.lazy_family("x", "no_such_module", requires=("no_such_package_tb",), extra="lmeval")
    with pytest.raises(ConfigError, match=r"needs the optional package no_such_package_tb: pip install 'thinkbench\[lmeval\]'"):
        reg.get("x:anything")


# ── thinkbench as an lm-eval model ───────────────────────────────────────────────────────────

def lm_eval_cli(ckpt: Path, task_dir: Path, out: Path, model_args: str, task: str = "tb_add") -> list[str]:
    return ["lm-eval", "--model_args", f"checkpoint={ckpt},dtype=float32,attention=eager,device=cpu,{model_args}",
            "--tasks", task, "--include_path", str(task_dir), "--output_path", str(out), "--log_samples",
            "--bootstrap_iters", "0"]


def test_thinkbench_model_greedy_equals_hf(tiny_ckpt: Path, task_dir: Path, hf_output: Path, tmp_path: Path) -> None:
    out = tmp_path / "tb-greedy"
    assert main(lm_eval_cli(tiny_ckpt, task_dir, out, "method=greedy")) == 0
    ours = {(s["doc_id"], s["filter"]): s for s in samples_of(out)}
    for line in samples_of(hf_output):
        mine = ours[(line["doc_id"], line["filter"])]
        assert mine["resps"] == line["resps"] and mine["filtered_resps"] == line["filtered_resps"]
    # lm-eval named its folder after the checkpoint, and the import finds it there.
    assert main(["import-lm-eval", str(out), "--out", str(tmp_path / "runs" / "tb")]) == 0
    assert set(pd.read_parquet(tmp_path / "runs" / "tb" / "records")["checkpoint_path"]) == {str(tiny_ckpt)}


def test_thinkbench_model_majority_returns_the_vote(tiny_ckpt: Path, task_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "tb-majority"
    assert main(lm_eval_cli(tiny_ckpt, task_dir, out, "method=majority,budget=4,temperature=1.0")) == 0
    answers = {s["doc_id"]: s["filtered_resps"][0] for s in samples_of(out) if s["filter"] == "strict-match"}
    # The same vote through `thinkbench run`: one pool of 4 samples per problem, same seed and sampling.
    matrix = tmp_path / "vote.yaml"
    matrix.write_text(json.dumps({
        "name": "vote", "tasks": [{"name": "lm_eval:tb_add", "params": {"include_path": str(task_dir)}}],
        "checkpoints": [{"path": str(tiny_ckpt), "params": {"dtype": "float32", "attention": "eager", "device": "cpu"}}],
        "methods": [{"name": "majority", "budgets": [4]}],
        "generation": {"temperature": 1.0, "max_tokens": MAX_TOKENS, "stop": ["\n\n"]}}))
    assert main(["run", str(matrix), "--out", str(tmp_path / "vote")]) == 0
    voted = pd.read_parquet(tmp_path / "vote" / "records").set_index("problem_id")["answer"]
    assert {int(k): (v if v is not None else "[invalid]") for k, v in voted.items()} == answers
    assert len(set(answers.values())) > 1  # samples at temperature 1 differ: not one answer for all


def test_thinkbench_model_refuses_loglikelihood(tiny_ckpt: Path, task_dir: Path, tmp_path: Path, capsys) -> None:
    err = one_line_error(capsys, lm_eval_cli(tiny_ckpt, task_dir, tmp_path / "mc", "method=greedy", task="tb_mc"))
    assert "generate_until requests only" in err and "tb_mc is an lm-eval multiple_choice task" in err
    # Through lm-eval's Python API the model itself refuses, naming the task.
    from lm_eval.api.instance import Instance

    from harness.lm_eval_model import ThinkbenchLM

    lm = ThinkbenchLM(checkpoint=str(tiny_ckpt), method="greedy", dtype="float32")
    request = Instance("loglikelihood", {}, ("1+1\n", " 2"), 0, ("tb_mc", 0, 1))
    with pytest.raises(ConfigError, match="generate_until requests only; task tb_mc asks for loglikelihood"):
        lm.loglikelihood([request])
    with pytest.raises(ConfigError, match="reads the reference answer"):
        ThinkbenchLM(checkpoint=str(tiny_ckpt), method="best_of_n", verifier="oracle")
