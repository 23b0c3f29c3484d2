"""`self_refine` (Madaan et al. 2023): the policy revises its own solution for r rounds —
verbal reinforcement at test time, no verifier. Budget = generations (1 draft + r revisions).

The revision prompt shows the problem, the previous attempt and an instruction (`instruction`
param) and asks for a new solution; the last round's answer is the answer.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from harness.contracts import Attempt, Cost, MethodConfig, Problem
from harness.methods import SolveContext, register_method

INSTRUCTION = ("\nThe solution above may contain a mistake. Check each step and write a corrected "
               "solution to the same problem.\n")


@dataclass(frozen=True)
class SelfRefineConfig(MethodConfig):
    instruction: str = INSTRUCTION  # shown between the previous attempt and the problem


@register_method("self_refine", config=SelfRefineConfig)
def solve(ctx: SolveContext, problems: Sequence[Problem], budget: int) -> list[Attempt]:
    """A draft, then budget-1 rounds of critique-and-revise by the policy itself."""
    instruction = ctx.config.instruction
    s = ctx.sampling
    texts = [""] * len(problems)
    costs = [Cost() for _ in problems]
    for round_ in range(budget):
        prompts = [ctx.task.prompt(p) if round_ == 0 else
                   ctx.task.prompt(p) + texts[i] + instruction + ctx.task.prompt(p)
                   for i, p in enumerate(problems)]
        outs, round_costs = ctx.policy.generate(prompts, n=1, temperature=s.temperature if round_ else 0.0,
                                                top_p=s.top_p, max_tokens=s.max_tokens, stop=s.stop,
                                                seed=ctx.seed * 1000 + round_)
        for i, ((c,), cost) in enumerate(zip(outs, round_costs)):
            texts[i] = c.text
            costs[i] = costs[i] + cost
    return [Attempt(p.id, ctx.task.extract(t), cost, traces=[t], n_samples=budget)
            for p, t, cost in zip(problems, texts, costs)]
