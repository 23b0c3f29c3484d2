"""Throughput of `thinkbench serve` at concurrency 1 and 8, same work, over loopback HTTP.

The server runs as its own process (`python -m harness.cli serve CHECKPOINT --port 0`), as a
user would start it; the client sends one `/v1/completions` request per prompt (greedy,
`max_tokens` as the quickstart's 64), from 1 thread and then from 8 threads with one kept-alive
connection each. Prompts: the addition task's test problems (the testbed's own domain).
Prints requests/s and generated tokens/s (from each response's `usage`) per concurrency, the
8-vs-1 ratio, and whether the greedy texts agree between the two (batching must not change them).

    python benchmarks/serve_throughput.py                                  # the testbed
    python benchmarks/serve_throughput.py --checkpoint testbed/step-600 --requests 32
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor


def start_server(checkpoint: str, threads: int) -> tuple[subprocess.Popen, int]:
    """`thinkbench serve` in a child process on a free port; returns it and its port."""
    proc = subprocess.Popen([sys.executable, "-m", "harness.cli", "serve", checkpoint, "--port", "0",
                             "--threads", str(threads), "--served-model-name", "bench"],
                            stderr=subprocess.PIPE, text=True, env=os.environ | {"PYTHONUNBUFFERED": "1"})
    assert proc.stderr is not None
    for line in proc.stderr:
        found = re.search(r"on http://127\.0\.0\.1:(\d+)/v1", line)
        if found:
            threading.Thread(target=proc.stderr.read, daemon=True).start()  # keep draining its log
            return proc, int(found.group(1))
    raise SystemExit(f"the server did not start (exit code {proc.wait()})")


def run(port: int, prompts: list[str], concurrency: int, max_tokens: int) -> tuple[float, int, list[str]]:
    """(wall seconds, generated tokens, texts) for every prompt sent by `concurrency` threads."""
    local = threading.local()

    def one(prompt: str) -> tuple[int, str]:
        if not hasattr(local, "conn"):
            local.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        body = json.dumps({"model": "bench", "prompt": prompt, "max_tokens": max_tokens, "temperature": 0.0})
        local.conn.request("POST", "/v1/completions", body=body, headers={"Content-Type": "application/json"})
        response = local.conn.getresponse()
        answer = json.loads(response.read())
        if response.status != 200:
            raise SystemExit(f"HTTP {response.status}: {answer}")
        return answer["usage"]["completion_tokens"], answer["choices"][0]["text"]

    t0 = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        done = list(pool.map(one, prompts))
    return time.perf_counter() - t0, sum(t for t, _ in done), [text for _, text in done]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", default="testbed")
    ap.add_argument("--requests", type=int, default=64, help="prompts per concurrency level")
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1, help="the server's torch threads")
    ap.add_argument("--smoke", action="store_true", help="a few seconds: 4 requests of 8 tokens")
    args = ap.parse_args(argv)
    if args.smoke:
        args.requests, args.max_tokens = 4, 8

    from harness.matrix import build_task
    from harness.registry import load_plugins

    load_plugins()
    task = build_task("addition", {"digits": 4})
    prompts = [task.prompt(p) for p in task.problems("test", args.requests, 0)]
    proc, port = start_server(args.checkpoint, args.threads)
    try:
        run(port, prompts[:4], 4, args.max_tokens)  # warm-up: first-call allocations off the clock
        results = {}
        for concurrency in (1, 8):
            wall, tokens, texts = run(port, prompts, concurrency, args.max_tokens)
            results[concurrency] = (wall, tokens, texts)
            print(f"concurrency {concurrency}: {len(prompts)} requests in {wall:.2f} s = "
                  f"{len(prompts) / wall:.2f} requests/s, {tokens / wall:.1f} generated tokens/s ({tokens} tokens)")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    (w1, t1, x1), (w8, t8, x8) = results[1], results[8]
    print(f"ratio 8 vs 1: {w1 / w8:.2f}x requests/s, {(t8 / w8) / (t1 / w1):.2f}x tokens/s; "
          f"greedy texts identical at both: {x1 == x8}")
    # The ceiling: the same prompts as one in-process generate call (no HTTP, one batch).
    from harness.backends.hf import HFConfig, HFPolicy
    from harness.checkpoint import resolve_checkpoint

    policy = HFPolicy(resolve_checkpoint(args.checkpoint), HFConfig(threads=args.threads))
    policy.generate(prompts[:4], temperature=0.0, max_tokens=args.max_tokens)
    t0 = time.perf_counter()
    outs, costs = policy.generate(prompts, temperature=0.0, max_tokens=args.max_tokens)
    wall, tokens = time.perf_counter() - t0, sum(c.generated_tokens for c in costs)
    print(f"hf backend in-process, one batch of {len(prompts)}: {tokens / wall:.1f} generated tokens/s; "
          f"serve at concurrency 8 reaches {(t8 / w8) / (tokens / wall):.0%} of it; "
          f"same texts: {[o[0].text for o in outs] == x8}")


if __name__ == "__main__":
    main()
