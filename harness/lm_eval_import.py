"""lm-eval `--log_samples` output as thinkbench records (`thinkbench import-lm-eval`).

lm-eval's EvaluationTracker writes, per run, `results_<date>.json` and one
`samples_<task>_<date>.jsonl` per task into `<output_path>/<model_name_sanitized>/`. Each line
of a samples file is one (doc, filter) pair: `doc_id`, `doc`, `target`, `arguments` (the
requests: `gen_args_i.arg_0` is the prompt), `resps` (raw model outputs), `filtered_resps` (what
the filter pipeline extracted), `filter` (its name) and one field per metric. A task with two
filters (gsm8k's `strict-match` and `flexible-extract`) has two lines per doc.

Records are keyed by (checkpoint, task, filter, doc_id); each filter becomes its own method
label, so no filter's rows overwrite another's. `correct` is the task's primary metric (the
first of its `metric_list`), `prompt_hash` hashes the prompt text the way a thinkbench run
hashes its problems' prompts. lm-eval logs no token counts, so the cost columns are 0.

Reading needs no lm-eval install: the files are plain JSON.
"""
from __future__ import annotations

import hashlib
import json
import math
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.contracts import Record, content_hash
from harness.registry import ConfigError
from harness.store import RunStore

SAMPLES_RE = re.compile(r"samples_(?P<task>.+)_(?P<date>\d{4}-\d\d-\d\dT[\d.\-]+)\.jsonl")
COSTS_NOTE = "lm-eval logs no token counts or timings: the cost columns of imported records are 0"


@dataclass
class SamplesFile:
    """One `samples_<task>_<date>.jsonl` with the `results_<date>.json` beside it (if any)."""

    path: Path
    task: str
    date: str
    results: dict = field(default_factory=dict)

    @property
    def config(self) -> dict:
        return self.results.get("config", {})

    @property
    def task_config(self) -> dict:
        return self.results.get("configs", {}).get(self.task, {})


def find_samples(root: Path) -> list[SamplesFile]:
    """Every lm-eval samples file under `root` (the output path or a model's subfolder)."""
    if not root.is_dir():
        raise ConfigError(f"{root}: not a directory (expected lm-eval's --output_path)")
    found = []
    for path in sorted(root.rglob("samples_*.jsonl")):
        m = SAMPLES_RE.fullmatch(path.name)
        if m is None:
            raise ConfigError(f"{path}: not named like lm-eval's samples_<task>_<date>.jsonl")
        results_path = path.with_name(f"results_{m['date']}.json")
        results: dict = {}
        if results_path.is_file():
            try:
                results = json.loads(results_path.read_text(encoding="utf-8"))
            except ValueError as e:
                raise ConfigError(f"{results_path}: not valid JSON ({e})") from None
            if not isinstance(results, dict):
                raise ConfigError(f"{results_path}: expected a JSON object, got {type(results).__name__}")
        found.append(SamplesFile(path, m["task"], m["date"], results))
    if not found:
        raise ConfigError(f"{root}: no lm-eval samples files (samples_<task>_<date>.jsonl) found; "
                          "run lm-eval with --log_samples and --output_path")
    return found


def model_args(config: dict) -> dict:
    """lm-eval's `model_args`: a dict (0.4.8+) or a `k=v,k=v` string (older)."""
    args = config.get("model_args") or {}
    if isinstance(args, str):
        args = dict(part.split("=", 1) for part in args.split(",") if "=" in part)
    return args if isinstance(args, dict) else {}


def checkpoint_of(sf: SamplesFile) -> tuple[str, str]:
    """(label, path) of the model behind a samples file: `pretrained` (or `model`,
    `checkpoint`) from the results' model_args, else lm-eval's model name, else the folder
    lm-eval named after the model. The label is the path as lm-eval was given it."""
    args = model_args(sf.config)
    path = str(args.get("pretrained") or args.get("model") or args.get("checkpoint")
               or sf.results.get("model_name") or sf.path.parent.name)
    return path, path


def primary_metric(sf: SamplesFile, line: dict) -> str:
    """The task's primary metric: the first of its metric_list, else the line's first metric."""
    listed = sf.task_config.get("metric_list") or []
    if listed and isinstance(listed[0], dict) and listed[0].get("metric"):
        return str(listed[0]["metric"])
    metrics = line.get("metrics") or []
    if metrics:
        return str(metrics[0])
    raise ConfigError(f"{sf.path}: no 'metrics' field and no results file naming the task's metric_list")


def prompt_text(arguments: Any) -> Any:
    """The prompt of a sample: the one request's context (a generate_until task), else every
    request's text arguments (loglikelihood: context + continuation per choice)."""
    if not isinstance(arguments, dict) or not arguments:
        return arguments
    requests = [arguments[k] for k in sorted(arguments, key=lambda k: int(k.rsplit("_", 1)[-1]))]
    texts = [[v for v in (r.values() if isinstance(r, dict) else [r]) if isinstance(v, str)] for r in requests]
    return texts[0][0] if len(texts) == 1 and len(texts[0]) == 1 else texts


def first_text(value: Any) -> Any:
    """The first leaf of a nested list (lm-eval's resps are [[text]], filtered_resps [text])."""
    while isinstance(value, list) and value:
        value = value[0]
    return value


