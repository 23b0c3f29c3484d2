"""`dvts`: diverse verifier tree search (Beeching et al. 2024, search-and-learn).

Budget N is split into N/M independent subtrees; each keeps its single best partial solution
(by the verifier) and expands it M times per step (`expansions`, default 4). Independent
subtrees keep the search diverse where one beam collapses onto one prefix.
"""
from __future__ import annotations

from collections.abc import Sequence

from baselines.search.stepwise import StepConfig, step_search
from harness.contracts import Attempt, Problem
from harness.methods import SolveContext, register_method


@register_method("dvts", config=StepConfig, needs_verifier=True)
def solve(ctx: SolveContext, problems: Sequence[Problem], budget: int) -> list[Attempt]:
    """N/M independent greedy-by-verifier subtrees, M expansions each."""
    m = ctx.config.expansions
    return step_search(ctx, problems, groups_per_problem=budget // m, width=1, expansions=m, first=m)
