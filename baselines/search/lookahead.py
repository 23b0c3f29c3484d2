"""`lookahead`: beam search whose candidates are scored after k greedy rollout steps
(Snell et al. 2024): the verifier judges where a step leads, not just the step."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from baselines.search.stepwise import StepConfig, step_search
from harness.contracts import Attempt, Problem
from harness.methods import SolveContext, register_method


@dataclass(frozen=True)
class LookaheadConfig(StepConfig):
    lookahead: int = 2  # greedy steps rolled out before a candidate is scored

    def validate(self) -> None:
        super().validate()
        if self.lookahead < 0:
            raise ValueError(f"lookahead must be >= 0, got {self.lookahead}")


@register_method("lookahead", config=LookaheadConfig, needs_verifier=True)
def solve(ctx: SolveContext, problems: Sequence[Problem], budget: int) -> list[Attempt]:
    """Beam search (N/M beams, M expansions) scored after `lookahead` greedy steps (default 2)."""
    m = ctx.config.expansions
    return step_search(ctx, problems, groups_per_problem=1, width=budget // m, expansions=m,
                       first=budget, lookahead=ctx.config.lookahead)
