"""Registries map the names users write in YAML to code: one decorator per kind, no if/elif."""
from __future__ import annotations

from typing import Callable, Generic, Iterator, TypeVar

T = TypeVar("T")


class ConfigError(ValueError):
    """A user mistake in a matrix, a path or a name: shown as one line, exit code 2."""


class Registry(Generic[T]):
    """A named table of factories (`@REG.register("name")`)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}
        self._families: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def deco(obj: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} registered twice")
            self._items[name] = obj
            return obj

        return deco

    def register_family(self, prefix: str) -> Callable[[T], T]:
        """Register a factory for every name `prefix:<member>`; it is called with the member."""

        def deco(obj: T) -> T:
            self._families[prefix] = obj
            return obj

        return deco

    def get(self, name: str) -> T:
        if name in self._items:
            return self._items[name]
        prefix, sep, member = name.partition(":")
        if sep and prefix in self._families:
            return self._families[prefix](member)
        known = ", ".join(sorted(self._items) + [f"{p}:<name>" for p in sorted(self._families)]) or "none"
        raise ConfigError(f"unknown {self.kind} {name!r} (known: {known})")

    def __contains__(self, name: str) -> bool:
        return name in self._items or name.partition(":")[0] in self._families

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._items))

    def items(self) -> list[tuple[str, T]]:
        return sorted(self._items.items())

    def families(self) -> list[tuple[str, T]]:
        return sorted(self._families.items())


TASKS: Registry = Registry("task")
METHODS: Registry = Registry("method")
BACKENDS: Registry = Registry("backend")
VERIFIERS: Registry = Registry("verifier")


def load_plugins() -> None:
    """Import the packages whose modules register tasks, methods and backends."""
    import baselines.search  # noqa: F401
    import baselines.verifiers  # noqa: F401
    import harness.backends  # noqa: F401
    import tasks  # noqa: F401
