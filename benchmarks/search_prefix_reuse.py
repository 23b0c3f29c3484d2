"""Prefix reuse in tree search (beam, MCTS), and beam vs best-of-N wall time, on the testbed.

    python benchmarks/search_prefix_reuse.py [--problems 50] [--budgets 4,16] [--methods beam,mcts]
    python benchmarks/search_prefix_reuse.py --smoke            # seconds: the script itself

Two recompute ratios per run, both over the tokens in the search tree:
- fed: token positions the model was actually fed (a forward pre-hook on the model counts every
  non-padding input position, prefill and decode), with the hf backend's prefix cache on and off;
  `padded` counts the padding positions fed beside them;
- ledger: the cost ledger's prompt + generated tokens, what a prefix-caching server would compute.
  It is the same with the cache on and off by design (a cell's cost is its own, never the
  backend's cache budget).
The tree: every distinct prompt prefix once (a trie of token ids) plus every generated token of
every sample (each sample its own branch: two samples that happen to agree were still both
generated), less what a later prompt re-sent. Wall times: the method with the cache on and off,
and the pooled best-of-N at the same budget, all scored by the oracle verifier and timed with
the same (negligible) bookkeeping: every run's policy is wrapped alike, and the tree is built
from the recorded calls after the clock stops. Process CPU seconds are printed beside wall
seconds: on a shared machine they are the steadier measure (run with THINKBENCH_THREADS=1 to
make them comparable to an idle machine's wall time).
"""
from __future__ import annotations

import argparse
import time

from baselines.verifiers.oracle import OracleVerifier
from harness.backends.hf import HFConfig, HFPolicy
from harness.checkpoint import resolve_checkpoint
from harness.contracts import Sampling, plain_text
from harness.methods import SamplePool, SolveContext
from harness.registry import METHODS, load_plugins
from tasks.math.addition import AdditionTask


class Recorder:
    """Wraps a policy: keeps every call's prompts and completions (references only), sums the
    ledger's costs, and counts what the model is fed with a forward pre-hook."""

    def __init__(self, policy: HFPolicy) -> None:
        self.policy, self.params = policy, policy.params
        self.calls: list[tuple[list, list]] = []
        self.ledger = 0
        self.fed = 0      # non-padding input positions the model computed
        self.padded = 0   # padding positions fed beside them
        policy.model.register_forward_pre_hook(self._count, with_kwargs=True)

    def _count(self, _module, _args, kwargs) -> None:
        ids, mask = kwargs["input_ids"], kwargs["attention_mask"]
        real = int(mask[:, -ids.shape[1]:].sum())
        self.fed += real
        self.padded += ids.numel() - real

    def __getattr__(self, name: str):  # settings(), reset_cache(), encode() ...
        return getattr(self.policy, name)

    def generate(self, prompts, **kwargs):
        outs, costs = self.policy.generate(prompts, **kwargs)
        self.calls.append((list(prompts), outs))
        self.ledger += sum(c.prompt_tokens + c.generated_tokens for c in costs)
        return outs, costs

    def tree_tokens(self) -> int:
        """Distinct prompt-prefix tokens, plus each sample's generated tokens except those a
        later prompt re-sent (the first sample on that path is what the prompt extended).
        Built after timing: plain-text prompts (the testbed has no chat template)."""
        encode, eos = self.policy.encode, self.policy.tokenizer.eos_token_id
        samples = []
        for prompts, outs in self.calls:
            for prompt, comps in zip(prompts, outs):
                text = plain_text(prompt)
                head = encode(text)
                for c in comps:
                    ids = encode(text + c.text + (c.stop_string or ""))[len(head):]
                    ids += [eos] if c.finish == "stop" and c.stop_string is None else []
                    samples.append((tuple(head), tuple(ids)))
        trie = {p[:i] for p, _ in samples for i in range(1, len(p) + 1)}
        claimed: set[tuple[int, ...]] = set()
        extra = 0
        for prompt, gen in samples:
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


def timed(path: str, cache_mb: int, method: str, task, problems, budget: int, sampling: Sampling
          ) -> tuple[float, float, Recorder, float]:
    """(wall seconds, process CPU seconds, recorder, accuracy) of one method on a fresh policy."""
    rec = Recorder(HFPolicy(path, HFConfig(prefix_cache_mb=cache_mb)))
    pool = SamplePool(budget, 0, sampling) if METHODS.get(method).pooled else None
    ctx = SolveContext(rec, task, 0, sampling, pool, verifier=OracleVerifier(task), config=METHODS.config(method)())
    rec.generate(["1+1\n"], temperature=0.0, max_tokens=2)  # warm-up, then forget it
    rec.reset_cache()
    rec.calls.clear()
    rec.ledger = rec.fed = rec.padded = 0
    t0, c0 = time.perf_counter(), time.process_time()
    attempts = METHODS.get(method).solve(ctx, problems, budget)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    acc = sum(task.check(a.answer, p).correct for a, p in zip(attempts, problems)) / len(problems)
    return wall, cpu, rec, acc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--checkpoint", default="testbed", help="a plain (no chat template) checkpoint")
    ap.add_argument("--problems", type=int, default=50)
    ap.add_argument("--budgets", default="4,16")
    ap.add_argument("--methods", default="beam,mcts", help="tree searches to compare with best_of_n")
    ap.add_argument("--rounds", type=int, default=1, help="interleaved timing rounds (best wall kept)")
    ap.add_argument("--smoke", action="store_true", help="a seconds-long run of the script itself")
    args = ap.parse_args()
    if args.smoke:
        args.problems, args.budgets, args.methods, args.rounds = 3, "4", "beam", 1
    load_plugins()
    path = resolve_checkpoint(args.checkpoint)
    task = AdditionTask(digits=4)
    problems = task.problems("test", args.problems, 0)
    sampling = Sampling(temperature=1.0, max_tokens=64)
    methods = args.methods.split(",")
    for budget in [int(b) for b in args.budgets.split(",")]:
        runs = [(m, mb) for m in methods for mb in (256, 0)] + [("best_of_n", 256)]
        walls: dict[tuple[str, int], float] = {}
        cpus: dict[tuple[str, int], float] = {}
        for rnd in range(args.rounds):
            for method, cache_mb in runs if rnd % 2 == 0 else runs[::-1]:  # A B C, then C B A
                wall, cpu, rec, acc = timed(path, cache_mb, method, task, problems, budget, sampling)
                walls[method, cache_mb] = min(walls.get((method, cache_mb), wall), wall)
                cpus[method, cache_mb] = min(cpus.get((method, cache_mb), cpu), cpu)
                tree = rec.tree_tokens()
                print(f"{method}@{budget:<3} prefix cache {'on ' if cache_mb else 'off'}: fed {rec.fed / tree:.2f} "
                      f"of the tree ({rec.fed} fed + {rec.padded} padding / {tree} tree tokens), ledger "
                      f"{rec.ledger / tree:.2f} ({rec.ledger}), wall {wall:.2f} s, CPU {cpu:.2f} s, accuracy {acc:.3f}", flush=True)
        for name, times in (("wall", walls), ("CPU", cpus)):
            bon = times["best_of_n", 256]
            for method in methods:
                on, off = times[method, 256], times[method, 0]
                print(f"{method}@{budget}: {method}/best_of_n {name} {on / bon:.2f} (cache on), {off / bon:.2f} "
                      f"(cache off); cache on/off {on / off:.2f}  (best of {args.rounds})", flush=True)


if __name__ == "__main__":
    main()
