"""`mcts`: Monte-Carlo tree search over reasoning steps (the survey's four phases).

Selection by UCT from the root; expansion of the chosen leaf into M sampled next steps
(`expansions`, default 4; duplicates merged); evaluation of each new node by the verifier
(its aggregate step score; with `rollout: true`, the verifier's score of a greedy rollout to
the end instead); backpropagation of the mean child value to the root. Budget = simulations.
All problems advance one simulation per policy call. The answer is the finished node with the
highest value; if none finished within the budget, the best node is completed greedily.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from baselines.search.stepwise import (
    Beam,
    Search,
    complete,
    extend,
    prefix_prompt,
    score,
    solution_text,
    tree_json,
)
from harness.contracts import Attempt, MethodConfig, Problem
from harness.methods import SolveContext, register_method


@dataclass
class Node:
    steps: list[str]
    parent: Node | None = None
    children: list[Node] = field(default_factory=list)
    visits: int = 0
    value_sum: float = 0.0
    score: float = 0.0
    done: bool = False
    tail: str = ""  # what the policy wrote after the last step (see stepwise.Beam)

    def uct(self, c: float) -> float:
        if self.visits == 0:
            return math.inf
        return self.value_sum / self.visits + c * math.sqrt(math.log(self.parent.visits + 1) / self.visits)


def node_tree(root: Node, best: Node) -> str:
    """The explored tree (`stepwise.tree_json`), with the path to the answer's node marked."""
    nodes, stack = [], [(root, -1)]
    chosen, node = set(), best
    while node is not None:
        chosen.add(id(node))
        node = node.parent
    while stack:
        node, parent = stack.pop()
        i = len(nodes)
        nodes.append({"id": i, "parent": parent, "step": node.steps[-1] if node.steps else "",
                      "score": round(node.score, 4), "visits": node.visits, "done": node.done,
                      "kept": node.visits > 0, "chosen": id(node) in chosen})
        stack += [(ch, i) for ch in reversed(node.children)]
    return tree_json(nodes)


def select(root: Node, c: float) -> Node:
    node = root
    while node.children and not node.done:
        node = max(node.children, key=lambda ch: ch.uct(c))
    return node


def backpropagate(node: Node | None, value: float) -> None:
    while node is not None:
        node.visits += 1
        node.value_sum += value
        node = node.parent


@dataclass(frozen=True)
class MCTSConfig(MethodConfig):
    expansions: int = 4        # sampled next steps per expanded leaf
    c_puct: float = 1.0        # UCT exploration constant
    rollout: bool = False      # value = verifier's score of a greedy rollout to the end
    rollout_steps: int = 64    # a greedy rollout/completion writes at most this × max_tokens tokens

    def validate(self) -> None:
        if self.expansions < 1 or self.rollout_steps < 1:
            raise ValueError("expansions and rollout_steps must be >= 1")
        if self.c_puct < 0:
            raise ValueError(f"c_puct must be >= 0, got {self.c_puct}")


@register_method("mcts", config=MCTSConfig, needs_verifier=True)
def solve(ctx: SolveContext, problems: Sequence[Problem], budget: int) -> list[Attempt]:
    """UCT tree search; budget = simulations, each expanding one leaf into M steps."""
    cfg: MCTSConfig = ctx.config
    m, c, rollout = cfg.expansions, cfg.c_puct, cfg.rollout
    searches = [Search(p) for p in problems]
    roots = [Node([]) for _ in problems]
    for sim in range(budget):
        leaves = [(s, select(r, c)) for s, r in zip(searches, roots)]
        terminal = [(s, n) for s, n in leaves if n.done]
        for _, n in terminal:  # nothing to expand: re-count its value
            backpropagate(n, n.score)
        grow = [(s, n) for s, n in leaves if not n.done]
        if not grow:
            continue
        outs, costs = ctx.policy.generate([prefix_prompt(ctx, s.problem, n.steps) for s, n in grow], n=m,
                                          temperature=ctx.sampling.temperature, top_p=ctx.sampling.top_p,
                                          max_tokens=ctx.sampling.max_tokens, stop=[ctx.task.step_separator],
                                          seed=ctx.seed * 100_000 + sim)
        fresh: list[tuple[Search, Node]] = []
        for (s, leaf), comps, cost in zip(grow, outs, costs):
            s.cost = s.cost + cost
            seen: dict[tuple[str, ...], Node] = {}
            for comp in comps:
                grown = extend(ctx, Beam(leaf.steps, tail=leaf.tail), comp)
                if tuple(grown.steps) not in seen:
                    seen[tuple(grown.steps)] = Node(grown.steps, leaf, done=grown.done, tail=grown.tail)
            leaf.children = list(seen.values())
            fresh += [(s, ch) for ch in leaf.children]
        beams = [(s, Beam(n.steps, done=n.done)) for s, n in fresh]
        if rollout:
            open_ = [i for i, (_, n) in enumerate(fresh) if not n.done]
            ends = complete(ctx, [beams[i] for i in open_], ctx.sampling.max_tokens * cfg.rollout_steps,
                            ctx.seed * 100_000 + sim + 50_000)
            extended = [b.steps for _, b in beams]
            for i, end in zip(open_, ends):
                extended[i] = end.steps
            score(ctx, beams, extended)
        else:
            score(ctx, beams)
        for (s, node), (_, b) in zip(fresh, beams):
            node.score = b.score
            node.visits, node.value_sum = 1, b.score
        for s, leaf in grow:
            kids = leaf.children
            backpropagate(leaf, sum(k.score for k in kids) / len(kids))
    attempts, unfinished = [], []
    for s, root in zip(searches, roots):
        nodes, stack = [], [root]
        while stack:
            node = stack.pop()
            nodes.append(node)
            stack += node.children
        finished = [n for n in nodes if n.done] or nodes
        best = max(finished, key=lambda n: (n.score, n.visits))
        unfinished.append((s, best, root))
    # A search that ran out of simulations before any leaf finished completes its best node
    # greedily (counted), rather than answering nothing.
    todo = [(s, Beam(n.steps, tail=n.tail)) for s, n, _ in unfinished if not n.done]
    ends = complete(ctx, todo, ctx.sampling.max_tokens * cfg.rollout_steps, ctx.seed * 100_000 + budget) if todo else []
    completed = {id(s): end for (s, _), end in zip(todo, ends)}
    for s, best, root in unfinished:
        end = completed.get(id(s), best)
        text = solution_text(ctx, end.steps, end.tail)
        attempts.append(Attempt(s.problem.id, ctx.task.extract(text), s.cost, traces=[text],
                                n_samples=int(best.done), tree=node_tree(root, best)))
    return attempts
