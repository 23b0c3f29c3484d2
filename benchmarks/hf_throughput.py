"""Decoding throughput of the `hf` backend against raw transformers `generate`, same work.

Every attention implementation `attention: auto` can pick (eager, sdpa) runs under the dtype
`dtype: auto` resolves to on this device, both as raw `model.generate` and as thinkbench's
backend; thinkbench's default (`auto`/`auto`) is one of those rows. Two workloads: greedy, and
n samples per prompt at temperature 1. No EOS: every row decodes all `--tokens` (as
`min_new_tokens` makes `generate` do), so both sides do the same work. Configurations are timed
interleaved (A B A B ...) for `--rounds` rounds, each keeping its best, so a busy shared CPU
slows all of them alike (a configuration over 3x slower than the best in round 1 is timed only
once). Prints generated tokens/s per configuration, which attention was
fastest (what AUTO_ATTENTION in harness/backends/hf.py should say for this device and dtype),
and thinkbench's default as a share of the best raw configuration.

    python benchmarks/hf_throughput.py                                 # SmolLM2-135M, 16 GSM8K prompts (CPU)
    python benchmarks/hf_throughput.py --model random-1b               # GPU: issue 8's random 1 B Llama
    python benchmarks/hf_throughput.py --smoke                         # seconds: the script itself
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

SIZES = {  # hidden, intermediate, layers, heads, vocab
    "random-1b": (2048, 5632, 16, 32, 32000),
    "random-tiny": (64, 172, 2, 4, 1000),
}
ATTENTIONS = ("eager", "sdpa")  # what `attention: auto` can pick (see AUTO_ATTENTION)


def build(path: Path, size: str) -> None:
    """A random-init Llama saved in bfloat16, with a word-level tokenizer (`t0` ... `tN`)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    hidden, inter, layers, heads, vocab = SIZES[size]
    torch.manual_seed(0)
    config = LlamaConfig(hidden_size=hidden, intermediate_size=inter, num_hidden_layers=layers,
                         num_attention_heads=heads, num_key_value_heads=heads, vocab_size=vocab,
                         max_position_embeddings=1024, bos_token_id=1, eos_token_id=None, pad_token_id=0)
    model = LlamaForCausalLM(config).to(torch.bfloat16)
    model.generation_config.eos_token_id = None
    model.save_pretrained(path)
    words = {"<pad>": 0, "<bos>": 1, **{f"t{i}": i for i in range(2, vocab)}}
    tok = Tokenizer(models.WordLevel(words, unk_token="<pad>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", bos_token="<bos>").save_pretrained(path)


def random_prompts(n: int, vocab: int) -> list[str]:
    """Word prompts of varied lengths (16 to 80 tokens), as real prompts vary."""
    g = torch.Generator().manual_seed(1)
    lengths = torch.randint(16, 81, (n,), generator=g).tolist()
    return [" ".join(f"t{i}" for i in torch.randint(2, vocab, (k,), generator=g).tolist()) for k in lengths]


def gsm8k_prompts(n: int) -> list[str]:
    """The first n of the 100 shipped GSM8K test rows, in the task's own prompt."""
    from tasks.math.gsm8k import GSM8KTask

    task = GSM8KTask(data="builtin:gsm8k-test-100")
    return [p.prompt for p in task.problems("test", n, 0)]


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


@dataclass
class Runner:
    """One configuration, loaded once and timed once per round."""

    label: str
    attention: str
    run: object                     # (texts, n, temperature, tokens) -> generated tokens
    best: dict[str, float] = field(default_factory=dict)  # workload -> best tokens/s


def raw_runner(path: str, dtype: torch.dtype, attention: str, device: str, chat: bool) -> Runner:
    """`model.generate` on left-padded rows (each prompt repeated n times), no EOS."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path)
    tok.padding_side = "left"
    pad = tok.pad_token_id if tok.pad_token_id is not None else 0
    model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, attn_implementation=attention).to(device).eval()

    def render(text: str) -> str:
        if not chat:
            return text
        return tok.apply_chat_template([{"role": "user", "content": text}], tokenize=False, add_generation_prompt=True)

    def run(texts: list[str], n: int, temperature: float, tokens: int) -> int:
        rows = [render(t) for t in texts for _ in range(n)]
        batch = tok(rows, return_tensors="pt", padding=True, add_special_tokens=not chat).to(device)
        sampling = {"do_sample": True, "temperature": temperature, "top_p": 1.0, "top_k": 0} if temperature > 0 \
            else {"do_sample": False}
        with torch.inference_mode():
            out = model.generate(**batch, **sampling, max_new_tokens=tokens, min_new_tokens=tokens,
                                 pad_token_id=pad, eos_token_id=None)
        return (out.shape[1] - batch["input_ids"].shape[1]) * out.shape[0]

    return Runner(f"transformers generate {attention}", attention, run)


def thinkbench_runner(path: str, attention: str, device: str, chat: bool) -> Runner:
    """The hf backend with `dtype: auto` and the given attention (`auto`: its default)."""
    from harness.backends.hf import HFConfig, HFPolicy

    policy = HFPolicy(path, HFConfig(device=device, attention=attention, chat_template=chat))
    policy.eos_ids = set()  # no EOS: every row decodes `tokens`, as min_new_tokens does for generate

    def run(texts: list[str], n: int, temperature: float, tokens: int) -> int:
        policy.reset_cache()  # each timing starts cold, as a cell does
        outs, _ = policy.generate(texts, n=n, temperature=temperature, max_tokens=tokens, seed=0)
        return sum(c.tokens for x in outs for c in x)

    resolved = policy.settings()["attention"]
    label = f"thinkbench default (auto -> {resolved})" if attention == "auto" else f"thinkbench {attention}"
    return Runner(label, resolved, run)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--model", default="smollm2-135m-instruct",
                    help="a checkpoint (thinkbench name, directory or hub id) or random-1b / random-tiny")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--prompts", type=int, default=16)
    ap.add_argument("--samples", type=int, default=8, help="n of the sampling workload")
    ap.add_argument("--sample-prompts", type=int, default=None, help="prompts of the sampling workload (default: --prompts)")
    ap.add_argument("--tokens", type=int, default=128, help="new tokens per row")
    ap.add_argument("--rounds", type=int, default=2, help="interleaved timing rounds (best kept)")
    ap.add_argument("--smoke", action="store_true", help="a seconds-long run of the script itself (random-tiny)")
    ap.add_argument("--json", type=Path, help="also write the table here")
    args = ap.parse_args()
    if args.smoke:
        args.model, args.prompts, args.samples, args.tokens, args.rounds = "random-tiny", 4, 2, 8, 1
    with tempfile.TemporaryDirectory() as tmp:
        if args.model in SIZES:
            path, chat = Path(tmp), False
            build(path, args.model)
            texts = random_prompts(args.prompts, SIZES[args.model][4])
        else:
            from harness.checkpoint import resolve_checkpoint
            from transformers import AutoTokenizer

            path = resolve_checkpoint(args.model)
            chat = getattr(AutoTokenizer.from_pretrained(path), "chat_template", None) is not None
            texts = gsm8k_prompts(args.prompts)
        measure(args, str(path), chat, texts)


def measure(args: argparse.Namespace, path: str, chat: bool, texts: list[str]) -> None:
    from transformers import AutoConfig

    from harness.backends.hf import resolve_dtype

    device = args.device
    dtype = resolve_dtype("auto", device, getattr(AutoConfig.from_pretrained(path), "dtype", None))
    runners = [thinkbench_runner(path, "auto", device, chat)]  # builds a policy: torch configured for all
    runners += [raw_runner(path, dtype, a, device, chat) for a in ATTENTIONS]
    runners += [thinkbench_runner(path, a, device, chat) for a in ATTENTIONS if a != runners[0].attention]
    workloads = {"greedy": (texts, 1, 0.0), f"n={args.samples} T=1": (texts[:args.sample_prompts], args.samples, 1.0)}
    for r in runners:  # warm-up: kernels, allocator
        r.run(texts[:2], 1, 0.0, 2)
    for rnd in range(args.rounds):
        for work, (batch, n, temperature) in workloads.items():
            for r in (runners if rnd % 2 == 0 else runners[::-1]):  # A B ... then ... B A
                if rnd and r.best[work] * 3 < max(x.best[work] for x in runners):
                    continue  # over 3x slower than the best: it cannot be the best, time it once
                sync(device)
                t0 = time.perf_counter()
                generated = r.run(batch, n, temperature, args.tokens)
                sync(device)
                wall = time.perf_counter() - t0
                assert generated == len(batch) * n * args.tokens, (r.label, generated)
                r.best[work] = max(r.best.get(work, 0.0), generated / wall)
                print(f"  round {rnd + 1} {work:10} {r.label:40} {generated / wall:9.1f} tok/s", flush=True)
    name = torch.cuda.get_device_name() if device.startswith("cuda") else "cpu"
    print(f"\n{name}, {args.model} ({str(dtype).removeprefix('torch.')}), {len(texts)} prompts"
          f"{' (chat template)' if chat else ''}, {args.tokens} new tokens, best of {args.rounds} interleaved rounds")
    print("| runner | " + " | ".join(f"{w} tok/s" for w in workloads) + " |\n|---|" + "---|" * len(workloads))
    for r in runners:
        print(f"| {r.label} | " + " | ".join(f"{r.best[w]:.1f}" for w in workloads) + " |")
    raw = [r for r in runners if r.label.startswith("transformers")]
    default = runners[0]
    shares = {}
    for w in workloads:
        best_raw = max(raw, key=lambda r: r.best[w])
        fastest_ours = max((r for r in runners if r not in raw), key=lambda r: r.best[w])
        shares[w] = default.best[w] / best_raw.best[w]
        print(f"{w}: thinkbench default / best raw generate ({best_raw.attention}) = {shares[w]:.3f}; "
              f"fastest attention: raw {best_raw.attention}, thinkbench {fastest_ours.attention} "
              f"(auto picked {default.attention})")
    if args.json:
        args.json.write_text(json.dumps({"device": name, "model": args.model, "dtype": str(dtype),
                                         "rows": [{"runner": r.label, "attention": r.attention, **r.best} for r in runners],
                                         "share": shares}, indent=1))


if __name__ == "__main__":
    main()
