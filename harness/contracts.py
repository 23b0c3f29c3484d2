"""The contracts of thinkbench, in one module at the bottom floor (DESIGN.md, "Contracts").

Nouns (Problem, Cost, Completion, Verdict, Attempt, Sampling), the protocols the rooms meet at
(Policy, Task, Verifier, Method, Trainer) with base classes that give optional abilities a
default, the typed-config bases every registered component derives its knobs from, and the one
`Record` schema that generates the Parquet schema, the rows and the column list of docs/records.md.
Nothing here imports another thinkbench module.
"""
from __future__ import annotations

import hashlib
import json
import math
import typing
from collections.abc import Callable, Sequence
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

if typing.TYPE_CHECKING:  # only for annotations: the engine module imports this one
    from harness.methods import SolveContext


# ── nouns ────────────────────────────────────────────────────────────────────────────────────

@dataclass(frozen=True)
class Problem:
    """One question of a task: its prompt, the reference answer (or tests) and free metadata."""

    id: str
    prompt: str | list[dict]
    reference: Any
    meta: dict = field(default_factory=dict)


@dataclass
class Cost:
    """Compute spent by one or more model calls. `Cost + Cost` adds field by field."""

    prompt_tokens: int = 0      # prompt tokens actually computed
    cached_tokens: int = 0      # prompt tokens served from a (prefix) KV cache
    generated_tokens: int = 0
    flops: float = 0.0
    wall_s: float = 0.0

    def __add__(self, other: Cost) -> Cost:
        return Cost(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)})

    def scaled(self, factor: float) -> Cost:
        """This cost multiplied by `factor` (expected cost of a fraction of a pool)."""
        return Cost(**{f.name: getattr(self, f.name) * factor for f in fields(self)})


@dataclass
class Completion:
    """One continuation of a prompt. `finish` is "stop" (EOS or a stop string) or "length";
    `stop_string` is the stop string that ended it (None for EOS or length)."""

    text: str
    tokens: int
    logprob: float | None
    finish: str
    stop_string: str | None = None


@dataclass(frozen=True)
class Verdict:
    """A checker's judgement of one answer."""

    correct: bool
    reason: str = ""


@dataclass
class Attempt:
    """What a method returns for one problem at one budget.

    `correct` is None when the runner should check `answer` with the task; methods that
    estimate an expectation over a sample pool (maj@k, pass@k) fill it with a fraction.
    """

    problem_id: str
    answer: str | None
    cost: Cost
    correct: float | None = None
    traces: list[str] = field(default_factory=list)
    n_samples: int = 0
    n_correct: int | None = None
    error: str | None = None
    tree: str | None = None  # a tree search's explored tree (`search_tree` JSON), for the report


@dataclass(frozen=True)
class Sampling:
    """Decoding settings of a cell (the matrix's `generation:` plus method overrides)."""

    temperature: float = 1.0
    top_p: float = 1.0
    max_tokens: int = 256
    stop: tuple[str, ...] = ()


# ── typed configs ────────────────────────────────────────────────────────────────────────────

@dataclass(frozen=True)
class Config:
    """Base of every registered component's knobs. Subclasses are frozen dataclasses whose
    fields have defaults; `harness.config.make_config` builds them from YAML, checking names
    and types. `validate()` raises ValueError for values out of range (the message names the
    field)."""

    def validate(self) -> None:
        """Raise ValueError naming the field if a value is out of range."""

    def __post_init__(self) -> None:
        self.validate()


@dataclass(frozen=True)
class MethodConfig(Config):
    """Knobs of a test-time method (none by default)."""

    def budget_error(self, budget: int) -> str | None:
        """Why `budget` does not fit this configuration (None if it does)."""
        return None


@dataclass(frozen=True)
class VerifierConfig(Config):
    """Knobs of a verifier (none by default)."""


@dataclass(frozen=True)
class BackendConfig(Config):
    """Knobs of a policy backend (none by default)."""

    # Whether a checkpoint's `path` names local weights (resolved to a directory when the matrix
    # is read). A remote backend (`openai`) sends the name to its server as is.
    local_checkpoint: typing.ClassVar[bool] = True

    def gpus(self, cluster_has_gpus: bool) -> float:
        """GPUs one work unit of this backend asks a Ray cluster for (`--ray`); none by
        default (a remote server's GPUs are its own)."""
        return 0.0


