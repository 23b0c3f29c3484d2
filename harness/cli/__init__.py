"""`thinkbench` command line: one module per command (the top floor). Commands reach tasks and
baselines only through the registries."""
from __future__ import annotations

import argparse
import importlib
import sys

from harness.registry import ConfigError

# (module, what it adds); order = the order of `thinkbench --help`.
COMMANDS = ("quickstart", "bootstrap", "get_model", "train", "train_verifier", "run", "report", "compare",
            "import_lm_eval", "lm_eval_run", "score", "serve", "listing")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="thinkbench",
                                description="Measure how reasoning methods trade compute for accuracy.")
    sub = p.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        importlib.import_module(f"harness.cli.{name}").add(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    """Run one command; a user mistake is one line on stderr and exit code 2."""
    args = parser().parse_args(argv)
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
