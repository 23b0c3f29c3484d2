"""`lookahead`: beam search whose candidates are scored after k greedy rollout steps
(Snell et al. 2024): the verifier judges where a step leads, not just the step."""
from __future__ import annotations

from collections.abc import Sequence

from baselines.search.stepwise import step_search
from harness.methods import SolveContext, register_method
from harness.types import Attempt, Problem


@register_method("lookahead", needs_verifier=True)
def solve(ctx: SolveContext, problems: Sequence[Problem], budget: int) -> list[Attempt]:
    """Beam search (N/M beams, M expansions) scored after `lookahead` greedy steps (default 2)."""
    m = max(1, min(int(ctx.params.get("expansions", 4)), budget))
    return step_search(ctx, problems, groups_per_problem=1, width=max(1, budget // m), expansions=m,
                       first=budget, lookahead=int(ctx.params.get("lookahead", 2)))