def _as_text(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else json.dumps(value, default=str)


def read_lines(sf: SamplesFile) -> list[dict]:
    """The samples of one file; a malformed line or a missing field is a ConfigError naming it."""
    out = []
    with open(sf.path, encoding="utf-8") as fh:
        for n, raw in enumerate(fh, 1):
            if not raw.strip():
                continue
            try:
                line = json.loads(raw)
            except ValueError as e:
                raise ConfigError(f"{sf.path}:{n}: not valid JSON ({e})") from None
            if not isinstance(line, dict):
                raise ConfigError(f"{sf.path}:{n}: expected a JSON object, got {type(line).__name__}")
            for key in ("doc_id", "filter", "resps", "filtered_resps"):
                if key not in line:
                    raise ConfigError(f"{sf.path}:{n}: no {key!r} field (not lm-eval --log_samples output?)")
            line["_line"] = n
            out.append(line)
    return out


@dataclass
class Imported:
    """What an import wrote: the store, its records, and lm-eval's own aggregate per
    (checkpoint, task, filter) where the results file reports one (a cross-check)."""

    store: RunStore
    records: list[Record]
    reported: dict[tuple[str, str, str], float]
    metric: dict[tuple[str, str, str], str]


def to_records(files: list[SamplesFile], run: str) -> tuple[dict[str, list[Record]], dict, dict]:
    """Records grouped by cell hash, lm-eval's reported aggregates, and each cell's metric."""
    cells: dict[str, list[Record]] = defaultdict(list)
    seen: dict[tuple, str] = {}
    reported: dict[tuple[str, str, str], float] = {}
    metrics: dict[tuple[str, str, str], str] = {}
    for sf in files:
        label, path = checkpoint_of(sf)
        config = sf.config
        backend = f"lm-eval:{config.get('model', 'unknown')}"
        backend_config = json.dumps({"model_args": model_args(config), "lm_eval_version":
                                     sf.results.get("lm_eval_version"), "costs": COSTS_NOTE,
                                     "source": str(sf.path)}, sort_keys=True, default=str)
        split = sf.task_config.get("test_split") or sf.task_config.get("validation_split") or "test"
        params = int(config.get("model_num_parameters") or 0)
        seed = int(config.get("random_seed") or 0)
        for line in read_lines(sf):
            where = f"{sf.path}:{line['_line']}"
            filt = str(line["filter"])
            key = (label, sf.task, filt, str(line["doc_id"]))
            if key in seen:
                raise ConfigError(f"{where}: doc_id {line['doc_id']} of task {sf.task!r}, filter {filt!r} "
                                  f"already read from {seen[key]} (import one lm-eval run at a time)")
            seen[key] = where
            metric = primary_metric(sf, line)
            value = line.get(metric)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ConfigError(f"{where}: metric field {metric!r} is {value!r}, not a number")
            metrics[(label, sf.task, filt)] = metric
            agg = sf.results.get("results", {}).get(sf.task, {}).get(f"{metric},{filt}")
            if isinstance(agg, (int, float)) and not isinstance(agg, bool):
                reported[(label, sf.task, filt)] = float(agg)
            resps = line["resps"]
            n_samples = len(resps[0]) if isinstance(resps, list) and resps and isinstance(resps[0], list) else 1
            cell_key = json.dumps([label, path, sf.task, filt, sf.date], sort_keys=True)
            cell_hash = hashlib.sha256(cell_key.encode()).hexdigest()[:16]
            method_config = json.dumps({"filter": filt, "metric": metric, "filter_list": [
                f for f in sf.task_config.get("filter_list", []) if isinstance(f, dict) and f.get("name") == filt]},
                sort_keys=True, default=str)
            gen = first_text(line.get("arguments", {}).get("gen_args_0", {}).get("arg_1")
                             if isinstance(line.get("arguments"), dict) else None)
            cells[cell_hash].append(Record(
                run=run, cell=f"{sf.task}/{label}/{filt}@1/seed{seed}", cell_hash=cell_hash, task=sf.task,
                split=split, problem_id=str(line["doc_id"]),
                prompt_hash=content_hash(prompt_text(line.get("arguments"))),
                reference_hash=content_hash(line.get("target")), checkpoint=label, checkpoint_path=path,
                backend=backend, backend_config=backend_config, method=filt, method_name="lm-eval",
                method_config=method_config, verifier=None, verifier_config=None,
                sampling=json.dumps(gen if isinstance(gen, dict) else {}, sort_keys=True, default=str),
                budget=1, seed=seed, answer=_as_text(first_text(line["filtered_resps"])),
                correct=float(value), n_samples=n_samples, n_correct=None,
                trace=_as_text(first_text(resps)), policy_params=params))
    return cells, reported, metrics


def import_lm_eval(source: Path, out: Path) -> Imported:
    """Read every samples file under `source` and write them as records of the run `out`."""
    files = find_samples(source)
    cells, reported, metrics = to_records(files, out.name)
    fingerprint = hashlib.sha256(json.dumps(sorted(cells)).encode()).hexdigest()[:16]
    store = RunStore(out)
    owner = store.owner()
    if owner is not None and owner.get("fingerprint") != fingerprint:
        raise ConfigError(f"{out}: already holds other records; import into a new --out")
    store.prepare()
    with store.lock():
        store.adopt(f"lm-eval import of {source}", fingerprint,
                    {h: rows[0].cell for h, rows in cells.items()}, None)
        for h, rows in cells.items():
            store.write(h, rows)
    return Imported(store, [r for rows in cells.values() for r in rows], reported, metrics)
