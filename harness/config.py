"""Typed configs from YAML values: unknown names and wrong types are one error naming the field.

`make_config(BeamConfig, {"expansion": 8}, "m.yaml: methods[3].params")` raises
`ConfigError("m.yaml: methods[3].params: unknown field 'expansion' (known: expansions)")`;
`{"rollout": "false"}` for a bool field raises instead of becoming True.
"""
from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from collections.abc import Mapping
from typing import Any, Literal, TypeVar

import yaml

from harness.contracts import config_fields
from harness.registry import ConfigError

T = TypeVar("T")


def _type_name(hint: Any) -> str:
    if typing.get_origin(hint) is Literal:
        return " or ".join(repr(v) for v in typing.get_args(hint))
    return str(hint).replace("<class '", "").replace("'>", "").replace("typing.", "")


class DuplicateKeyError(ConfigError):
    """A mapping names one key twice (YAML would silently keep the last value)."""


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader with YAML 1.2's floats: `1e-4` is a number, not the string
    YAML 1.1 makes of an exponent without a dot (a learning rate written the usual way);
    a key given twice in one mapping, at any level, is an error instead of the last value."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *base` may be overridden, by design
                continue
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            try:
                first = seen.get(key)
            except TypeError:  # an unhashable key: PyYAML's own error says so
                continue
            if first is not None:
                raise DuplicateKeyError(f"duplicate key {key!r} (lines {first} and {line}): "
                                        "YAML would keep only the last one")
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
                  |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
                  |\.[0-9_]+(?:[eE][-+][0-9]+)?
                  |[-+]?\.(?:inf|Inf|INF)
                  |\.(?:nan|NaN|NAN))$""", re.X),
    list("-+0123456789."))


def load_yaml(text: str) -> Any:
    """Parse YAML safely, reading `1e-4` as a float (see `_Loader`)."""
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass


def coerce(hint: Any, value: Any, where: str) -> Any:
    """`value` as the type `hint` says, or a ConfigError naming `where`. No silent casts:
    'false' is not a bool, True is not an int, 3.5 is not an int."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for arm in (a for a in args if a is not type(None)):
            try:
                return coerce(arm, value, where)
            except ConfigError:
                continue
        raise ConfigError(f"{where}: expected {_type_name(hint)}, got {value!r}")
    if origin is Literal:
        if value in args:
            return value
        raise ConfigError(f"{where}: expected one of {', '.join(map(repr, args))}, got {value!r}")
    if origin is tuple:
        if not isinstance(value, (list, tuple)) or isinstance(value, str):
            value = [value] if isinstance(value, str) and args[-1:] == (Ellipsis,) else value
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        if args[-1:] == (Ellipsis,):
            return tuple(coerce(args[0], v, f"{where}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise ConfigError(f"{where}: expected {len(args)} values, got {value!r}")
        return tuple(coerce(a, v, f"{where}[{i}]") for i, (a, v) in enumerate(zip(args, value)))
    if hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if math.isnan(value):  # `.nan` compares false with every bound a validate() checks
                raise ConfigError(f"{where}: expected a number, got nan")
            return float(value)
    elif hint is str:
        if isinstance(value, str):
            return value
    elif hint is Any or hint is dict and isinstance(value, dict):
        return value
    raise ConfigError(f"{where}: expected {_type_name(hint)}, got {value!r}")


def make_config(cls: type[T], params: Mapping[str, Any] | None, where: str, fixed: tuple[str, ...] = ()) -> T:
    """Build the typed config `cls` from YAML `params`; one ConfigError naming the field.
    `fixed` fields are not the user's to set (a task's `name`)."""
    params = {} if params is None else params
    if not isinstance(params, Mapping):
        raise ConfigError(f"{where}: expected a mapping, got {params!r}")
    spec = {name: (hint, default) for name, hint, default in config_fields(cls) if name not in fixed}
    for key in params:
        if key not in spec:
            known = ", ".join(sorted(spec)) or "none: it takes no parameters"
            raise ConfigError(f"{where}: unknown field {key!r} (known: {known})")
    missing = [n for n, (_, d) in spec.items() if d is dataclasses.MISSING and n not in params]
    if missing:
        raise ConfigError(f"{where}: missing field {missing[0]!r}")
    values = {k: coerce(spec[k][0], v, f"{where}.{k}") for k, v in params.items()}
    try:
        return cls(**values)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{where}: {e}") from None


def config_dict(cfg: Any) -> dict:
    """A config as plain JSON-able data (for cell identity and records)."""
    return dataclasses.asdict(cfg) if dataclasses.is_dataclass(cfg) else {}
