"""Registries map the names users write in YAML to code: one decorator per kind, no if/elif.

Registries are lazy (lm-eval's "module:Class" placeholders, inspect_ai's providers): each
plugin package declares its names with the module that defines them, so names are known
without importing torch or an optional extra; the module is imported when a name is first
used, and registers the real object with its typed config. A name whose optional package is
missing says how to install it.
"""
from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class ConfigError(ValueError):
    """A user mistake in a matrix, a path or a name: shown as one line, exit code 2."""


@dataclass(frozen=True)
class Placeholder:
    """A name whose code lives in `module` (imported on first use); `requires` lists optional
    packages it needs, `extra` the pip extra that installs them."""

    module: str
    requires: tuple[str, ...] = ()
    extra: str | None = None


class Registry(Generic[T]):
    """A named table of components (`@REG.register("name", config=Cfg)`), with placeholders."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}
        self._configs: dict[str, type | None] = {}
        self._lazy: dict[str, Placeholder] = {}
        self._families: dict[str, Callable[[str], T]] = {}
        self._lazy_families: dict[str, Placeholder] = {}

    def register(self, name: str, *, config: type | None = None) -> Callable[[T], T]:
        """Decorator: register `obj` under `name` with its typed config class."""

        def deco(obj: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} registered twice")
            self._items[name] = obj
            self._configs[name] = config
            return obj

        return deco

    def lazy(self, name: str, module: str, *, requires: tuple[str, ...] = (), extra: str | None = None) -> None:
        """Declare that importing `module` registers `name` (nothing is imported now)."""
        self._lazy[name] = Placeholder(module, requires, extra)

    def register_family(self, prefix: str) -> Callable[[Callable[[str], T]], Callable[[str], T]]:
        """Register a factory for every name `prefix:<member>`; it is called with the member."""

        def deco(obj: Callable[[str], T]) -> Callable[[str], T]:
            self._families[prefix] = obj
            return obj

        return deco

    def lazy_family(self, prefix: str, module: str, *, requires: tuple[str, ...] = (),
                    extra: str | None = None) -> None:
        """Declare that importing `module` registers the family `prefix:<member>` (nothing is
        imported now: a family over an optional package costs nothing until it is named)."""
        self._lazy_families[prefix] = Placeholder(module, requires, extra)

    def _load_family(self, prefix: str) -> None:
        self._import(self._lazy_families[prefix], f"{prefix}:<name>")
        if prefix not in self._families:
            raise RuntimeError(f"importing {self._lazy_families[prefix].module} did not register "
                               f"the {self.kind} family {prefix!r}")

    def _import(self, place: Placeholder, name: str) -> None:
        missing = [p for p in place.requires if importlib.util.find_spec(p) is None]
        if missing:
            how = f"pip install 'thinkbench[{place.extra}]'" if place.extra else f"pip install {' '.join(missing)}"
            raise ConfigError(f"{self.kind} {name!r} needs the optional package {', '.join(missing)}: {how}")
        importlib.import_module(place.module)

    def _load(self, name: str) -> None:
        place = self._lazy[name]
        self._import(place, name)
        if name not in self._items:
            raise RuntimeError(f"importing {place.module} did not register {self.kind} {name!r}")

    def get(self, name: str) -> T:
        """The component registered as `name` (imported on first use), or a ConfigError."""
        if name not in self._items and name in self._lazy:
            self._load(name)
        if name in self._items:
            return self._items[name]
        prefix, sep, member = name.partition(":")
        if sep and prefix in self._lazy_families and prefix not in self._families:
            self._load_family(prefix)
        if sep and prefix in self._families:
            return self._families[prefix](member)
        raise ConfigError(f"unknown {self.kind} {name!r} (known: {', '.join(self.names()) or 'none'})")

    def config(self, name: str) -> type | None:
        """The typed config class registered with `name` (None: takes no parameters)."""
        self.get(name)
        return self._configs.get(name)

    def names(self) -> list[str]:
        """Every known name, without importing anything (families as `prefix:<name>`)."""
        prefixes = set(self._families) | set(self._lazy_families)
        return sorted(set(self._items) | set(self._lazy)) + [f"{p}:<name>" for p in sorted(prefixes)]

    def __contains__(self, name: str) -> bool:
        prefix = name.partition(":")[0]
        return (name in self._items or name in self._lazy or prefix in self._families
                or prefix in self._lazy_families)

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(set(self._items) | set(self._lazy)))

    def items(self) -> list[tuple[str, T]]:
        """Every (name, component), importing the placeholders whose packages are installed."""
        out = []
        for name in self:
            try:
                out.append((name, self.get(name)))
            except ConfigError:  # an optional extra that is not installed
                continue
        return out

    def families(self) -> list[tuple[str, Callable[[str], T]]]:
        """Every (prefix, factory), importing the lazy families whose packages are installed."""
        for prefix in set(self._lazy_families) - set(self._families):
            try:
                self._load_family(prefix)
            except ConfigError:  # an optional extra that is not installed
                continue
        return sorted(self._families.items())


TASKS: Registry[Any] = Registry("task")
METHODS: Registry[Any] = Registry("method")
BACKENDS: Registry[Any] = Registry("backend")
VERIFIERS: Registry[Any] = Registry("verifier")
TRAINERS: Registry[Any] = Registry("trainer")


def load_plugins() -> None:
    """The plugin loader: import the packages that declare tasks, methods, verifiers, backends
    and trainers. The only place the engine reaches up into tasks/ and baselines/."""
    import baselines.search  # noqa: F401
    import baselines.train  # noqa: F401
    import baselines.verifiers  # noqa: F401
    import harness.backends  # noqa: F401
    import tasks  # noqa: F401
