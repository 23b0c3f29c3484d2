"""Contracts: one Record schema (Parquet, rows, docs/records.md), typed configs, lazy registries."""
from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.config import make_config
from harness.contracts import MethodConfig, Record
from harness.registry import ConfigError, Registry

RECORDS_PAGE = Path(__file__).resolve().parents[1] / "docs" / "records.md"


def test_records_page_lists_the_record_columns_generated_from_the_schema() -> None:
    text = RECORDS_PAGE.read_text(encoding="utf-8")
    block = re.search(r"<!-- record-columns -->\n(.*?)\n<!-- /record-columns -->", text, re.S)
    assert block, "docs/records.md lacks the generated record-columns block"
    assert block.group(1).strip() == Record.markdown().strip(), (
        "docs/records.md's record columns are stale: run `python docs/generate_records.py`")


def test_parquet_schema_is_the_record() -> None:
    schema = Record.arrow_schema()
    assert schema.names == Record.columns()
    assert str(schema.field("correct").type) == "double" and str(schema.field("budget").type) == "int64"
    assert str(schema.field("verifier").type) == "string"


@dataclass(frozen=True)
class Knobs(MethodConfig):
    width: int = 4
    rate: float = 0.5
    flag: bool = False
    name: str | None = None
    tags: tuple[str, ...] = ()

    def validate(self) -> None:
        if self.width < 1:
            raise ValueError(f"width must be >= 1, got {self.width}")


@pytest.mark.parametrize("params,needle", [
    ({"widht": 3}, "m.yaml: methods[0].params: unknown field 'widht' (known: flag, name, rate, tags, width)"),
    ({"flag": "false"}, "methods[0].params.flag: expected bool, got 'false'"),
    ({"width": True}, "methods[0].params.width: expected int, got True"),
    ({"width": 2.5}, "methods[0].params.width: expected int, got 2.5"),
    ({"rate": "fast"}, "methods[0].params.rate: expected float, got 'fast'"),
    ({"width": 0}, "methods[0].params: width must be >= 1, got 0"),
    ({"tags": [1]}, "methods[0].params.tags[0]: expected str, got 1"),
])
def test_typed_configs_name_the_field(params: dict, needle: str) -> None:
    with pytest.raises(ConfigError) as e:
        make_config(Knobs, params, "m.yaml: methods[0].params")
    assert needle in str(e.value)


def test_typed_configs_accept_what_they_say() -> None:
    cfg = make_config(Knobs, {"width": 8, "rate": 1, "flag": True, "tags": "a"}, "x")
    assert cfg == Knobs(width=8, rate=1.0, flag=True, tags=("a",))
    assert make_config(Knobs, None, "x") == Knobs()


def test_registries_know_names_before_importing_code() -> None:
    reg: Registry = Registry("widget")
    reg.lazy("heavy", "tests._not_imported_widget")
    reg.lazy("gpu_only", "tests._never", requires=("surely_not_installed_pkg",), extra="gpu")
    assert reg.names() == ["gpu_only", "heavy"] and "heavy" in reg
    assert "tests._not_imported_widget" not in sys.modules
    with pytest.raises(ConfigError, match=r"needs the optional package surely_not_installed_pkg: "
                                          r"pip install 'thinkbench\[gpu\]'"):
        reg.get("gpu_only")
    with pytest.raises(ConfigError, match="unknown widget 'nope' \\(known: gpu_only, heavy\\)"):
        reg.get("nope")


def test_plugin_names_are_known_without_torch() -> None:
    """Listing what exists imports no heavy module (a fresh interpreter to see it)."""
    import subprocess

    code = ("import sys; from harness.registry import METHODS, BACKENDS, VERIFIERS, TRAINERS, load_plugins; "
            "load_plugins(); print(len(METHODS.names()), 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["12", "False"]
