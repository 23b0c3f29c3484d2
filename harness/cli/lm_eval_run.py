"""`thinkbench lm-eval --model_args checkpoint=...,method=majority,budget=8 --tasks gsm8k`: lm-eval
with any thinkbench method as its model. lm-eval 0.4 has no flag to import a model plugin (and
reads no Python entry point for models), so this command registers the `thinkbench` model and
calls `lm_eval.simple_evaluate`, saving results and samples as lm-eval's own CLI does."""
from __future__ import annotations

import argparse
import importlib.util
import json

from harness.registry import ConfigError


def _limit(text: str) -> int | float:
    """lm-eval's --limit: a count, or a fraction below 1."""
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"--limit must be positive, got {text}")
    return int(value) if value >= 1 else value


def main(args: argparse.Namespace) -> int:
    if importlib.util.find_spec("lm_eval") is None:
        raise ConfigError("thinkbench lm-eval needs the optional package lm_eval: pip install 'thinkbench[lmeval]'")
    if args.log_samples and not args.output_path:
        raise ConfigError("--log_samples needs --output_path (where lm-eval writes the samples)")
    import lm_eval
    from lm_eval.loggers import EvaluationTracker
    from lm_eval.utils import make_table, simple_parse_args_string

    import harness.lm_eval_model  # noqa: F401 - registers the `thinkbench` model with lm-eval
    from harness.lm_eval_tasks_index import task_manager

    model_args = simple_parse_args_string(args.model_args)
    # lm-eval names its output folder after `pretrained` (a dict key it looks for; `checkpoint`
    # is not one), and the model extracts answers with the same task YAMLs as lm-eval.
    if "checkpoint" in model_args and "pretrained" not in model_args:
        model_args["pretrained"] = model_args.pop("checkpoint")
    if args.include_path:
        model_args.setdefault("include_path", args.include_path)
    tasks = [t for t in args.tasks.split(",") if t]
    manager = task_manager(args.include_path, tasks)
    try:
        loaded = manager.load(tasks)
    except Exception as e:  # noqa: BLE001 - lm-eval raises KeyError/ValueError/... for unknown names
        raise ConfigError(f"--tasks: lm-eval cannot load {args.tasks!r}: {type(e).__name__}: "
                          f"{str(e).splitlines()[0] if str(e) else ''}") from None
    # Refused before the model loads: a thinkbench method only generates.
    for name, task in loaded["tasks"].items():
        if task.get_config("output_type") != "generate_until":
            raise ConfigError(f"--tasks: {name} is an lm-eval {task.get_config('output_type')} task; the "
                              "thinkbench model answers generate_until requests only")
    tracker = EvaluationTracker(output_path=args.output_path) if args.output_path else None
    results = lm_eval.simple_evaluate(model="thinkbench", model_args=model_args, tasks=tasks,
                                      num_fewshot=args.num_fewshot, limit=args.limit,
                                      log_samples=args.log_samples, evaluation_tracker=tracker,
                                      task_manager=manager, bootstrap_iters=args.bootstrap_iters)
    if results is None:
        return 1
    samples = results.pop("samples", None)
    if tracker is not None:
        tracker.save_results_aggregated(results=results, samples=samples if args.log_samples else None)
        if args.log_samples:
            for name in results["configs"]:
                tracker.save_results_samples(task_name=name, samples=samples[name])
    print(make_table(results))
    if args.output_path:
        print(f"results{' and samples' if args.log_samples else ''} saved under {args.output_path} "
              f"(thinkbench import-lm-eval {args.output_path} --out runs/NAME makes them a run)")
    if args.show_config:
        print(json.dumps(results.get("config", {}), indent=1, default=str))
    return 0


def add(sub: argparse._SubParsersAction) -> None:
    c = sub.add_parser("lm-eval", help="run lm-eval tasks with a thinkbench method as the model")
    c.add_argument("--model_args", required=True,
                   help="checkpoint=DIR,method=NAME,budget=N[,verifier=NAME][,<method/backend/verifier field>=V]")
    c.add_argument("--tasks", required=True, help="lm-eval task names, comma-separated")
    c.add_argument("--include_path", help="a directory of extra lm-eval task YAMLs")
    c.add_argument("--limit", type=_limit, help="the first N docs per task (or a fraction below 1)")
    c.add_argument("--num_fewshot", type=int, help="few-shot examples (default: each task's own)")
    c.add_argument("--output_path", help="where lm-eval writes results_<date>.json (and samples)")
    c.add_argument("--log_samples", action="store_true", help="write samples_<task>_<date>.jsonl too")
    c.add_argument("--bootstrap_iters", type=int, default=100_000,
                   help="lm-eval's bootstrap for metric stderr (0: skip it)")
    c.add_argument("--show_config", action="store_true", help="print the run's config as JSON")
    c.set_defaults(fn=main)
