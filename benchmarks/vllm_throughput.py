"""Decoding throughput of the `vllm` backend against raw vLLM `LLM.generate`, same work.

One engine serves both sides (no second copy of the model in memory): thinkbench's
`VLLMPolicy.generate(prompts, n=...)` (tokenizing, seeding, one request per sample, Completion
and Cost conversion) against `policy.llm.generate` called directly with the same token ids and
`SamplingParams(n=..., seed=..., logprobs=...)`, vLLM's own n-sample fan-out, asking for the
sampled tokens' log-probs exactly when the backend does (`logprobs`, on by default). Two workloads: greedy (one
completion per prompt) and sampling (n per prompt at temperature 1). The prefix cache is reset
before every timed run so neither side inherits the other's prompts; runs alternate and the
best of `--repeats` is kept. Prints generated tokens/s of each side and their ratio (goal: the
backend keeps >= 90 % of raw vLLM's throughput), all measured in this run.

    VLLM_CPU_KVCACHE_SPACE=1 python benchmarks/vllm_throughput.py CHECKPOINT [--chat-template] [--smoke]
"""
from __future__ import annotations

import argparse
import json
import random
import time


def problems(count: int, seed: int = 0) -> list[str]:
    """Four-digit additions in the testbed's prompt format (any checkpoint can continue them)."""
    rng = random.Random(seed)
    return [f"{rng.randint(1000, 9999)}+{rng.randint(1000, 9999)}\n" for _ in range(count)]


def timed(fn) -> tuple[float, int]:
    """(seconds, generated tokens) of one run."""
    t0 = time.perf_counter()
    tokens = fn()
    return time.perf_counter() - t0, tokens


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint")
    parser.add_argument("--prompts", type=int, default=32)
    parser.add_argument("--n", type=int, default=8, help="samples per prompt in the sampling workload")
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--chat-template", action="store_true", help="wrap prompts as user turns")
    parser.add_argument("--enforce-eager", action="store_true")
    parser.add_argument("--no-logprobs", action="store_true",
                        help="the backend's `logprobs: false` (both sides then skip log-probs)")
    parser.add_argument("--smoke", action="store_true", help="seconds past the engine start: 4 prompts, n=2, "
                                                             "8 tokens, 1 repeat")
    args = parser.parse_args(argv)
    if args.smoke:
        args.prompts, args.n, args.max_tokens, args.repeats = 4, 2, 8, 1

    from vllm import SamplingParams
    from vllm.inputs import TokensPrompt

    from harness.backends.vllm import VLLMConfig, VLLMPolicy

    policy = VLLMPolicy(args.checkpoint, VLLMConfig(chat_template=args.chat_template,
                                                    enforce_eager=args.enforce_eager,
                                                    logprobs=not args.no_logprobs))
    texts = problems(args.prompts)
    ids = [policy.encode(t) for t in texts]  # raw vLLM gets exactly the token ids the backend sends

    def ours(n: int, temperature: float) -> int:
        outs, _ = policy.generate(texts, n=n, temperature=temperature, max_tokens=args.max_tokens, seed=0)
        return sum(c.tokens for comps in outs for c in comps)

    def raw(n: int, temperature: float) -> int:
        # Same settings as the backend's requests: its log-probs (Completion.logprob) included.
        params = SamplingParams(n=n, temperature=temperature, max_tokens=args.max_tokens, seed=0,
                                logprobs=0 if policy.cfg.logprobs else None, stop_token_ids=sorted(policy.eos_ids - {policy.tokenizer.eos_token_id}))
        outs = policy.llm.generate([TokensPrompt(prompt_token_ids=i) for i in ids], params, use_tqdm=False)
        return sum(len(o.token_ids) for out in outs for o in out.outputs)

    results = {}
    for name, n, temperature in (("greedy", 1, 0.0), (f"sample n={args.n}", args.n, 1.0)):
        ours(n, temperature)  # warm-up (first shapes, allocator)
        best = {"thinkbench": 0.0, "raw vLLM": 0.0}
        for _ in range(args.repeats):
            for side, fn in (("raw vLLM", raw), ("thinkbench", ours)):
                policy.reset_cache()
                seconds, tokens = timed(lambda: fn(n, temperature))
                best[side] = max(best[side], tokens / seconds)
        ratio = best["thinkbench"] / best["raw vLLM"]
        results[name] = {**{k: round(v, 1) for k, v in best.items()}, "ratio": round(ratio, 3)}
        print(f"{name:>14}: thinkbench {best['thinkbench']:8.1f} tok/s   raw vLLM {best['raw vLLM']:8.1f} tok/s"
              f"   ratio {ratio:.1%}", flush=True)
    print(json.dumps({"checkpoint": args.checkpoint, "logprobs": policy.cfg.logprobs, "prompts": args.prompts, "max_tokens": args.max_tokens,
                      "device": policy.device, "dtype": policy.dtype, "results": results}))


if __name__ == "__main__":  # vLLM's engine runs in a child process (spawned): guard the entry point
    main()
