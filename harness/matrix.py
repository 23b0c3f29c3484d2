"""Matrix YAML → validated specs → cells (tasks × checkpoints × methods × budgets × seeds).

Every knob is checked when the matrix is read, against the typed config registered with its
code; every mistake is a ConfigError whose one line names the file and the field, e.g.
`m.yaml: methods[3].params: unknown field 'expansion' (known: expansions, max_steps)`.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from harness.checkpoint import resolve_checkpoint
from harness.config import DuplicateKeyError, coerce, config_dict, load_yaml, make_config
from harness.contracts import BackendConfig, Method, MethodConfig, Sampling, VerifierConfig
from harness.registry import BACKENDS, METHODS, TASKS, TRAINERS, VERIFIERS, ConfigError, load_plugins
from harness.trained import TrainSpec

TOP_FIELDS = {"name", "tasks", "checkpoints", "methods", "budgets", "seeds", "n_problems",
              "split", "generation", "exclude", "train"}
TRAIN_FIELDS = {"base", "task", "seeds", "trainers", "params"}
TRAINER_FIELDS = {"name", "label", "budgets", "params", "base"}
TASK_FIELDS = {"name", "params", "split", "n_problems", "problem_seed", "label"}
CKPT_FIELDS = {"name", "path", "backend", "params", "resources"}
# What a checkpoint's work unit asks a Ray cluster for (`--ray`); where it runs, not what it computes.
RESOURCE_FIELDS = {"num_cpus", "num_gpus"}
METHOD_FIELDS = {"name", "params", "budgets", "label", "generation", "verifier"}
EXCLUDE_TYPES = {"task": str, "checkpoint": str, "method": str, "budget": int, "seed": int}
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


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
    config: BackendConfig = field(default_factory=BackendConfig)
    train: TrainSpec | None = None  # made by a trainer of the matrix's `train:` section
    resources: tuple[tuple[str, float], ...] = ()  # Ray resources per unit (not part of a cell's identity)


@dataclass(frozen=True)
class VerifierSpec:
    name: str
    config: VerifierConfig


@dataclass(frozen=True)
class MethodSpec:
    name: str
    label: str
    config: MethodConfig
    budgets: tuple[int, ...]
    sampling: Sampling
    verifier: VerifierSpec | None = None

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
        """Identity for resume: every setting that changes the numbers, resolved configs
        included (a default that changes in the code changes the identity)."""
        checkpoint = {k: v for k, v in asdict(self.checkpoint).items() if k != "resources"}
        ident = {"task": asdict(self.task), "checkpoint": checkpoint,
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

    def all_cells(self) -> list[Cell]:
        """The cross product before exclusions (pool sizes not yet set)."""
        return [Cell(task, ckpt, m, budget, seed)
                for task in self.tasks for ckpt in self.checkpoints for m in self.methods
                for budget in (m.budgets if m.method.uses_budget else (1,)) for seed in self.seeds]

    def cells(self) -> list[Cell]:
        """The cross product, minus exclusions; methods without a budget get one cell at 1.

        Pooled cells that share task, checkpoint, seed and sampling read one pool whose size
        is the largest budget among them, so their numbers come from the same samples.
        """
        out = [c for c in self.all_cells() if not any(matches(c, ex) for ex in self.exclude)]
        sizes: dict[tuple, int] = {}
        for cell in out:
            if cell.method.method.pooled:
                sizes[pool_key(cell)] = max(sizes.get(pool_key(cell), 1), cell.budget)
        return [replace(c, pool=sizes[pool_key(c)]) if c.method.method.pooled else c for c in out]

    def fingerprint(self) -> str:
        """Identity of the whole matrix: the set of its cells' identities."""
        return hashlib.sha256(json.dumps(sorted(c.hash for c in self.cells())).encode()).hexdigest()[:16]


