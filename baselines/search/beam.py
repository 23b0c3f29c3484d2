"""`beam`: step-level beam search guided by a verifier (PRM), batched across problems.

Budget N = candidates per depth: the root is sampled N times, then each of the N/M beams is
expanded M times (`expansions`, default 4). All active beams of all problems go to the policy
in one call per depth, unlike search-and-learn's one-problem-at-a-time beam pool.
"""
from __future__ import annotations

from collections.abc import Sequence

from baselines.search.stepwise import StepConfig, step_search
from harness.contracts import Attempt, Problem
from harness.methods import SolveContext, register_method


@register_method("beam", config=StepConfig, needs_verifier=True)
def solve(ctx: SolveContext, problems: Sequence[Problem], budget: int) -> list[Attempt]:
    """PRM-guided beam search: N candidates per depth, N/M beams, M expansions each."""
    m = ctx.config.expansions
    return step_search(ctx, problems, groups_per_problem=1, width=budget // m, expansions=m,
                       first=budget)
