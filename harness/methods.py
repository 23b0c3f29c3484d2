"""What a test-time method is given, the shared sample pool, and the one pooled-method loop.

A method is one function `solve(ctx, problems, budget) -> list[Attempt]` registered by name with
its typed config (`@register_method("beam", config=BeamConfig)`). Pooled methods (sample,
majority, best-of-n, ...) read one pool of N samples per problem that every pooled cell with the
same sampling settings shares, and report the exact expectation at their budget k <= N with the
expected cost of drawing k. They differ only in the rule that picks an answer from a pool (the
reducer of inspect_ai, the filter of lm-eval): each registers that rule with `register_pooled`,
and `solve_pooled` is the loop they share.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from harness.contracts import (Attempt, Completion, Cost, Method, MethodConfig, Policy, Problem, Sampling, Task,
                               Verdict, Verifier)
from harness.registry import METHODS


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
            samples = iter(judge_many(ctx.task, [p for p, _ in pairs], [c for _, c in pairs]))
            for problem, comps, cost in zip(missing, outs, costs):
                self.drawn[problem.id] = ([next(samples) for _ in comps], cost)
        return [self.drawn[p.id] for p in problems]

    def scores(self, ctx: SolveContext, problems: Sequence[Problem]) -> list[tuple[list[float], Cost]]:
        """The verifier's solution score for every pooled sample (scored once per verifier)."""
        pools = self.get(ctx, problems)
        key = id(ctx.verifier)
        missing = [(p, samples) for p, (samples, _) in zip(problems, pools) if (key, p.id) not in self.scored]
        if missing:
            flat = [(p, ctx.task.steps(s.completion.text)) for p, samples in missing for s in samples]
            step_scores, costs = ctx.verifier.score_many([p for p, _ in flat], [st for _, st in flat])
            it = iter(zip(step_scores, costs))
            for p, samples in missing:
                got = [next(it) for _ in samples]
                self.scored[(key, p.id)] = ([ctx.verifier.solution_score(sc) for sc, _ in got],
                                            sum((c for _, c in got), Cost()))
        return [self.scored[(key, p.id)] for p in problems]


def extract_and_check(task: Task, problems: Sequence[Problem], texts: Sequence[str]
                      ) -> tuple[list[str | None], list[Verdict], list[str | None]]:
    """Answers, verdicts and errors of many completion texts, checked in one `check_many` call
    (code runs in parallel sandboxes). A failing extraction or check is kept on its text as an
    error (and a wrong verdict), never raised: one bad sample must not stop the run."""
    answers: list[str | None] = []
    errors: list[str | None] = []
    for text in texts:
        try:
            answers.append(task.extract(text))
            errors.append(None)
        except Exception as e:  # noqa: BLE001
            answers.append(None)
            errors.append(f"extract failed: {type(e).__name__}: {e}")
    try:
        verdicts = task.check_many(answers, list(problems))
    except Exception:  # noqa: BLE001 - fall back to one by one, to pin the failure on its text
        verdicts = []
        for i, (a, p) in enumerate(zip(answers, problems)):
            try:
                verdicts.append(task.check(a, p))
            except Exception as e:  # noqa: BLE001
                errors[i] = errors[i] or f"check failed: {type(e).__name__}: {e}"
                verdicts.append(Verdict(False, errors[i]))
    return answers, verdicts, errors


def judge_many(task: Task, problems: Sequence[Problem], completions: Sequence[Completion]) -> list[Sample]:
    """Extract, check and key many completions; a failure is kept on its sample, never raised."""
    answers, verdicts, errors = extract_and_check(task, problems, [c.text for c in completions])
    correct = [v.correct for v in verdicts]
    keys = voting_keys(task, problems, answers, errors)
    return [Sample(c, a, key, ok, err)
            for c, a, key, ok, err in zip(completions, answers, keys, correct, errors)]


def voting_keys(task: Task, problems: Sequence[Problem], answers: Sequence[str | None],
                errors: list[str | None]) -> list[str | None]:
    """Voting keys through the task's `voting_keys`, one call per problem's pool (keys agree
    with the checker only within a problem). A failure keeps the answer's stripped text as its
    key and its message on the sample (`errors` is updated in place), never raises."""
    groups: dict[str, list[int]] = {}
    for i, p in enumerate(problems):
        groups.setdefault(p.id, []).append(i)
    keys: list[str | None] = [None] * len(answers)
    for idx in groups.values():
        pool = [answers[i] for i in idx]
        try:
            got = task.voting_keys(pool, problems[idx[0]])
            if len(got) != len(pool):
                raise ValueError(f"{len(got)} keys for {len(pool)} answers")
        except Exception as e:  # noqa: BLE001 - fall back one by one, to pin the failure down
            got = []
            for i, a in zip(idx, pool):
                try:
                    got.append(None if a is None else task.canonical(a))
                except Exception as e1:  # noqa: BLE001
                    got.append(a.strip())
                    errors[i] = errors[i] or f"voting key failed: {type(e1).__name__}: {e1}"
            if all(errors[i] is None for i in idx):
                errors[idx[0]] = f"voting keys failed: {type(e).__name__}: {e}"
        for i, key in zip(idx, got):
            keys[i] = key
    return keys


