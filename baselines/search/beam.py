"""`beam`: step-level beam search guided by a verifier (PRM), batched across problems.

Budget N = candidates per depth: the root is sampled N times, then each of the N/M beams is
expanded M times (`expansions`, default 4); duplicate candidates are kept once. A step is one
line (the policy stops at "\\n"); a
candidate whose completion ends (EOS or length) is finished. The best finished candidate by
the verifier's aggregate score is the answer. All active beams of all problems go to the
policy in one call per depth, unlike search-and-learn's one-problem-at-a-time beam pool.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from baselines.verifiers.aggregate import aggregate
from harness.methods import SolveContext, register_method
from harness.types import Attempt, Cost, Problem


@dataclass
class Beam:
    steps: list[str]
    score: float = 0.0
    done: bool = False


@dataclass
class Search:
    problem: Problem
    active: list[Beam] = field(default_factory=lambda: [Beam([])])
    finished: list[Beam] = field(default_factory=list)
    cost: Cost = field(default_factory=Cost)


@register_method("beam", needs_verifier=True)
def solve(ctx: SolveContext, problems: Sequence[Problem], budget: int) -> list[Attempt]:
    """PRM-guided beam search: N candidates per depth, N/M beams, M expansions each."""
    m = max(1, min(int(ctx.params.get("expansions", 4)), budget))
    width = max(1, budget // m)
    max_depth = int(ctx.params.get("max_steps", 20))
    searches = [Search(p) for p in problems]
    for depth in range(max_depth):
        live = [(s, b) for s in searches for b in s.active]
        if not live:
            break
        n = budget if depth == 0 else m
        prompts = [ctx.task.prompt(s.problem) + "".join(step + "\n" for step in b.steps) for s, b in live]
        outs, costs = ctx.policy.generate(prompts, n=n, temperature=ctx.sampling.temperature,
                                          top_p=ctx.sampling.top_p, max_tokens=ctx.sampling.max_tokens,
                                          stop=["\n"], seed=ctx.seed * 1000 + depth)
        candidates: list[tuple[Search, Beam]] = []
        for (s, b), comps, cost in zip(live, outs, costs):
            s.cost = s.cost + cost
            for c in comps:
                steps = b.steps + ([c.text] if c.text.strip() else [])
                candidates.append((s, Beam(steps, done=c.stop_string is None or not c.text.strip())))
        scores, vcosts = ctx.verifier.score_many([s.problem for s, _ in candidates],
                                                 [b.steps for _, b in candidates])
        for (s, b), sc, vc in zip(candidates, scores, vcosts):
            b.score = aggregate(sc, ctx.verifier.aggregate)
            s.cost = s.cost + vc
        for s in searches:
            # Identical candidates (frequent when the policy is confident) are kept once, so the
            # beam holds distinct partial solutions; how often one was proposed breaks ties.
            counts = Counter(tuple(b.steps) for t, b in candidates if t is s)
            mine = list({tuple(b.steps): b for t, b in candidates if t is s}.values())
            s.finished += [b for b in mine if b.done]
            s.active = sorted((b for b in mine if not b.done),
                              key=lambda b: (-b.score, -counts[tuple(b.steps)]))[:width]
    attempts = []
    for s in searches:
        pool = s.finished + s.active  # beams cut off at max_steps count as they are
        best = max(pool, key=lambda b: b.score) if pool else Beam([])
        text = "\n".join(best.steps)
        attempts.append(Attempt(s.problem.id, ctx.task.extract(text), s.cost, traces=[text],
                                n_samples=len(s.finished)))
    return attempts
