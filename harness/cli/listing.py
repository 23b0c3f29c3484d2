"""`thinkbench tasks|methods|verifiers|trainers`: what is registered, with each knob's default."""
from __future__ import annotations

import argparse

from harness.contracts import config_fields
from harness.registry import METHODS, TASKS, TRAINERS, VERIFIERS, load_plugins


def _knobs(cls: type | None) -> str:
    if cls is None:
        return ""
    shown = [f"{n}={d!r}" if not isinstance(d, type) else n for n, _, d in config_fields(cls)
             if n != "name"]
    return f"  [{', '.join(shown)}]" if shown else ""


def _first_line(obj: object) -> str:
    return ((getattr(obj, "doc", "") or obj.__doc__ or "").strip().splitlines() or [""])[0]


def main(args: argparse.Namespace) -> int:
    load_plugins()
    if args.command == "tasks":
        for name, cls in TASKS.items():
            print(f"{name:<20} {_first_line(cls)}")
        for prefix, factory in TASKS.families():
            print(f"{prefix + ':<name>':<20} {_first_line(factory)}")
    elif args.command == "methods":
        for name, m in METHODS.items():
            kind = "pooled" if m.pooled else ("budget: n/a" if not m.uses_budget else "")
            print(f"{name:<20} {m.doc}" + (f"  ({kind})" if kind else "") + _knobs(m.config))
    else:
        registry = VERIFIERS if args.command == "verifiers" else TRAINERS
        for name, obj in registry.items():
            print(f"{name:<20} {_first_line(obj)}{_knobs(registry.config(name))}")
    return 0


def add(sub: argparse._SubParsersAction) -> None:
    for name in ("tasks", "methods", "verifiers", "trainers"):
        sub.add_parser(name, help=f"list registered {name} and their parameters").set_defaults(fn=main)