@dataclass
class SolveContext:
    """Everything a method may use: the policy, the task's public interface, its typed config."""

    policy: Policy
    task: Task
    seed: int
    sampling: Sampling
    pool: SamplePool | None = None
    verifier: Verifier | None = None
    config: MethodConfig = field(default_factory=MethodConfig)


def register_method(name: str, *, config: type[MethodConfig] = MethodConfig, pooled: bool = False,
                    uses_budget: bool = True, greedy: bool = False, needs_verifier: bool = False
                    ) -> Callable:
    """Register `solve` under `name` (the name users write in a matrix) with its typed config."""

    def deco(fn: Callable) -> Callable:
        doc = (fn.__doc__ or "").strip().splitlines()[0] if fn.__doc__ else ""
        METHODS.register(name, config=config)(
            Method(name, fn, config, pooled, uses_budget, greedy, needs_verifier, doc))
        return fn

    return deco


@dataclass
class Pool:
    """What a pooled rule sees of one problem: its samples, their verifier scores (if the
    method uses a verifier), and a seeded generator for Monte-Carlo subsets."""

    samples: list[Sample]
    scores: list[float] | None
    rng: np.random.Generator
    config: MethodConfig

    @property
    def keys(self) -> list[str | None]:
        return [s.key for s in self.samples]

    @property
    def correct(self) -> list[bool]:
        return [s.correct for s in self.samples]

    def answer_of(self, key: str | None) -> str | None:
        return next((s.answer for s in self.samples if s.key == key), None)


@dataclass
class Pick:
    """A pooled rule's result: the answer shown on the row, the exact (or Monte-Carlo)
    expected correctness at budget k, and the completion shown as its trace."""

    answer: str | None
    correct: float
    trace: str


PickFn = Callable[[Pool, int], Pick]


def solve_pooled(ctx: SolveContext, problems: Sequence[Problem], budget: int, pick: PickFn,
                 scored: bool, salt: tuple[int, ...] = ()) -> list[Attempt]:
    """The loop every pooled method shares: draw (or reuse) the pool, score it if the method
    uses a verifier, apply `pick` at k = budget, and charge the expected cost of k draws."""
    rng = np.random.default_rng([ctx.seed, budget, *salt])
    pools = ctx.pool.get(ctx, problems)
    scores = ctx.pool.scores(ctx, problems) if scored else [(None, Cost())] * len(problems)
    attempts = []
    for problem, (samples, cost), (sc, vcost) in zip(problems, pools, scores):
        n = len(samples)
        got = pick(Pool(samples, sc, rng, ctx.config), budget)
        attempts.append(Attempt(problem.id, got.answer, cost_at_k(cost, n, budget) + vcost.scaled(budget / n),
                                correct=got.correct, traces=[got.trace], n_samples=n,
                                n_correct=sum(s.correct for s in samples),
                                error=next((s.error for s in samples if s.error), None)))
    return attempts


def register_pooled(name: str, *, config: type[MethodConfig] = MethodConfig, scored: bool = False,
                    uses_budget: bool = True, salt: tuple[int, ...] = ()) -> Callable[[PickFn], PickFn]:
    """Register a pooled method by its rule `pick(pool, k) -> Pick`; `scored` methods need a
    verifier and see its score of every sample."""

    def deco(pick: PickFn) -> PickFn:
        def solve(ctx: SolveContext, problems: Sequence[Problem], budget: int) -> list[Attempt]:
            return solve_pooled(ctx, problems, budget, pick, scored, salt)

        solve.__doc__ = pick.__doc__
        register_method(name, config=config, pooled=True, uses_budget=uses_budget,
                        needs_verifier=scored)(solve)
        return pick

    return deco


def cost_at_k(pool_cost: Cost, n: int, k: int) -> Cost:
    """Expected cost of drawing k of a pool of n samples that shares one prompt prefill.

    The pool's cached tokens are r (the prompt's prefix computed earlier in the cell) plus the
    prompt's full length for each of the other n-1 samples: r·n + p·(n-1) for p computed
    prompt tokens (every backend counts a prompt's n samples this way: hf, vllm, openai). k
    samples reuse r·k + p·(k-1): their cost does not depend on the pool's size n."""
    generated = pool_cost.generated_tokens * k / n
    computed = pool_cost.prompt_tokens + pool_cost.generated_tokens
    p = pool_cost.prompt_tokens
    reused = (pool_cost.cached_tokens - p * (n - 1)) / n
    return Cost(prompt_tokens=p,
                cached_tokens=reused * k + p * (k - 1),
                generated_tokens=generated,
                flops=pool_cost.flops * (pool_cost.prompt_tokens + generated) / max(computed, 1),
                wall_s=pool_cost.wall_s * k / n)