def _resources(r: _Reader, value: Any, where: str) -> tuple[tuple[str, float], ...]:
    """`resources: {num_cpus: 2, num_gpus: 1}`: non-negative numbers."""
    if value is None:
        return ()
    raw = r.mapping(value, where, RESOURCE_FIELDS)
    for key, v in raw.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
            raise r.fail(f"{where}.{key}", f"need a number >= 0, got {v!r}")
    return tuple(sorted((k, float(v)) for k, v in raw.items()))


def pool_key(cell: Cell) -> tuple:
    """Cells with equal keys share one sample pool."""
    return (cell.task.label, cell.checkpoint.label, cell.seed, cell.method.sampling)


def matches(cell: Cell, ex: dict) -> bool:
    """Whether an `exclude:` entry names this cell (names or labels for task and method)."""
    values = {"task": (cell.task.name, cell.task.label), "checkpoint": (cell.checkpoint.label,),
              "method": (cell.method.name, cell.method.label), "budget": (cell.budget,),
              "seed": (cell.seed,)}
    return all(v in values[k] for k, v in ex.items())


def build_task(name: str, params: dict, where: str | None = None) -> Any:
    """Instantiate a registered task; a bad parameter is a ConfigError naming it. Dataclass
    tasks are their own typed config: names and types are checked like any config."""
    cls = TASKS.get(name)
    where = where or f"task {name!r}"
    if dataclasses.is_dataclass(cls):
        return make_config(cls, params, f"{where}.params", fixed=("name",))
    try:
        return cls(**params)
    except TypeError as e:
        raise ConfigError(f"{where}: bad parameters {sorted(params)} ({e})") from None


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

    def positive(self, value: Any, where: str) -> int | None:
        if value is None:
            return None
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise self.fail(where, f"expected a positive integer, got {value!r}")
        return value

    def text(self, value: Any, where: str) -> str:
        if not isinstance(value, str):
            raise self.fail(where, f"expected a string, got {value!r}")
        return value

    def list_of(self, value: Any, where: str) -> list:
        if not isinstance(value, list) or not value:
            raise self.fail(where, "expected a non-empty list")
        return value

    def config(self, cls: type | None, params: Any, where: str, what: str) -> Any:
        """A typed config from YAML params (a component with no config takes none)."""
        if cls is None:
            if params:
                raise self.fail(where, f"{what} takes no parameters")
            return None
        try:
            return make_config(cls, params, f"{self.source}: {where}")
        except ConfigError as e:
            raise ConfigError(str(e)) from None


def check_problems(r: _Reader, task: Any, name: str, split: str, n: int | None, split_field: str,
                   n_field: str) -> None:
    """What a task is asked for, checked when the matrix is read, through the task's optional
    hooks: `splits` (the split names it has; None or absent: any), `procedural` (it draws its
    problems, so `n_problems` is required) and `available(split, n) -> (count, exact)` (how
    many of n problems the split gives: fewer means the split is too small; `exact` False
    means the count is a lower bound, all that was counted)."""
    splits = getattr(task, "splits", None)
    if splits is not None and split not in splits:
        raise r.fail(split_field, f"{name}: unknown split {split!r} (known: {', '.join(splits)})")
    if n is None:
        if getattr(task, "procedural", False):
            raise r.fail(n_field, f"{name} draws its problems: say how many (n_problems: N)")
        return
    available = getattr(task, "available", None)
    if available is None:
        return
    try:
        got, exact = available(split, n)
    except ConfigError as e:
        raise r.fail(split_field, str(e)) from None
    if got < n:
        size = (f"its {split} split holds {got}" if exact
                else f"{got} of its {split} split's problems were counted and no more can be vouched for")
        raise r.fail(n_field, f"{name}: asks for {n} problems but {size}")


def _label(name: str, params: dict) -> str:
    return name + ("(" + ",".join(f"{k}={params[k]}" for k in sorted(params)) + ")" if params else "")


