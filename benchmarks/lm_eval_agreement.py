"""Greedy decoding through thinkbench's `hf` backend and through lm-eval's `hf` model (HFLM),
on the same prompts, compared problem for problem. Exit code 1 on any disagreement.

    python benchmarks/lm_eval_agreement.py                        # SmolLM2-135M-Instruct, 100 GSM8K rows
    python benchmarks/lm_eval_agreement.py --checkpoint testbed --no-chat-template \\
        --task addition --param digits=4 --n 20 --max-tokens 64 --stop ""

Needs `pip install -e '.[lmeval]'` (and, for the default checkpoint, `thinkbench get-model
smollm2-135m-instruct`). Both sides get the same things, set the way lm-eval sets them:

- prompt: the task's prompt text; with `--chat-template` one user turn, rendered on the lm-eval
  side by `HFLM.apply_chat_template` (add_generation_prompt) and tokenized by HFLM's
  `tok_batch_encode` (no special tokens added when the text starts with the BOS token, as a
  chat template's does; otherwise the tokenizer's default), on ours by `HFPolicy.encode`;
- decoding: greedy (lm-eval: `do_sample=False` through `model.generate`), `max_gen_toks` =
  `--max-tokens`, `until` = `--stop` (lm-eval adds the EOS token's text; both stop at EOS);
- model: the same directory, float32, eager attention, on the same device.

Agreement is on the answer the task extracts from each completion (what an evaluation scores);
identical completion texts are counted too. A disagreement prints both answers and where the
texts part.
"""
from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

from harness.backends.hf import HFConfig, HFPolicy, configure_torch
from harness.checkpoint import resolve_checkpoint
from harness.contracts import Problem, plain_text
from harness.matrix import build_task
from harness.registry import load_plugins


def lm_eval_greedy(path: str, prompts: Sequence[str | list[dict]], *, chat_template: bool, max_tokens: int,
                   stop: list[str], batch_size: int, device: str) -> list[str]:
    """Greedy completions from lm-eval's HFLM, through its own `generate_until`."""
    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM

    lm = HFLM(pretrained=path, device=device, dtype="float32", batch_size=batch_size,
              attn_implementation="eager")
    contexts = []
    for prompt in prompts:
        if chat_template:
            messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else list(prompt)
            contexts.append(lm.apply_chat_template(messages, add_generation_prompt=True))
        else:
            contexts.append(plain_text(prompt))
    gen_kwargs = {"until": list(stop), "max_gen_toks": max_tokens, "do_sample": False, "temperature": 0.0}
    requests = [Instance(request_type="generate_until", doc={}, arguments=(c, dict(gen_kwargs)), idx=i)
                for i, c in enumerate(contexts)]
    return lm.generate_until(requests, disable_tqdm=True)


def thinkbench_greedy(path: str, prompts: Sequence[str | list[dict]], *, chat_template: bool, max_tokens: int,
                      stop: list[str], batch_size: int, device: str) -> list[str]:
    """Greedy completions from thinkbench's `hf` backend (what the `greedy` method calls)."""
    policy = HFPolicy(path, HFConfig(chat_template=chat_template, dtype="float32", attention="eager",
                                     batch_size=batch_size, device=device))
    outs, _ = policy.generate(list(prompts), n=1, temperature=0.0, max_tokens=max_tokens, stop=stop, seed=0)
    return [comps[0].text for comps in outs]


def parted(a: str, b: str) -> int:
    """Index of the first character where two texts differ."""
    return next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))


def compare(task, problems: Sequence[Problem], ours: list[str], theirs: list[str]) -> int:
    """Print the comparison; the number of problems whose extracted answers differ."""
    ours_ans = [task.extract(t) for t in ours]
    theirs_ans = [task.extract(t) for t in theirs]
    ours_ok = task.check_many(ours_ans, list(problems))
    theirs_ok = task.check_many(theirs_ans, list(problems))
    disagree = 0
    for p, a, b, ta, tb in zip(problems, ours_ans, theirs_ans, ours, theirs):
        if a != b:
            disagree += 1
            at = parted(ta, tb)
            print(f"  DISAGREE {p.id}: thinkbench {a!r} vs lm-eval {b!r}; texts part at char {at}: "
                  f"{ta[at:at + 40]!r} vs {tb[at:at + 40]!r}")
    n = len(problems)
    same_text = sum(a == b for a, b in zip(ours, theirs))
    print(f"answers agree on {n - disagree}/{n} problems; completion texts identical on {same_text}/{n}")
    print(f"accuracy: thinkbench {sum(v.correct for v in ours_ok) / n:.3f}, "
          f"lm-eval {sum(v.correct for v in theirs_ok) / n:.3f}")
    return disagree


def parse_param(text: str) -> tuple[str, object]:
    """`key=value`, the value read as YAML (so `digits=4` is an int)."""
    import yaml

    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected key=value, got {text!r}")
    return key, yaml.safe_load(value)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", default="smollm2-135m-instruct",
                    help="a directory or a thinkbench alias (testbed, smollm2-135m-instruct)")
    ap.add_argument("--chat-template", action=argparse.BooleanOptionalAction, default=True,
                    help="wrap each prompt in the tokenizer's chat template (default: on)")
    ap.add_argument("--task", default="gsm8k")
    ap.add_argument("--param", action="append", type=parse_param, default=[],
                    help="a task parameter, key=value (repeatable); default for gsm8k: data=builtin:gsm8k-test-100")
    ap.add_argument("--split", default="test")
    ap.add_argument("--n", type=int, default=100, help="problems")
    ap.add_argument("--max-tokens", type=int, default=256)
    ap.add_argument("--stop", action="append", default=None,
                    help="a stop string (repeatable; default 'Question:', lm-eval's gsm8k; '' for none)")
    ap.add_argument("--batch-size", type=int, default=16, help="lm-eval's batch size (ours batches all)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--smoke", action="store_true",
                    help="a few seconds: 2 addition problems, 8 tokens, no chat template (give --checkpoint)")
    args = ap.parse_args(argv)
    if args.smoke:
        args.task, args.n, args.max_tokens, args.chat_template, args.batch_size = "addition", 2, 8, False, 2

    load_plugins()
    configure_torch(args.threads)
    params = dict(args.param) or ({"data": "builtin:gsm8k-test-100"} if args.task == "gsm8k" else {})
    task = build_task(args.task, params)
    problems = task.problems(args.split, args.n, 0)
    prompts = [task.prompt(p) for p in problems]
    stop = [s for s in (args.stop if args.stop is not None else ["Question:"]) if s]
    path = resolve_checkpoint(args.checkpoint)
    settings = {"chat_template": args.chat_template, "max_tokens": args.max_tokens, "stop": stop,
                "device": args.device}
    print(f"{args.checkpoint} ({path}) on {len(problems)} {args.task} problems: greedy, max {args.max_tokens} "
          f"tokens, stop {stop}, chat template {'on' if args.chat_template else 'off'}, {args.device}")

    t0 = time.perf_counter()
    ours = thinkbench_greedy(path, prompts, batch_size=256, **settings)
    t1 = time.perf_counter()
    theirs = lm_eval_greedy(path, prompts, batch_size=args.batch_size, **settings)
    t2 = time.perf_counter()
    print(f"wall: thinkbench {t1 - t0:.0f} s, lm-eval {t2 - t1:.0f} s")
    return 1 if compare(task, problems, ours, theirs) else 0


if __name__ == "__main__":
    sys.exit(main())
