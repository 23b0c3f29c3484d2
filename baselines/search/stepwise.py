"""Step-level search shared by beam, dvts and lookahead: expand partial solutions one line at a
time, score them with the verifier, keep the best few per group. Every live beam of every
problem goes to the policy in one call per depth (batched across problems).

A step is one line: the policy stops at "\\n". A candidate whose completion ends another way
(EOS, length) or adds nothing is finished. Duplicate candidates are kept once; how often one
was proposed breaks score ties.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from harness.contracts import Attempt, Cost, MethodConfig, Problem
from harness.methods import SolveContext


@dataclass(frozen=True)
class StepConfig(MethodConfig):
    """Knobs of the step-level searches: M expansions per beam, at most `max_steps` steps."""

    expansions: int = 4
    max_steps: int = 20

    def validate(self) -> None:
        if self.expansions < 1:
            raise ValueError(f"expansions must be >= 1, got {self.expansions}")
        if self.max_steps < 1:
            raise ValueError(f"max_steps must be >= 1, got {self.max_steps}")

    def budget_error(self, budget: int) -> str | None:
        if budget % self.expansions:
            return (f"budget {budget} is not a multiple of expansions ({self.expansions}): the search "
                    f"would change shape; use budgets that are multiples of {self.expansions}")
        return None


@dataclass
class Beam:
    steps: list[str]
    score: float = 0.0
    done: bool = False


@dataclass
class Group:
    """One independent search (beam search has one per problem; DVTS has N/M)."""

    search: Search
    width: int
    active: list[Beam] = field(default_factory=lambda: [Beam([])])


@dataclass
class Search:
    problem: Problem
    finished: list[Beam] = field(default_factory=list)
    cost: Cost = field(default_factory=Cost)


def prefix_prompt(ctx: SolveContext, problem: Problem, steps: Sequence[str]) -> str:
    return ctx.task.prompt(problem) + "".join(step + "\n" for step in steps)


def score(ctx: SolveContext, items: list[tuple[Search, Beam]], steps: list[list[str]] | None = None) -> None:
    """Set each beam's score (from `steps` when given: a lookahead's extension) and charge it."""
    scores, costs = ctx.verifier.score_many([s.problem for s, _ in items],
                                            steps if steps is not None else [b.steps for _, b in items])
    for (s, b), sc, cost in zip(items, scores, costs):
        b.score = ctx.verifier.solution_score(sc)
        s.cost = s.cost + cost


def lookahead_steps(ctx: SolveContext, items: list[tuple[Search, Beam]], k: int, seed: int) -> list[list[str]]:
    """Each unfinished beam extended by up to k greedy steps (for scoring only)."""
    prompts = [prefix_prompt(ctx, s.problem, b.steps) for s, b in items]
    outs, costs = ctx.policy.generate(prompts, n=1, temperature=0.0, max_tokens=ctx.sampling.max_tokens * k,
                                      seed=seed)
    extended = []
    for (s, b), (c,), cost in zip(items, outs, costs):
        s.cost = s.cost + cost
        extended.append(b.steps + [line for line in c.text.split("\n") if line.strip()][:k])
    return extended


def step_search(ctx: SolveContext, problems: Sequence[Problem], groups_per_problem: int, width: int,
                expansions: int, first: int, lookahead: int = 0) -> list[Attempt]:
    """Run the groups to completion; the answer is the best-scored finished beam per problem."""
    searches = [Search(p) for p in problems]
    groups = [Group(s, width) for s in searches for _ in range(groups_per_problem)]
    for depth in range(ctx.config.max_steps):
        live = [(g, b) for g in groups for b in g.active]
        if not live:
            break
        n = first if depth == 0 else expansions
        outs, costs = ctx.policy.generate([prefix_prompt(ctx, g.search.problem, b.steps) for g, b in live],
                                          n=n, temperature=ctx.sampling.temperature, top_p=ctx.sampling.top_p,
                                          max_tokens=ctx.sampling.max_tokens, stop=["\n"],
                                          seed=ctx.seed * 1000 + depth)
        candidates: list[tuple[Group, Beam]] = []
        for (g, b), comps, cost in zip(live, outs, costs):
            g.search.cost = g.search.cost + cost
            for c in comps:
                steps = b.steps + ([c.text] if c.text.strip() else [])
                candidates.append((g, Beam(steps, done=c.stop_string is None or not c.text.strip())))
        pairs = [(g.search, b) for g, b in candidates]
        unfinished = [(s, b) for s, b in pairs if not b.done]
        score(ctx, [(s, b) for s, b in pairs if b.done])
        if lookahead and unfinished:
            score(ctx, unfinished, lookahead_steps(ctx, unfinished, lookahead, ctx.seed * 1000 + depth + 500))
        else:
            score(ctx, unfinished)
        for g in groups:
            mine = [b for h, b in candidates if h is g]
            counts = Counter(tuple(b.steps) for b in mine)
            distinct = list({tuple(b.steps): b for b in mine}.values())
            g.search.finished += [b for b in distinct if b.done]
            g.active = sorted((b for b in distinct if not b.done),
                              key=lambda b: (-b.score, -counts[tuple(b.steps)]))[:g.width]
    attempts = []
    for s in searches:
        pool = s.finished + [b for g in groups if g.search is s for b in g.active]  # cut off at max_steps
        best = max(pool, key=lambda b: b.score) if pool else Beam([])
        text = "\n".join(best.steps)
        attempts.append(Attempt(s.problem.id, ctx.task.extract(text), s.cost, traces=[text],
                                n_samples=len(s.finished)))
    return attempts
