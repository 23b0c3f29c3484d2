"""Matrix YAML → validated specs → cells (tasks × checkpoints × methods × budgets × seeds).

Every mistake is a ConfigError whose one line names the file and the field, e.g.
`m.yaml: methods[1]: unknown method 'majorty' (known: greedy, majority, ...)`.
"""
from __future__ import annotations

import hashlib
import inspect
import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from harness.methods import Method, Sampling
from harness.registry import METHODS, TASKS, ConfigError, load_plugins

TOP_FIELDS = {"name", "tasks", "checkpoints", "methods", "budgets", "seeds", "n_problems",
              "split", "generation", "exclude"}
TASK_FIELDS = {"name", "params", "split", "n_problems", "problem_seed", "label"}
CKPT_FIELDS = {"name", "path", "backend", "params"}
METHOD_FIELDS = {"name", "params", "budgets", "label", "generation", "verifier"}
SAMPLING_FIELDS = {"temperature", "top_p", "max_tokens", "stop"}
EXCLUDE_FIELDS = {"task", "checkpoint", "method", "budget", "seed"}


@dataclass(frozen=True)
class TaskSpec:
    name: str
    label: str
    params: dict
    split: str
    n_problems: int | None
    problem_seed: int = 0

    def build(self) -> Any:
        return build_task(self.name, self.params)


@dataclass(frozen=True)
class CheckpointSpec:
    label: str
    path: str
    backend: str = "hf"
    params: dict = field(default_factory=dict)


@dataclass(frozen=True)
class MethodSpec:
    name: str
    label: str
    params: dict
    budgets: tuple[int, ...]
    sampling: Sampling
    verifier: dict | None = None  # {"name": ..., "path": ..., other verifier arguments}

    @property
    def method(self) -> Method:
        return METHODS.get(self.name)


