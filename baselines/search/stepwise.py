"""Step-level search shared by beam, dvts and lookahead: expand partial solutions one line at a
time, score them with the verifier, keep the best few per group. Every live beam of every
problem goes to the policy in one call per depth (batched across problems).

A step is what the task says it is (`Task.step_separator`: a line for the testbed, a paragraph
for math): the policy stops at the separator, and PRMs score the same units in every method. A
candidate whose completion ends another way (EOS, length) or adds nothing is finished. On the
last allowed step the policy writes to the end (no stop), so a long solution still gets an
answer, as search-and-learn does. The partial solution goes to the policy as an assistant turn
to continue (a chat template continues it rather than starting a new answer). Duplicate
candidates are kept once; how often one was proposed breaks score ties.
"""
from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from harness.contracts import Attempt, Completion, Cost, MethodConfig, Problem
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
    tail: str = ""  # what the policy wrote after the last step (its separator, before EOS)
    parent: Beam | None = field(default=None, repr=False, compare=False)  # the beam it extends (the search tree)
    kept: bool = False  # survived selection (or finished): the tree view greys out the pruned


@dataclass
class Group:
    """One independent search (beam search has one per problem; DVTS has N/M)."""

    search: Search
    width: int
    active: list[Beam] = field(default_factory=lambda: [Beam([], kept=True)])

    def __post_init__(self) -> None:
        self.search.explored += self.active


@dataclass
class Search:
    problem: Problem
    finished: list[Beam] = field(default_factory=list)
    cost: Cost = field(default_factory=Cost)
    explored: list[Beam] = field(default_factory=list)  # every node proposed, roots first


# A tree node shows the start of its step; the chosen path's whole text is the record's trace.
STEP_CHARS = 160


def tree_json(nodes: Sequence[dict]) -> str:
    """A search tree as the `tree` record column holds it: nodes with id, parent (-1: a root),
    the step's start, score, visits, done, kept, chosen."""
    out = [n | {"step": n["step"][:STEP_CHARS]} for n in nodes]
    return json.dumps({"nodes": out}, separators=(",", ":"))


def beam_tree(explored: Sequence[Beam], best: Beam) -> str:
    """The tree a step search explored, with the path to its answer (`best`) marked."""
    index = {id(b): i for i, b in enumerate(explored)}
    chosen, node = set(), best
    while node is not None:
        chosen.add(id(node))
        node = node.parent
    return tree_json([{"id": i, "parent": index.get(id(b.parent), -1) if b.parent is not None else -1,
                       "step": b.steps[-1] if b.steps else "", "score": round(b.score, 4), "visits": 1,
                       "done": b.done, "kept": b.kept, "chosen": id(b) in chosen}
                      for i, b in enumerate(explored)])


def prefix_prompt(ctx: SolveContext, problem: Problem, steps: Sequence[str]) -> str | list[dict]:
    """The problem's prompt, with the steps so far as a partial assistant turn to continue."""
    prompt = ctx.task.prompt(problem)
    if not steps:
        return prompt
    partial = "".join(step + ctx.task.step_separator for step in steps)
    messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else list(prompt)
    return messages + [{"role": "assistant", "content": partial}]


def solution_text(ctx: SolveContext, steps: Sequence[str], tail: str = "") -> str:
    """The steps as one solution text, ending as the policy ended it (`tail`): the trace is
    what the policy wrote, so a trainer can learn from it (a dropped final separator before EOS
    makes text the policy would never write)."""
    return ctx.task.step_separator.join(steps) + tail


def trailing(ctx: SolveContext, text: str, steps: Sequence[str]) -> str:
    """What `text` holds after the last of the `steps` split from it (usually a separator)."""
    rebuilt = ctx.task.step_separator.join(steps)
    return text[len(rebuilt):] if text.startswith(rebuilt) else ""


def extend(ctx: SolveContext, beam: Beam, c: Completion, whole: bool = False) -> Beam:
    """`beam` continued by completion `c`: one step ended by the separator (or by EOS, which
    finishes it), or with `whole` (no stop) every step of `c` to the end."""
    if whole:
        new = ctx.task.steps(c.text)
        tail = trailing(ctx, c.text, new) if new else beam.tail + c.text
    elif c.text.strip():
        new, tail = [c.text], c.stop_string or ""
    else:  # EOS right after a separator: nothing new, and the separator ends the solution
        new, tail = [], beam.tail + c.text
    return Beam(beam.steps + new, done=c.stop_string is None or not new, tail=tail, parent=beam)


