"""Prefix reuse in tree search (beam, MCTS), and beam vs best-of-N wall time, on the testbed.

    python benchmarks/search_prefix_reuse.py [--problems 50] [--budgets 4,16]

recompute ratio = (computed prompt + generated tokens) / (tokens in the search tree), with the
hf backend's prefix cache on and off (target <= 1.2 with it). The tree: every distinct prompt
prefix once (a trie of token ids) plus every generated token of every sample (each sample is
its own branch: two samples that happen to agree were still both generated). Wall times: beam search vs the
pooled best-of-N at the same budget, both scored by the oracle verifier.
"""
from __future__ import annotations

import argparse
import time

from baselines.verifiers.oracle import OracleVerifier
from harness.backends.hf import HFConfig, HFPolicy
from harness.checkpoint import resolve_checkpoint
from harness.contracts import Sampling
from harness.methods import SamplePool, SolveContext
from harness.registry import METHODS, load_plugins
from tasks.math.addition import AdditionTask


class Recorder:
    """Wraps a policy; keeps every prompt, every sample's generated ids, and the costs."""

    def __init__(self, policy: HFPolicy) -> None:
        self.policy, self.params = policy, policy.params
        self.samples: list[tuple[tuple[int, ...], tuple[int, ...]]] = []  # (prompt ids, generated ids)
        self.computed = 0

    def generate(self, prompts, **kwargs):
        outs, costs = self.policy.generate(prompts, **kwargs)
        eos = self.policy.tokenizer.eos_token_id
        for prompt, comps in zip(prompts, outs):
            head = self.policy.encode(prompt)
            for c in comps:
                ids = self.policy.encode(prompt + c.text + (c.stop_string or ""))[len(head):]
                ids += [eos] if c.finish == "stop" and c.stop_string is None else []
                self.samples.append((tuple(head), tuple(ids)))
        self.computed += sum(c.prompt_tokens + c.generated_tokens for c in costs)
        return outs, costs

    def tree_tokens(self) -> int:
        """Distinct prompt-prefix tokens, plus each sample's generated tokens except those a
        later prompt re-sent (the first sample on that path is what the prompt extended)."""
        trie = {tuple(p[:i]) for p, _ in self.samples for i in range(1, len(p) + 1)}
        claimed: set[tuple[int, ...]] = set()
        extra = 0
        for prompt, gen in self.samples:
            k = 0
            while k < len(gen) and prompt + gen[:k + 1] in trie:
                k += 1
            path = prompt + gen[:k]
            if k and path not in claimed:
                claimed.add(path)
                extra += len(gen) - k
            else:
                extra += len(gen)
        return len(trie) + extra


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--problems", type=int, default=50)
    ap.add_argument("--budgets", default="4,16")
    args = ap.parse_args()
    load_plugins()
    path = resolve_checkpoint("testbed")
    task = AdditionTask(digits=4)
    problems = task.problems("test", args.problems, 0)
    sampling = Sampling(temperature=1.0, max_tokens=64)
    for budget in [int(b) for b in args.budgets.split(",")]:
        walls = {}
        for method, cache_mb in (("beam", 256), ("beam", 0), ("mcts", 256), ("mcts", 0)):
            rec = Recorder(HFPolicy(path, HFConfig(prefix_cache_mb=cache_mb)))
            ctx = SolveContext(rec, task, 0, sampling, verifier=OracleVerifier(task),
                               config=METHODS.config(method)())
            t0 = time.perf_counter()
            attempts = METHODS.get(method).solve(ctx, problems, budget)
            walls[method, cache_mb] = time.perf_counter() - t0
            acc = sum(task.check(a.answer, p).correct for a, p in zip(attempts, problems)) / len(problems)
            print(f"{method}@{budget:<3} prefix cache {'on ' if cache_mb else 'off'}: recompute ratio "
                  f"{rec.computed / rec.tree_tokens():.2f} ({rec.computed} computed / {rec.tree_tokens()} "
                  f"tree tokens), wall {walls[method, cache_mb]:.1f} s, accuracy {acc:.3f}")
        ctx = SolveContext(HFPolicy(path), task, 0, sampling, SamplePool(budget, 0, sampling),
                           verifier=OracleVerifier(task))
        t0 = time.perf_counter()
        METHODS.get("best_of_n").solve(ctx, problems, budget)
        bon = time.perf_counter() - t0
        print(f"best_of_n@{budget}: wall {bon:.1f} s; beam/BoN wall-time ratio {walls['beam', 256] / bon:.2f} "
              f"(cache on), {walls['beam', 0] / bon:.2f} (cache off)")


if __name__ == "__main__":
    main()