def _sampling(r: _Reader, base: Sampling, value: Any, where: str) -> Sampling:
    if value is None:
        return base
    g = r.mapping(value, where, {f.name for f in dataclasses.fields(Sampling)})
    merged = asdict(base) | g
    s = r.config(Sampling, merged, where, "generation")
    if not (math.isfinite(s.temperature) and s.temperature >= 0) or not 0 < s.top_p <= 1 or s.max_tokens < 1:
        raise r.fail(where, "need a finite temperature >= 0, 0 < top_p <= 1, max_tokens >= 1")
    return s


def _verifier(r: _Reader, value: Any, where: str) -> VerifierSpec | None:
    """A verifier by name (`oracle`) or as {name, path, ...its config}; paths must exist."""
    if value is None:
        return None
    if not isinstance(value, (str, dict)):
        raise r.fail(where, f"expected a verifier name or a mapping, got {type(value).__name__}")
    spec = {"name": value} if isinstance(value, str) else dict(value)
    if not isinstance(spec.get("name"), str):
        raise r.fail(where, "missing field 'name'")
    name = spec.pop("name")
    try:
        cls = VERIFIERS.config(name)
        if isinstance(spec.get("path"), str):
            spec["path"] = resolve_checkpoint(spec["path"])
    except ConfigError as e:
        raise r.fail(where, str(e)) from None
    config = r.config(cls or VerifierConfig, spec, where, f"verifier {name!r}")
    # A verifier that runs a policy (a judge) names its backend: a name, checked like a checkpoint's.
    backend = getattr(config, "backend", None)
    if isinstance(backend, str):
        try:
            BACKENDS.config(backend)
        except ConfigError as e:
            raise r.fail(f"{where}.backend", str(e)) from None
    return VerifierSpec(name, config)


