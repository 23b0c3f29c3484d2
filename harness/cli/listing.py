"""`thinkbench tasks|methods|verifiers|trainers|backends`: what is registered, and every knob
each takes with its type and default, wrapped to the terminal."""
from __future__ import annotations

import argparse
import shutil
import textwrap
import typing
from dataclasses import MISSING
from typing import Any

from harness.contracts import config_fields
from harness.registry import BACKENDS, METHODS, TASKS, TRAINERS, VERIFIERS, Registry, load_plugins

REGISTRIES: dict[str, Registry[Any]] = {"tasks": TASKS, "methods": METHODS, "verifiers": VERIFIERS,
                                        "trainers": TRAINERS, "backends": BACKENDS}
HIDDEN = {"name"}  # a component's own name is not a knob


def type_name(hint: Any) -> str:
    """A type hint as a reader writes it: `int`, `str | None`, `'last' | 'min'`."""
    if isinstance(hint, type):
        return hint.__name__
    if typing.get_origin(hint) is typing.Literal:
        return " | ".join(repr(a) for a in typing.get_args(hint))
    return str(hint).replace("typing.", "")


def knob_lines(cls: type | None) -> list[str]:
    """One line per knob: `name: type = default`, or `(required)` where there is no default."""
    if cls is None:
        return []
    out = []
    for name, hint, default in config_fields(cls):
        if name in HIDDEN or name.startswith("_"):  # private state, not a knob
            continue
        value = "(required)" if default is MISSING else f"= {default!r}"
        out.append(f"{name}: {type_name(hint)} {value}")
    return out


def summary(obj: object) -> str:
    """The first paragraph of a component's description, joined into one line."""
    text = (getattr(obj, "doc", "") or obj.__doc__ or "").strip()
    return " ".join(text.split("\n\n")[0].split())


def entry(name: str, about: str, knobs: list[str], width: int) -> str:
    """A component: its name and description, then its knobs, indented and wrapped."""
    head = textwrap.fill(f"{name}  {about}".rstrip(), width, subsequent_indent="    ")
    body = [textwrap.fill(k, width, initial_indent="    ", subsequent_indent="        ") for k in knobs]
    return "\n".join([head, *body])


def listing(kind: str, width: int) -> list[str]:
    """Every entry of the registry `kind`, as printed."""
    registry = REGISTRIES[kind]
    out = []
    for name, obj in registry.items():
        about = summary(obj)
        if kind == "methods":
            tags = [t for t, on in (("pooled", obj.pooled), ("no budget", not obj.uses_budget),
                                    ("needs a verifier", getattr(obj, "needs_verifier", False))) if on]
            about += f" ({', '.join(tags)})" if tags else ""
        config = obj if kind == "tasks" else registry.config(name)
        out.append(entry(name, about, knob_lines(config), width))
    for prefix, factory in registry.families():
        out.append(entry(f"{prefix}:<name>", summary(factory), [], width))
    return out


def main(args: argparse.Namespace) -> int:
    load_plugins()
    width = min(100, shutil.get_terminal_size((100, 24)).columns)
    print("\n".join(listing(args.command, width)))
    return 0


def add(sub: argparse._SubParsersAction) -> None:
    for name in REGISTRIES:
        sub.add_parser(name, help=f"list registered {name} and their parameters").set_defaults(fn=main)
