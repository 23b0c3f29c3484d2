"""The house's layering, checked over the source (DESIGN.md: "no room reaches back").

- harness/ (the engine, its CLI included) never imports tasks/ or baselines/: it reaches them
  through the registries; the plugin loader (`harness.registry.load_plugins`) is the one exception.
- methods (baselines/search) and verifiers never import tasks/: they see a task only through
  the Task contract; tasks never import baselines/.
- reports read records only: harness/report imports nothing of the engine but the store.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ALLOWED = {("harness/registry.py", "load_plugins")}


def imports(path: Path) -> list[tuple[str, str]]:
    """(imported module, enclosing function or '') for every import in a file."""
    tree = ast.parse(path.read_text(), str(path))
    found: list[tuple[str, str]] = []

    def visit(node: ast.AST, where: str) -> None:
        for child in ast.iter_child_nodes(node):
            name = child.name if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) else where
            if isinstance(child, ast.Import):
                found.extend((a.name, where) for a in child.names)
            elif isinstance(child, ast.ImportFrom) and child.module and child.level == 0:
                found.append((child.module, where))
            visit(child, name)

    visit(tree, "")
    return found


RULES = [  # (files, forbidden top-level packages or modules)
    ("harness", ("tasks", "baselines")),
    ("baselines/search", ("tasks",)),
    ("baselines/verifiers", ("tasks",)),
    ("tasks", ("baselines",)),
    ("harness/report", ("harness.backends", "harness.runner", "harness.methods", "harness.matrix",
                        "harness.cli", "torch")),
]


@pytest.mark.parametrize("folder,forbidden", RULES)
def test_no_room_reaches_back(folder: str, forbidden: tuple[str, ...]) -> None:
    bad = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        for module, where in imports(path):
            if any(module == f or module.startswith(f + ".") for f in forbidden) and (rel, where) not in ALLOWED:
                bad.append(f"{rel}{':' + where if where else ''} imports {module}")
    assert not bad, "\n".join(bad)


def test_the_checker_sees_imports_inside_functions(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text("import os\ndef f():\n    from tasks.math import addition\n")
    assert ("tasks.math", "f") in imports(probe)