@dataclass(frozen=True)
class Cell:
    """One (task, checkpoint, method, budget, seed) of a matrix."""

    task: TaskSpec
    checkpoint: CheckpointSpec
    method: MethodSpec
    budget: int
    seed: int
    pool: int = 0  # size of the shared sample pool a pooled method reads (0: none)

    @property
    def id(self) -> str:
        return f"{self.task.label}/{self.checkpoint.label}/{self.method.label}@{self.budget}/seed{self.seed}"

    @property
    def hash(self) -> str:
        """Identity for resume: every setting that changes the numbers."""
        ident = {"task": asdict(self.task), "checkpoint": asdict(self.checkpoint),
                 "method": asdict(self.method) | {"budgets": None}, "budget": self.budget,
                 "seed": self.seed, "pool": self.pool}
        return hashlib.sha256(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Matrix:
    name: str
    source: str
    tasks: tuple[TaskSpec, ...]
    checkpoints: tuple[CheckpointSpec, ...]
    methods: tuple[MethodSpec, ...]
    seeds: tuple[int, ...]
    exclude: tuple[dict, ...] = ()

    def cells(self) -> list[Cell]:
        """The cross product, minus exclusions; methods without a budget get one cell at 1.

        Pooled cells that share task, checkpoint, seed and sampling read one pool whose size
        is the largest budget among them, so their numbers come from the same samples.
        """
        out = []
        for task in self.tasks:
            for ckpt in self.checkpoints:
                for m in self.methods:
                    budgets = m.budgets if m.method.uses_budget else (1,)
                    for budget in budgets:
                        for seed in self.seeds:
                            cell = Cell(task, ckpt, m, budget, seed)
                            if not any(_matches(cell, ex) for ex in self.exclude):
                                out.append(cell)
        sizes: dict[tuple, int] = {}
        for cell in out:
            if cell.method.method.pooled:
                sizes[pool_key(cell)] = max(sizes.get(pool_key(cell), 1), cell.budget)
        return [replace(c, pool=sizes[pool_key(c)]) if c.method.method.pooled else c for c in out]


def pool_key(cell: Cell) -> tuple:
    """Cells with equal keys share one sample pool."""
    return (cell.task.label, cell.checkpoint.label, cell.seed, cell.method.sampling)


def _matches(cell: Cell, ex: dict) -> bool:
    values = {"task": (cell.task.name, cell.task.label), "checkpoint": (cell.checkpoint.label,),
              "method": (cell.method.name, cell.method.label), "budget": (cell.budget,),
              "seed": (cell.seed,)}
    return all(v in values[k] for k, v in ex.items())


def build_task(name: str, params: dict) -> Any:
    """Instantiate a registered task; a bad parameter is a ConfigError naming it."""
    cls = TASKS.get(name)
    try:
        return cls(**params)
    except TypeError as e:
        raise ConfigError(f"task {name!r}: bad parameters {sorted(params)} ({e})") from None


class _Reader:
    """Field access that names the file and path of every mistake."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, where: str, msg: str) -> ConfigError:
        return ConfigError(f"{self.source}: {where}: {msg}" if where else f"{self.source}: {msg}")

    def mapping(self, value: Any, where: str, allowed: set[str]) -> dict:
        if not isinstance(value, dict):
            raise self.fail(where, f"expected a mapping, got {type(value).__name__}")
        unknown = sorted(set(value) - allowed)
        if unknown:
            raise self.fail(where, f"unknown field {unknown[0]!r} (allowed: {', '.join(sorted(allowed))})")
        return value

    def entry(self, value: Any, where: str, allowed: set[str]) -> dict:
        """A list entry written either as a bare name or as a mapping with `name`."""
        if isinstance(value, str):
            return {"name": value}
        value = self.mapping(value, where, allowed)
        if not isinstance(value.get("name", value.get("path")), str):
            raise self.fail(where, "missing field 'name'")
        return value

    def ints(self, value: Any, where: str, positive: bool = False) -> tuple[int, ...]:
        if isinstance(value, int) and not isinstance(value, bool):
            value = [value]
        if isinstance(value, tuple):
            value = list(value)
        ok = isinstance(value, list) and value and all(
            isinstance(v, int) and not isinstance(v, bool) and (v > 0 or not positive) for v in value)
        if not ok:
            kind = "positive integers" if positive else "integers"
            raise self.fail(where, f"expected a non-empty list of {kind}, got {value!r}")
        return tuple(dict.fromkeys(value))

    def list_of(self, value: Any, where: str) -> list:
        if not isinstance(value, list) or not value:
            raise self.fail(where, "expected a non-empty list")
        return value


def _label(name: str, params: dict) -> str:
    return name + ("(" + ",".join(f"{k}={params[k]}" for k in sorted(params)) + ")" if params else "")


def _sampling(r: _Reader, base: Sampling, value: Any, where: str) -> Sampling:
    if value is None:
        return base
    g = r.mapping(value, where, SAMPLING_FIELDS)
    merged = asdict(base) | g
    try:
        temperature, top_p, max_tokens = float(merged["temperature"]), float(merged["top_p"]), int(merged["max_tokens"])
    except (TypeError, ValueError):
        raise r.fail(where, "temperature/top_p must be numbers and max_tokens an integer") from None
    stop = merged["stop"]
    stop = (stop,) if isinstance(stop, str) else tuple(stop or ())
    if temperature < 0 or not 0 < top_p <= 1 or max_tokens < 1:
        raise r.fail(where, "need temperature >= 0, 0 < top_p <= 1, max_tokens >= 1")
    return Sampling(temperature, top_p, max_tokens, stop)


def _verifier(r: _Reader, value: Any, where: str) -> dict | None:
    """A verifier by name (`oracle`) or as {name, path, ...its arguments}; paths must exist."""
    from harness.registry import VERIFIERS

    if value is None:
        return None
    if not isinstance(value, (str, dict)):
        raise r.fail(where, f"expected a verifier name or a mapping, got {type(value).__name__}")
    spec = {"name": value} if isinstance(value, str) else dict(value)
    if not isinstance(spec.get("name"), str):
        raise r.fail(where, "missing field 'name'")
    try:
        factory = VERIFIERS.get(spec["name"])
        try:  # arguments are checked now, not when a cell first builds it
            inspect.signature(factory).bind(None, **{k: v for k, v in spec.items() if k != "name"})
        except TypeError as e:
            raise ConfigError(f"verifier {spec['name']!r}: {e}") from None
        if "path" in spec:
            spec["path"] = resolve_checkpoint(str(spec["path"]))
    except ConfigError as e:
        raise r.fail(where, str(e)) from None
    return spec


def resolve_checkpoint(value: str) -> str:
    """`testbed` and `testbed/step-N` name the bootstrapped testbed; anything else is a path."""
    from harness.testbed import default_dir

    if value == "testbed" or value.startswith("testbed/"):
        sub = "final" if value == "testbed" else value.split("/", 1)[1]
        path = default_dir() / sub
        if not path.is_dir():
            raise ConfigError(f"checkpoint {value!r} is not built yet: run `thinkbench bootstrap` first")
        return str(path)
    if not Path(value).expanduser().is_dir():
        raise ConfigError(f"checkpoint {value!r}: no such directory")
    return str(Path(value).expanduser().resolve())


def parse_matrix(data: Any, source: str = "<matrix>") -> Matrix:
    """Validate a loaded YAML document into a Matrix."""
    load_plugins()
    r = _Reader(source)
    data = r.mapping(data, "", TOP_FIELDS)
    for key in ("tasks", "checkpoints", "methods"):
        if key not in data:
            raise r.fail("", f"missing field {key!r}")
    default_budgets = r.ints(data.get("budgets", [1]), "budgets", positive=True)
    seeds = r.ints(data.get("seeds", [0]), "seeds")
    base = _sampling(r, Sampling(), data.get("generation", {}), "generation")

    tasks = []
    for i, raw in enumerate(r.list_of(data["tasks"], "tasks")):
        where = f"tasks[{i}]"
        t = r.entry(raw, where, TASK_FIELDS)
        params = r.mapping(t.get("params", {}), f"{where}.params", set(t.get("params", {}) or {}))
        n = t.get("n_problems", data.get("n_problems"))
        if n is not None and (not isinstance(n, int) or n < 1):
            raise r.fail(f"{where}.n_problems", f"expected a positive integer, got {n!r}")
        try:
            build_task(t["name"], params)
        except ConfigError as e:
            raise r.fail(where, str(e)) from None
        tasks.append(TaskSpec(t["name"], t.get("label", _label(t["name"], params)), params,
                              t.get("split", data.get("split", "test")), n, int(t.get("problem_seed", 0))))

    ckpts = []
    for i, raw in enumerate(r.list_of(data["checkpoints"], "checkpoints")):
        where = f"checkpoints[{i}]"
        c = {"path": raw} if isinstance(raw, str) else r.mapping(raw, where, CKPT_FIELDS)
        if not isinstance(c.get("path"), str):
            raise r.fail(where, "missing field 'path'")
        backend = c.get("backend", "hf")
        try:
            from harness.registry import BACKENDS

            BACKENDS.get(backend)
            path = resolve_checkpoint(c["path"])
        except ConfigError as e:
            raise r.fail(where, str(e)) from None
        alias = c["path"].startswith("testbed")
        label = c.get("name", c["path"] if alias else Path(c["path"]).name)
        ckpts.append(CheckpointSpec(label, path, backend, c.get("params", {})))

    methods = []
    for i, raw in enumerate(r.list_of(data["methods"], "methods")):
        where = f"methods[{i}]"
        m = r.entry(raw, where, METHOD_FIELDS)
        try:
            METHODS.get(m["name"])
        except ConfigError as e:
            raise r.fail(where, str(e)) from None
        params = m.get("params", {}) or {}
        budgets = r.ints(m.get("budgets", default_budgets), f"{where}.budgets", positive=True)
        sampling = _sampling(r, base, m.get("generation"), f"{where}.generation")
        verifier = _verifier(r, m.get("verifier"), f"{where}.verifier")
        if METHODS.get(m["name"]).needs_verifier and verifier is None:
            raise r.fail(where, f"method {m['name']!r} needs a verifier (e.g. verifier: oracle)")
        label = m.get("label", _label(m["name"], params | ({"verifier": verifier["name"]} if verifier else {})))
        methods.append(MethodSpec(m["name"], label, params, budgets, sampling, verifier))

    exclude = tuple(r.mapping(ex, f"exclude[{i}]", EXCLUDE_FIELDS)
                    for i, ex in enumerate(data.get("exclude", []) or []))
    for kind, labels in (("task", [t.label for t in tasks]), ("checkpoint", [c.label for c in ckpts]),
                         ("method", [m.label for m in methods])):
        if len(set(labels)) != len(labels):
            raise r.fail(f"{kind}s", "two entries share a label; give one a distinct 'label'")
    return Matrix(str(data.get("name", Path(source).stem)), source, tuple(tasks), tuple(ckpts),
                  tuple(methods), seeds, exclude)


def load_matrix(path: str | Path) -> Matrix:
    """Read and validate a matrix YAML file."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{path}: no such matrix file")
    try:
        data = yaml.safe_load(p.read_text())
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}: not valid YAML{at}") from None
    return parse_matrix(data, str(path))