def parse_matrix(data: Any, source: str = "<matrix>") -> Matrix:
    """Validate a loaded YAML document into a Matrix."""
    load_plugins()
    r = _Reader(source)
    data = r.mapping(data, "", TOP_FIELDS)
    for key in ("tasks", "methods") + (() if "train" in data else ("checkpoints",)):
        if key not in data:
            raise r.fail("", f"missing field {key!r}")
    name = r.text(data.get("name", Path(source).stem), "name")
    if not NAME_RE.fullmatch(name):
        raise r.fail("name", f"{name!r} must be a plain name (letters, digits, '.', '_', '-'): "
                             "it names the directory under runs/")
    default_budgets = r.ints(data.get("budgets", [1]), "budgets", positive=True)
    seeds = r.ints(data.get("seeds", [0]), "seeds")
    base = _sampling(r, Sampling(), data.get("generation", {}), "generation")
    default_n = r.positive(data.get("n_problems"), "n_problems")
    default_split = r.text(data.get("split", "test"), "split")

    tasks = []
    for i, raw in enumerate(r.list_of(data["tasks"], "tasks")):
        where = f"tasks[{i}]"
        t = r.entry(raw, where, TASK_FIELDS)
        params = t.get("params", {}) or {}
        if not isinstance(params, dict):
            raise r.fail(f"{where}.params", f"expected a mapping, got {params!r}")
        n = r.positive(t.get("n_problems", default_n), f"{where}.n_problems")
        seed = t.get("problem_seed", 0)
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise r.fail(f"{where}.problem_seed", f"expected an integer, got {seed!r}")
        try:
            built = build_task(t["name"], params, f"{source}: {where}")
        except ConfigError as e:
            msg = str(e)
            raise ConfigError(msg if msg.startswith(source) else f"{source}: {where}: {msg}") from None
        split = r.text(t.get("split", default_split), f"{where}.split")
        fields = (f"{where}.split" if "split" in t else "split",
                  f"{where}.n_problems" if "n_problems" in t or "n_problems" not in data else "n_problems")
        label = r.text(t.get("label", _label(t["name"], params)), f"{where}.label")
        check_problems(r, built, label, split, n, *fields)
        tasks.append(TaskSpec(t["name"], label, params, split, n, seed))

    ckpts = []
    for i, raw in enumerate(r.list_of(data["checkpoints"], "checkpoints") if "checkpoints" in data else []):
        where = f"checkpoints[{i}]"
        c = {"path": raw} if isinstance(raw, str) else r.mapping(raw, where, CKPT_FIELDS)
        if not isinstance(c.get("path"), str):
            raise r.fail(where, "missing field 'path'")
        backend = r.text(c.get("backend", "hf"), f"{where}.backend")
        try:
            cfg_cls = BACKENDS.config(backend)
            local = getattr(cfg_cls or BackendConfig, "local_checkpoint", True)
            path = resolve_checkpoint(c["path"]) if local else c["path"]
        except ConfigError as e:
            raise r.fail(where, str(e)) from None
        cfg = r.config(cfg_cls or BackendConfig, c.get("params", {}) or {}, f"{where}.params", f"backend {backend!r}")
        alias = c["path"].startswith("testbed")
        label = r.text(c.get("name", c["path"] if alias else Path(c["path"]).name), f"{where}.name")
        ckpts.append(CheckpointSpec(label, path, backend, cfg, resources=_resources(r, c.get("resources"),
                                                                             f"{where}.resources")))

    if "train" in data:
        ckpts += _trained(r, data["train"], tasks)

    methods = []
    for i, raw in enumerate(r.list_of(data["methods"], "methods")):
        where = f"methods[{i}]"
        m = r.entry(raw, where, METHOD_FIELDS)
        try:
            method: Method = METHODS.get(m["name"])
        except ConfigError as e:
            raise r.fail(where, str(e)) from None
        params = m.get("params", {}) or {}
        cfg = r.config(method.config, params, f"{where}.params", f"method {m['name']!r}")
        budgets = r.ints(m.get("budgets", default_budgets), f"{where}.budgets", positive=True)
        if method.uses_budget:
            for b in budgets:
                why = cfg.budget_error(b)
                if why:
                    raise r.fail(f"{where}.budgets", f"{m['name']}: {why}")
        sampling = _sampling(r, base, m.get("generation"), f"{where}.generation")
        if method.greedy:  # what it decodes with, so its identity ignores a temperature it never uses
            sampling = replace(sampling, temperature=0.0, top_p=1.0)
        verifier = _verifier(r, m.get("verifier"), f"{where}.verifier")
        if method.needs_verifier and verifier is None:
            raise r.fail(where, f"method {m['name']!r} needs a verifier (e.g. verifier: oracle)")
        label = m.get("label", _label(m["name"], params | ({"verifier": verifier.name} if verifier else {})))
        methods.append(MethodSpec(m["name"], r.text(label, f"{where}.label"), cfg, budgets, sampling, verifier))

    for kind, labels in (("task", [t.label for t in tasks]), ("checkpoint", [c.label for c in ckpts]),
                         ("method", [m.label for m in methods])):
        if len(set(labels)) != len(labels):
            raise r.fail(f"{kind}s", "two entries share a label; give one a distinct 'label'")
    exclude = []
    for i, raw in enumerate(data.get("exclude", []) or []):
        ex = r.mapping(raw, f"exclude[{i}]", set(EXCLUDE_TYPES))
        exclude.append({k: coerce(EXCLUDE_TYPES[k], v, f"{source}: exclude[{i}].{k}") for k, v in ex.items()})
    matrix = Matrix(name, source, tuple(tasks), tuple(ckpts), tuple(methods), seeds, tuple(exclude))
    everything = matrix.all_cells()
    for i, ex in enumerate(exclude):
        if not any(matches(c, ex) for c in everything):
            raise r.fail(f"exclude[{i}]", f"matches no cell of the matrix ({_nearest(ex, everything)})")
    if not matrix.cells():
        raise r.fail("exclude", "excludes every cell: nothing to run")
    return matrix


