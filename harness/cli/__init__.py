"""`thinkbench` command line: one module per command (the top floor). Commands reach tasks and
baselines only through the registries.

Start-up: only the chosen command's module is imported (report pulls plotly and pandas, run
the runner, ...). The others appear in `thinkbench --help` from the table below, which a test
keeps equal to what each module registers.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from harness.registry import ConfigError

# module -> the commands it adds, with their one-line help; order = the order of `thinkbench --help`.
COMMANDS: dict[str, dict[str, str]] = {
    "quickstart": {"quickstart": "bootstrap the testbed, run examples/quickstart.yaml, write the report"},
    "bootstrap": {"bootstrap": "train (or reuse) the tiny testbed model; prints its path last"},
    "get_model": {"get-model": "build (or reuse) a pretrained model from an offline source; prints its path last"},
    "train": {"train": "train a checkpoint from a base (cached); prints its path last"},
    "train_verifier": {"train-verifier": "train a PRM/ORM from Monte-Carlo or exact process labels; "
                                         "prints its path last"},
    "run": {"run": "run a matrix YAML (finished cells are skipped)"},
    "report": {"report": "build the HTML report and summary.md of a run"},
    "compare": {"compare": "paired regression test of run NEW against run BASE (exit 1 when the gate fails)"},
    "import_lm_eval": {"import-lm-eval": "turn lm-eval --log_samples output into a thinkbench run"},
    "lm_eval_run": {"lm-eval": "run lm-eval tasks with a thinkbench method as the model"},
    "score": {"score": "score completions made elsewhere (verdicts, accuracy, pass@k)"},
    "serve": {"serve": "serve a checkpoint over an OpenAI-compatible HTTP API (hf backend)"},
    "listing": {name: f"list registered {name} and their parameters"
                for name in ("tasks", "methods", "verifiers", "trainers", "backends")},
}


def _chosen(argv: list[str]) -> str | None:
    """The module of the command named in `argv` (its first non-option word), if any."""
    word = next((a for a in argv if not a.startswith("-")), None)
    return next((module for module, commands in COMMANDS.items() if word in commands), None)


def parser(argv: list[str] | None = None, full: bool = False) -> argparse.ArgumentParser:
    """The parser for `argv`: the chosen command's module adds its full parser; every other
    command is a name with its help line (all modules with `full`)."""
    p = argparse.ArgumentParser(prog="thinkbench",
                                description="Measure how reasoning methods trade compute for accuracy.")
    sub = p.add_subparsers(dest="command", required=True)
    chosen = _chosen(sys.argv[1:] if argv is None else argv)
    for module, commands in COMMANDS.items():
        if full or module == chosen:
            importlib.import_module(f"harness.cli.{module}").add(sub)
        else:
            for name, text in commands.items():
                sub.add_parser(name, help=text)
    return p


def main(argv: list[str] | None = None) -> int:
    """Run one command; a user mistake is one line on stderr and exit code 2."""
    args = parser(argv).parse_args(argv)
    try:
        return args.fn(args)
    except ConfigError as e:
        print(f"thinkbench: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("thinkbench: interrupted (finished work is kept; rerun to resume)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