@dataclass(frozen=True)
class TrainerConfig(Config):
    """Knobs of a trainer (none by default)."""


# ── policies ─────────────────────────────────────────────────────────────────────────────────

@runtime_checkable
class Policy(Protocol):
    """Something that continues prompts (harness/backends/<name>.py)."""

    params: int  # for FLOPs

    def generate(self, prompts: Sequence[str | list[dict]], *, n: int = 1, temperature: float = 0.0,
                 top_p: float = 1.0, max_tokens: int = 256, stop: Sequence[str] = (),
                 seed: int | None = None) -> tuple[list[list[Completion]], list[Cost]]: ...

    def reset_cache(self) -> None: ...

    def settings(self) -> dict[str, object]: ...


def plain_text(prompt: str | list[dict]) -> str:
    """A prompt as one string for a backend without a chat template: messages run together
    (a user turn followed by a partial assistant turn is the prompt plus the partial answer)."""
    return prompt if isinstance(prompt, str) else "".join(m["content"] for m in prompt)


class PolicyBase:
    """Defaults for policies: no cache to reset, no settings resolved at load time."""

    params: int = 0

    def reset_cache(self) -> None:
        """Forget cached prefixes, so a cell's cost never depends on what ran before it."""

    def settings(self) -> dict[str, object]:
        """What the policy resolved its `auto` settings to (device, dtype, ...): recorded on
        every row with the backend config."""
        return {}


# ── tasks ────────────────────────────────────────────────────────────────────────────────────

@runtime_checkable
class Task(Protocol):
    """A named source of problems plus answer extraction and checking (tasks/<domain>/)."""

    name: str
    step_separator: str  # what ends a reasoning step: step search stops on it, PRMs score by it

    def problems(self, split: str, n: int | None, seed: int) -> list[Problem]: ...
    def prompt(self, problem: Problem) -> str | list[dict]: ...
    def extract(self, completion: str) -> str | None: ...
    def check(self, answer: str | None, problem: Problem) -> Verdict: ...
    def check_many(self, answers: list[str | None], problems: list[Problem]) -> list[Verdict]: ...
    def steps(self, completion: str) -> list[str]: ...
    def canonical(self, answer: str) -> str: ...
    def voting_keys(self, answers: list[str | None], problem: Problem) -> list[str | None]: ...
    def extract_rule(self, completion: str) -> str | None: ...


class TaskBase:
    """Defaults: the problem's prompt as is, one reasoning step per non-empty line, checking
    one answer at a time, answers grouped by their stripped text."""

    name: str = ""
    step_separator: str = "\n"  # one definition of a step, used by every method and verifier

    def prompt(self, problem: Problem) -> str | list[dict]:
        return problem.prompt if isinstance(problem.prompt, str) else problem.prompt[-1]["content"]

    def check(self, answer: str | None, problem: Problem) -> Verdict:
        return self.check_many([answer], [problem])[0]

    def check_many(self, answers: list[str | None], problems: list[Problem]) -> list[Verdict]:
        """Batched checking; the default loops `check` (tasks that batch override this)."""
        if type(self).check is TaskBase.check:
            raise TypeError(f"{type(self).__name__} must define check or check_many")
        return [self.check(a, p) for a, p in zip(answers, problems)]

    def steps(self, completion: str) -> list[str]:
        """The completion's reasoning steps: its non-empty pieces between step separators."""
        return [step for step in completion.split(self.step_separator) if step.strip()]

    def solution(self, problem: Problem) -> str | None:
        """A reference chain of thought for `problem` (completion text), for SFT on ground
        truth; None when the task has none. Default: the problem's `meta["solution"]`."""
        found = problem.meta.get("solution")
        return found if isinstance(found, str) else None

    def canonical(self, answer: str) -> str:
        """The key answers are grouped by when voting: equal keys are the same answer."""
        return answer.strip()

    def step_labels(self, problem: Problem, steps: Sequence[str]) -> list[bool] | None:
        """Exact process labels: for each step of a solution, whether the prefix ending at it is
        still correct; None (the default) when the task cannot check a step.

        A step is labelled correct iff it AND every step before it is right. A step after the
        first wrong one is labelled wrong even where it is locally right (a column line that
        adds its own digits correctly after an earlier column's slip), because the prefix is
        already doomed. That is the question Monte-Carlo labels (Math-Shepherd) estimate from
        rollouts, "can this prefix still reach the right answer" (a faithful continuation of
        a wrong step cannot), so exact and MC labels of the same steps can be compared; a
        per-line "is this line right on its own" label would not be what a PRM is trained to
        predict. Steps after a complete solution are wrong."""
        return None

    def voting_keys(self, answers: list[str | None], problem: Problem) -> list[str | None]:
        """The voting keys of one problem's pool of answers (None for no answer). Two answers
        the checker finds equal must get one key; the default is `canonical` per answer, and a
        task whose equivalence a string key cannot capture (math) clusters the pool instead."""
        return [None if a is None else self.canonical(a) for a in answers]

    def extract_rule(self, completion: str) -> str | None:
        """Which extraction rule found the answer (None when the task has one rule)."""
        return None


