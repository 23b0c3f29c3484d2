"""What a test-time method is given and returns, and the shared sample pool.

A method is one function `solve(ctx, problems, budget) -> list[Attempt]` registered by name.
Pooled methods (sample, majority, oracle_best_of_n) read one pool of N samples per problem
that every pooled cell with the same sampling settings shares, and report the exact
expectation at their budget k <= N, with the expected cost of drawing k.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from harness.registry import METHODS
from harness.types import Attempt, Completion, Cost, Problem


class Policy(Protocol):
    """Something that continues prompts (harness/backends/*)."""

    params: int

    def generate(self, prompts: Sequence[str | list[dict]], *, n: int = 1, temperature: float = 0.0,
                 top_p: float = 1.0, max_tokens: int = 256, stop: Sequence[str] = (),
                 seed: int | None = None) -> tuple[list[list[Completion]], list[Cost]]: ...


@dataclass(frozen=True)
class Sampling:
    """Decoding settings of a cell (the matrix's `generation:` plus method overrides)."""

    temperature: float = 1.0
    top_p: float = 1.0
    max_tokens: int = 256
    stop: tuple[str, ...] = ()


@dataclass
class Sample:
    """One pooled completion with its extracted answer, voting key and verdict."""

    completion: Completion
    answer: str | None
    key: str | None
    correct: bool
    error: str | None = None


@dataclass
class SamplePool:
    """N samples per problem, drawn once per (policy, task, sampling, seed) and shared."""

    size: int
    seed: int
    sampling: Sampling
    drawn: dict[str, tuple[list[Sample], Cost]] = field(default_factory=dict)
    scored: dict[tuple[int, str], tuple[list[float], Cost]] = field(default_factory=dict)

    def get(self, ctx: SolveContext, problems: Sequence[Problem]) -> list[tuple[list[Sample], Cost]]:
        """The pool of each problem, drawing (and checking) what is missing."""
        missing = [p for p in problems if p.id not in self.drawn]
        if missing:
            s = self.sampling
            outs, costs = ctx.policy.generate([ctx.task.prompt(p) for p in missing], n=self.size,
                                              temperature=s.temperature, top_p=s.top_p,
                                              max_tokens=s.max_tokens, stop=s.stop, seed=self.seed)
            pairs = [(p, c) for p, comps in zip(missing, outs) for c in comps]
            samples = iter(judge_many(ctx, [p for p, _ in pairs], [c for _, c in pairs]))
            for problem, comps, cost in zip(missing, outs, costs):
                self.drawn[problem.id] = ([next(samples) for _ in comps], cost)
        return [self.drawn[p.id] for p in problems]

    def scores(self, ctx: SolveContext, problems: Sequence[Problem]) -> list[tuple[list[float], Cost]]:
        """The verifier's solution score for every pooled sample (scored once per verifier)."""
        from baselines.verifiers.aggregate import aggregate

        pools = self.get(ctx, problems)
        key = id(ctx.verifier)
        missing = [(p, samples) for p, (samples, _) in zip(problems, pools) if (key, p.id) not in self.scored]
        if missing:
            flat = [(p, ctx.task.steps(s.completion.text)) for p, samples in missing for s in samples]
            step_scores, costs = ctx.verifier.score_many([p for p, _ in flat], [st for _, st in flat])
            it = iter(zip(step_scores, costs))
            for p, samples in missing:
                got = [next(it) for _ in samples]
                self.scored[(key, p.id)] = ([aggregate(sc, ctx.verifier.aggregate) for sc, _ in got],
                                            sum((c for _, c in got), Cost()))
        return [self.scored[(key, p.id)] for p in problems]


def judge(ctx: SolveContext, problem: Problem, completion: Completion) -> Sample:
    """Extract and check one completion; a checker failure is kept on the sample, not raised."""
    return judge_many(ctx, [problem], [completion])[0]


def judge_many(ctx: SolveContext, problems: Sequence[Problem], completions: Sequence[Completion]) -> list[Sample]:
    """Extract and check many completions, through the task's batched `check_many` if it has
    one (code runs in parallel sandboxes); a failure is kept on its sample, not raised."""
    answers, errors = [], []
    for c in completions:
        try:
            answers.append(ctx.task.extract(c.text))
            errors.append(None)
        except Exception as e:  # noqa: BLE001 - one bad sample must not stop the run
            answers.append(None)
            errors.append(f"extract failed: {type(e).__name__}: {e}")
    try:
        if hasattr(ctx.task, "check_many"):
            correct = [v.correct for v in ctx.task.check_many(answers, list(problems))]
        else:
            correct = [ctx.task.check(a, p).correct for a, p in zip(answers, problems)]
    except Exception:  # noqa: BLE001 - fall back to one by one, to pin the failure on its sample
        correct = []
        for i, (a, p) in enumerate(zip(answers, problems)):
            try:
                correct.append(ctx.task.check(a, p).correct)
            except Exception as e:  # noqa: BLE001
                correct.append(False)
                errors[i] = errors[i] or f"{type(e).__name__}: {e}"
    return [Sample(c, a, None if a is None else ctx.task.canonical(a), ok, err)
            for c, a, ok, err in zip(completions, answers, correct, errors)]


@dataclass
class SolveContext:
    """Everything a method may use: the policy, the task's public interface, settings."""

    policy: Policy
    task: Any
    seed: int
    sampling: Sampling
    pool: SamplePool | None = None
    verifier: Any = None
    params: dict = field(default_factory=dict)


SolveFn = Callable[[SolveContext, Sequence[Problem], int], list[Attempt]]


@dataclass(frozen=True)
class Method:
    """A registered test-time method."""

    name: str
    solve: SolveFn
    pooled: bool = False        # reads the shared sample pool
    uses_budget: bool = True    # False: one cell at budget 1, whatever the matrix lists
    greedy: bool = False        # decodes at temperature 0 whatever `generation:` says
    needs_verifier: bool = False
    doc: str = ""


def register_method(name: str, *, pooled: bool = False, uses_budget: bool = True,
                    greedy: bool = False, needs_verifier: bool = False) -> Callable[[SolveFn], SolveFn]:
    """Register `solve` under `name` (the name users write in a matrix)."""

    def deco(fn: SolveFn) -> SolveFn:
        doc = (fn.__doc__ or "").strip().splitlines()[0] if fn.__doc__ else ""
        METHODS.register(name)(Method(name, fn, pooled, uses_budget, greedy, needs_verifier, doc))
        return fn

    return deco


def cost_at_k(pool_cost: Cost, n: int, k: int) -> Cost:
    """Expected cost of drawing k of a pool of n samples that shares one prompt prefill."""
    generated = pool_cost.generated_tokens * k / n
    computed = pool_cost.prompt_tokens + pool_cost.generated_tokens
    return Cost(prompt_tokens=pool_cost.prompt_tokens,
                cached_tokens=pool_cost.cached_tokens * (k - 1) / max(n - 1, 1),
                generated_tokens=generated,
                flops=pool_cost.flops * (pool_cost.prompt_tokens + generated) / max(computed, 1),
                wall_s=pool_cost.wall_s * k / n)


def pool_errors(samples: Sequence[Sample]) -> str | None:
    """The first checker error among the samples, if any (recorded on the problem's row)."""
    return next((s.error for s in samples if s.error), None)
