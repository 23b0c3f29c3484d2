"""torch threads on a busy machine: 1 vs 2 threads, alone and beside a CPU-bound process.

    python benchmarks/threads.py [--steps 10] [--prompts 16] [--tokens 32] [--rounds 2] [--smoke]

Two workloads on the testbed's architecture: training steps/s (batch 64, as `bootstrap`
trains) and greedy decoding tokens/s through the `hf` backend (an untrained model of the
same shape, so every row decodes `--tokens` tokens). Each is timed at 1 and 2 threads,
alone and while one `while True: pass` process runs; runs alternate between thread counts
(`--rounds` times, best kept). Prints the rates, the ratios 1-thread / 2-thread for each
condition, and the load average before each measurement: on a machine others use, "alone"
is only as alone as the load says.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from baselines.train.testbed import TestbedConfig, _batch, build_model, build_tokenizer
from harness.threads import busy_cores, default_threads
from tasks.math.addition import AdditionTask, prompt_text


def train_rate(cfg: TestbedConfig, steps: int) -> float:
    """Training steps/s of the testbed (one warm-up step off the clock)."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    tokenizer = build_tokenizer()
    model = build_model(cfg, len(tokenizer))
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr)
    task = AdditionTask(digits=cfg.digits)
    batches = [_batch(tokenizer, cfg, task, rng) for _ in range(steps + 1)]
    t0 = 0.0
    for i, (ids, lab, mask) in enumerate(batches):
        if i == 1:
            t0 = time.perf_counter()
        model(input_ids=ids, attention_mask=mask, labels=lab).loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    return steps / (time.perf_counter() - t0)


def decode_rate(path: Path, prompts: list[str], tokens: int) -> float:
    """Generated tokens/s of the hf backend, greedy (one warm-up call off the clock)."""
    from harness.backends.hf import HFPolicy

    policy = HFPolicy(path)
    policy.generate(prompts[:2], temperature=0.0, max_tokens=2)
    t0 = time.perf_counter()
    _, costs = policy.generate(prompts, temperature=0.0, max_tokens=tokens)
    return sum(c.generated_tokens for c in costs) / (time.perf_counter() - t0)


def competitor() -> subprocess.Popen:
    """One CPU-bound process (what another user's job looks like to us)."""
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=10, help="timed training steps per measurement")
    ap.add_argument("--prompts", type=int, default=16, help="prompts decoded together")
    ap.add_argument("--tokens", type=int, default=32, help="tokens decoded per prompt")
    ap.add_argument("--rounds", type=int, default=2, help="alternations of 1 and 2 threads (best kept)")
    ap.add_argument("--smoke", action="store_true", help="a few seconds: a 1-layer model, 1 step, 4 tokens")
    args = ap.parse_args(argv)
    cfg = TestbedConfig()
    if args.smoke:
        cfg = replace(cfg, hidden=32, layers=1, heads=2, batch=8)
        args.steps, args.prompts, args.tokens, args.rounds = 1, 2, 4, 1
    os.environ.pop("THINKBENCH_THREADS", None)  # the benchmark sets the count itself
    task = AdditionTask(digits=cfg.digits)
    prompts = [prompt_text(*task.sample_operands("test", np.random.default_rng(i))) for i in range(args.prompts)]
    print(f"{os.cpu_count()} cores; load average {busy_cores():.1f} at the start; the default now would be "
          f"{default_threads()} thread(s)")
    with tempfile.TemporaryDirectory(prefix="threads-") as tmp:
        from harness.backends.hf import configure_torch

        configure_torch(1)  # denormals flushed as in real use; the count is set per measurement below
        tokenizer = build_tokenizer()
        build_model(cfg, len(tokenizer)).save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        rates: dict[tuple[str, str, int], float] = {}
        for condition in ("alone", "beside 1 busy process"):
            busy = competitor() if condition != "alone" else None
            try:
                time.sleep(0.5 if busy else 0)
                for _ in range(args.rounds):
                    for threads in (1, 2):
                        torch.set_num_threads(threads)
                        load = busy_cores()
                        for work, fn in (("train steps/s", lambda: train_rate(cfg, args.steps)),
                                         ("decode tokens/s", lambda: decode_rate(Path(tmp), prompts, args.tokens))):
                            r = fn()
                            key = (condition, work, threads)
                            rates[key] = max(rates.get(key, 0.0), r)
                            print(f"  {condition:<22} {work:<16} {threads} thread(s): {r:9.2f} (load {load:.1f})")
            finally:
                if busy:
                    busy.kill()
                    busy.wait()
    print("ratio 1 thread / 2 threads (best of each; > 1 means 1 thread is faster):")
    for condition in ("alone", "beside 1 busy process"):
        for work in ("train steps/s", "decode tokens/s"):
            one, two = rates[condition, work, 1], rates[condition, work, 2]
            print(f"  {condition:<22} {work:<16} {one / two:6.2f}x  ({one:.2f} vs {two:.2f})")


if __name__ == "__main__":
    main()