# ── verifiers ────────────────────────────────────────────────────────────────────────────────

AGGREGATES: dict[str, Callable[[Sequence[float]], float]] = {
    "last": lambda s: s[-1],
    "min": min,
    "prod": lambda s: math.prod(s),
    "mean": lambda s: sum(s) / len(s),
}


@runtime_checkable
class Verifier(Protocol):
    """Scores full or partial solutions step by step (baselines/verifiers/<name>.py)."""

    aggregate: str

    def score_many(self, problems: Sequence[Problem], steps: Sequence[Sequence[str]]
                   ) -> tuple[list[list[float]], list[Cost]]: ...

    def solution_score(self, step_scores: Sequence[float]) -> float: ...

    def reset_cache(self) -> None: ...


class VerifierBase:
    """Defaults: per-step scores become one solution score by `aggregate`; nothing cached."""

    aggregate: str = "last"

    def solution_score(self, step_scores: Sequence[float]) -> float:
        """One score for a solution from its step scores (0.0 for an empty solution)."""
        return AGGREGATES[self.aggregate](step_scores) if step_scores else 0.0

    def reset_cache(self) -> None:
        """Forget cached state, so a cell's cost never depends on what ran before it."""


# ── methods ──────────────────────────────────────────────────────────────────────────────────

SolveFn = Callable[["SolveContext", Sequence[Problem], int], list[Attempt]]


@dataclass(frozen=True)
class Method:
    """A registered test-time method: `solve(ctx, problems, budget) -> list[Attempt]`."""

    name: str
    solve: SolveFn
    config: type[MethodConfig] = MethodConfig
    pooled: bool = False        # reads the shared sample pool
    uses_budget: bool = True    # False: one cell at budget 1, whatever the matrix lists
    greedy: bool = False        # decodes at temperature 0 whatever `generation:` says
    needs_verifier: bool = False
    doc: str = ""


# ── trainers ─────────────────────────────────────────────────────────────────────────────────

@dataclass
class TrainedCheckpoint:
    """What a trainer produces: a standard HF checkpoint directory and what training cost."""

    path: Path
    cost: Cost
    info: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Trainer:
    """A registered training method: `train(base, task, budget, seed, cfg, out, progress)`.

    `home(cfg)` is where its checkpoints for `cfg` live by default (the testbed's cache
    directory), used to resolve matrix aliases such as `testbed/step-600`."""

    name: str
    train: Callable[..., TrainedCheckpoint]
    config: type[TrainerConfig] = TrainerConfig
    doc: str = ""
    home: Callable[[Any], Path] | None = None


# ── records ──────────────────────────────────────────────────────────────────────────────────

def _col(doc: str, default: Any = None) -> Any:
    return field(default=default, metadata={"doc": doc})


