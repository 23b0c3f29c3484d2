"""Start-up cost: the CLI imports only the chosen command's modules (issue 19 item 5)."""
import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli import COMMANDS, parser

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "transformers", "harness.report", "harness.runner", "plotly", "pandas")


def loaded_after(*argv: str) -> dict[str, bool]:
    """Which heavy modules a fresh interpreter holds after `thinkbench ARGV`."""
    code = ("import json, sys\nfrom harness.cli import main\n"
            "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
            f"print(json.dumps({{m: m in sys.modules for m in {HEAVY!r}}}))")
    out = subprocess.run([sys.executable, "-c", code, *argv], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


@pytest.mark.parametrize("argv", [("--help",), ("methods",), ("tasks",), ("score", "--help")])
def test_help_and_listings_import_no_torch_nor_other_commands(argv: tuple[str, ...]) -> None:
    assert not any(loaded_after(*argv).values()), loaded_after(*argv)


def test_the_help_table_matches_what_each_module_registers() -> None:
    """`thinkbench --help` shows the table; each module's own parser must say the same."""
    full = parser([], full=True)
    sub = next(a for a in full._actions if isinstance(a, argparse._SubParsersAction))
    shown = {c.dest: c.help for c in sub._choices_actions}
    assert shown == {name: text for commands in COMMANDS.values() for name, text in commands.items()}
    assert list(shown) == list(sub.choices)  # and nothing registered twice


def test_a_chosen_command_gets_its_full_parser() -> None:
    args = parser(["score", "--task", "gsm8k", "--completions", "c.jsonl"]).parse_args(
        ["score", "--task", "gsm8k", "--completions", "c.jsonl"])
    assert args.task == "gsm8k" and callable(args.fn)