def _trained(r: _Reader, value: Any, tasks: list[TaskSpec]) -> list[CheckpointSpec]:
    """The checkpoints of a `train:` section: trainers × budgets × seeds from one base, on the
    train split of one of the matrix's tasks; each joins the matrix as `<label>@<budget>`
    (`-s<seed>` added when there are several seeds)."""
    t = r.mapping(value, "train", TRAIN_FIELDS)
    if not isinstance(t.get("base"), str):
        raise r.fail("train", "missing field 'base' (the checkpoint the trainers start from)")
    try:
        base = resolve_checkpoint(t["base"])
    except ConfigError as e:
        raise r.fail("train.base", str(e)) from None
    labels = [task.label for task in tasks]
    task_label = t.get("task", tasks[0].label)
    match = [task for task in tasks if task_label in (task.label, task.name)]
    if not match:
        raise r.fail("train.task", f"{task_label!r} is not a task of this matrix (known: {', '.join(labels)})")
    task = match[0]
    built = task.build()
    seeds = r.ints(t.get("seeds", [0]), "train.seeds")
    eval_params = t.get("params", {}) or {}
    out: list[CheckpointSpec] = []
    for i, raw in enumerate(r.list_of(t.get("trainers"), "train.trainers")):
        where = f"train.trainers[{i}]"
        entry = r.entry(raw, where, TRAINER_FIELDS)
        start, start_spec = base, None
        if "base" in entry:  # a chain: an earlier trainer's checkpoint, by its name
            earlier = {c.label: c for c in out}
            name = r.text(entry["base"], f"{where}.base")
            if name not in earlier:
                raise r.fail(f"{where}.base", f"{name!r} is not an earlier trainer's checkpoint "
                                              f"(known: {', '.join(earlier) or 'none'})")
            start, start_spec = earlier[name].path, earlier[name].train
        try:
            cls = TRAINERS.config(entry["name"])
        except ConfigError as e:
            raise r.fail(where, str(e)) from None
        cfg = r.config(cls, entry.get("params", {}) or {}, f"{where}.params", f"trainer {entry['name']!r}")
        # A trainer's data: `problems` of the task's train split (held-out `eval_problems` of its test split).
        for knob, split in (("problems", "train"), ("eval_problems", "test")):
            if isinstance(getattr(cfg, knob, None), int):
                check_problems(r, built, task.label, split, getattr(cfg, knob), f"{where}.params.{knob}",
                               f"{where}.params.{knob}")
        label = r.text(entry.get("label", entry["name"]), f"{where}.label")
        budgets = r.ints(entry.get("budgets"), f"{where}.budgets", positive=True)
        for budget in budgets:
            for seed in seeds:
                spec = TrainSpec(entry["name"], start, task.name, tuple(sorted(task.params.items())), budget, seed,
                                 cfg, start_spec)
                name = f"{label}@{budget}" + (f"-s{seed}" if len(seeds) > 1 else "")
                backend_cfg = r.config(BACKENDS.config("hf") or BackendConfig, eval_params, "train.params", "backend 'hf'")
                out.append(CheckpointSpec(name, str(spec.default_path()), "hf", backend_cfg, spec))
    return out


def _nearest(ex: dict, cells: list[Cell]) -> str:
    """Which field of an exclusion names nothing in the matrix (for its error line)."""
    for key, value in ex.items():
        known = sorted({str(v) for c in cells for v in {
            "task": (c.task.name, c.task.label), "checkpoint": (c.checkpoint.label,),
            "method": (c.method.name, c.method.label), "budget": (c.budget,), "seed": (c.seed,)}[key]})
        if str(value) not in known:
            return f"{key} {value!r} is not in it; known: {', '.join(known)}"
    return "no cell has all of these values together"


def load_matrix(path: str | Path) -> Matrix:
    """Read and validate a matrix YAML file."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{path}: no such matrix file")
    try:
        data = load_yaml(p.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a UTF-8 text file") from None
    except DuplicateKeyError as e:
        raise ConfigError(f"{path}: {e}") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}: not valid YAML{at}") from None
    return parse_matrix(data, str(path))


def describe(cfg: Any) -> str:
    """A config as compact JSON (recorded on rows)."""
    return json.dumps(config_dict(cfg), sort_keys=True, default=str)