def score(ctx: SolveContext, items: list[tuple[Search, Beam]], steps: list[list[str]] | None = None) -> None:
    """Set each beam's score (from `steps` when given: a lookahead's extension) and charge it."""
    scores, costs = ctx.verifier.score_many([s.problem for s, _ in items],
                                            steps if steps is not None else [b.steps for _, b in items])
    for (s, b), sc, cost in zip(items, scores, costs):
        b.score = ctx.verifier.solution_score(sc)
        s.cost = s.cost + cost


def rollout(ctx: SolveContext, items: list[tuple[Search, Beam]], k: int, seed: int) -> list[list[str]]:
    """Each beam extended by exactly k more greedy steps (fewer if it ends first), one policy
    call per step so that nothing past the k-th step is generated or paid for."""
    extended = [list(b.steps) for _, b in items]
    open_ = list(range(len(items)))
    for j in range(k):
        if not open_:
            break
        outs, costs = ctx.policy.generate([prefix_prompt(ctx, items[i][0].problem, extended[i]) for i in open_],
                                          n=1, temperature=0.0, max_tokens=ctx.sampling.max_tokens,
                                          stop=[ctx.task.step_separator], seed=seed + j)
        still = []
        for i, (c,), cost in zip(open_, outs, costs):
            items[i][0].cost = items[i][0].cost + cost
            if c.text.strip():
                extended[i].append(c.text)
                if c.stop_string is not None:
                    still.append(i)
        open_ = still
    return extended


def complete(ctx: SolveContext, items: list[tuple[Search, Beam]], max_tokens: int, seed: int) -> list[Beam]:
    """Each beam's solution written greedily to the end (EOS or `max_tokens`), all of it kept."""
    prompts = [prefix_prompt(ctx, s.problem, b.steps) for s, b in items]
    outs, costs = ctx.policy.generate(prompts, n=1, temperature=0.0, max_tokens=max_tokens, seed=seed)
    extended = []
    for (s, b), (c,), cost in zip(items, outs, costs):
        s.cost = s.cost + cost
        extended.append(extend(ctx, b, c, whole=True))
    return extended


def step_search(ctx: SolveContext, problems: Sequence[Problem], groups_per_problem: int, width: int,
                expansions: int, first: int, lookahead: int = 0) -> list[Attempt]:
    """Run the groups to completion; the answer is the best-scored finished beam per problem."""
    searches = [Search(p) for p in problems]
    groups = [Group(s, width) for s in searches for _ in range(groups_per_problem)]
    last = ctx.config.max_steps - 1
    for depth in range(ctx.config.max_steps):
        live = [(g, b) for g in groups for b in g.active]
        if not live:
            break
        n = first if depth == 0 else expansions
        outs, costs = ctx.policy.generate([prefix_prompt(ctx, g.search.problem, b.steps) for g, b in live],
                                          n=n, temperature=ctx.sampling.temperature, top_p=ctx.sampling.top_p,
                                          max_tokens=ctx.sampling.max_tokens,
                                          stop=[] if depth == last else [ctx.task.step_separator],
                                          seed=ctx.seed * 1000 + depth)
        candidates: list[tuple[Group, Beam]] = []
        for (g, b), comps, cost in zip(live, outs, costs):
            g.search.cost = g.search.cost + cost
            for c in comps:
                # The last step runs to the end: its text may hold several steps.
                candidates.append((g, extend(ctx, b, c, whole=depth == last)))
                g.search.explored.append(candidates[-1][1])
        pairs = [(g.search, b) for g, b in candidates]
        unfinished = [(s, b) for s, b in pairs if not b.done]
        score(ctx, [(s, b) for s, b in pairs if b.done])
        if lookahead and unfinished:
            score(ctx, unfinished, rollout(ctx, unfinished, lookahead, ctx.seed * 1000 + depth + 500))
        else:
            score(ctx, unfinished)
        for g in groups:
            mine = [b for h, b in candidates if h is g]
            counts = Counter(tuple(b.steps) for b in mine)
            distinct = list({tuple(b.steps): b for b in mine}.values())
            g.search.finished += [b for b in distinct if b.done]
            g.active = sorted((b for b in distinct if not b.done),
                              key=lambda b: (-b.score, -counts[tuple(b.steps)]))[:g.width]
            for b in g.active + [b for b in distinct if b.done]:
                b.kept = True
    attempts = []
    for s in searches:
        pool = s.finished + [b for g in groups if g.search is s for b in g.active]
        best = max(pool, key=lambda b: b.score) if pool else Beam([])
        text = solution_text(ctx, best.steps, best.tail)
        attempts.append(Attempt(s.problem.id, ctx.task.extract(text), s.cost, traces=[text],
                                n_samples=len(s.finished), tree=beam_tree(s.explored, best)))
    return attempts