@dataclass
class Record:
    """One row per (cell, problem): the only schema of `runs/<run>/records/*.parquet`."""

    run: str = _col("run directory name")
    cell: str = _col("cell id: task/checkpoint/method@budget/seedS")
    cell_hash: str = _col("hash of every setting that changes the numbers (resume key)")
    task: str = _col("task label")
    split: str = _col("task split")
    problem_id: str = _col("problem id within the task")
    prompt_hash: str = _col("sha256 of the prompt (first 16 hex): same question in two runs")
    reference_hash: str = _col("sha256 of the reference answer or tests (first 16 hex)")
    checkpoint: str = _col("checkpoint label")
    checkpoint_path: str = _col("checkpoint directory")
    backend: str = _col("policy backend (hf, ...)")
    backend_config: str = _col("the backend's resolved typed config, JSON")
    method: str = _col("method label (the curve's name)")
    method_name: str = _col("registered method name")
    method_config: str = _col("the method's resolved typed config, JSON")
    verifier: str | None = _col("registered verifier name, if any")
    verifier_config: str | None = _col("the verifier's resolved typed config, JSON")
    sampling: str = _col("decoding settings (temperature, top_p, max_tokens, stop), JSON")
    budget: int = _col("the method's budget knob (samples, beam width, simulations)", 0)
    seed: int = _col("sampling seed", 0)
    answer: str | None = _col("extracted final answer")
    correct: float = _col("1/0, or an exact expectation over a sample pool (maj@k, pass@k)", 0.0)
    n_samples: int = _col("completions behind the answer (pool size for pooled methods)", 0)
    n_correct: float | None = _col("correct completions among them")
    prompt_tokens: float = _col("prompt tokens computed", 0.0)
    cached_tokens: float = _col("prompt tokens served from a KV cache", 0.0)
    generated_tokens: float = _col("tokens generated", 0.0)
    flops: float = _col("inference FLOPs: 2 · params · (computed prompt + generated tokens)", 0.0)
    wall_s: float = _col("wall seconds attributed to this problem", 0.0)
    error: str | None = _col("extraction/checker/method error on this problem, if any")
    trace: str | None = _col("one completion behind the answer")
    tree: str | None = _col("tree methods: the explored search tree, JSON {nodes: [{id, parent, step, score, visits, "
                            "done, kept, chosen}]}")
    policy_params: int = _col("policy parameter count", 0)
    train_flops: float = _col("training FLOPs of the checkpoint, its base's included (0 when unknown)", 0.0)
    post_train_flops: float = _col("FLOPs a trainer spent making the checkpoint from its base: training "
                                   "plus sampling its data (0 for a base checkpoint)", 0.0)

    @classmethod
    def columns(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    @classmethod
    def arrow_schema(cls) -> Any:
        """The Parquet schema, from the field types (one schema for every part file: a column
        that is all null in one cell must not make the parts disagree)."""
        import pyarrow as pa

        types = {"str": pa.string(), "int": pa.int64(), "float": pa.float64()}
        hints = typing.get_type_hints(cls)
        out = []
        for f in fields(cls):
            base = typing.get_args(hints[f.name])[0] if typing.get_args(hints[f.name]) else hints[f.name]
            out.append((f.name, types[base.__name__]))
        return pa.schema(out)

    @classmethod
    def markdown(cls) -> str:
        """The column table of docs/records.md (generated; a test keeps the page in step)."""
        hints = typing.get_type_hints(cls)
        lines = ["| column | type | meaning |", "|---|---|---|"]
        for f in fields(cls):
            args = [a.__name__ for a in typing.get_args(hints[f.name]) if a is not type(None)]
            kind = f"{args[0]} or null" if args else hints[f.name].__name__
            lines.append(f"| `{f.name}` | {kind} | {f.metadata['doc']} |")
        return "\n".join(lines)


def content_hash(value: Any) -> str:
    """A short stable hash of a prompt or reference (lm-eval's doc_hash idea)."""
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def config_fields(cls: type) -> list[tuple[str, Any, Any]]:
    """(name, type hint, default) of a config dataclass's fields."""
    hints = typing.get_type_hints(cls)
    return [(f.name, hints[f.name], f.default if f.default is not MISSING else
             (f.default_factory() if f.default_factory is not MISSING else MISSING)) for f in fields(cls)]
