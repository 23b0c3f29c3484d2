"""Decoding throughput of the `hf` backend against raw transformers `generate`, same work.

The work (issue 8's): a random-init Llama (~0.97 B parameters with `--size 1b`, saved in
bfloat16 like released checkpoints), 32 prompts of 64 tokens, 8 samples each, 128 new tokens
each at temperature 1 with no EOS (every row decodes all 128). Raw `generate` runs in float32
eager, bfloat16 eager and bfloat16 sdpa; thinkbench runs its default (`dtype: auto`,
`attention: auto`) and the other settings. Prints generated tokens/s per configuration and
thinkbench's default as a share of the best raw configuration, all measured in this run.

    python benchmarks/hf_throughput.py                 # GPU: the 1 B model
    python benchmarks/hf_throughput.py --size tiny     # a CPU smoke run of the script itself
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

SIZES = {  # hidden, intermediate, layers, heads, vocab
    "1b": (2048, 5632, 16, 32, 32000),
    "tiny": (64, 172, 2, 4, 1000),
}


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


def prompts(n: int, length: int, vocab: int) -> list[str]:
    g = torch.Generator().manual_seed(1)
    return [" ".join(f"t{i}" for i in torch.randint(2, vocab, (length,), generator=g).tolist()) for _ in range(n)]


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def raw_generate(path: Path, texts: list[str], n: int, tokens: int, dtype: torch.dtype, attention: str,
                 device: str) -> float:
    """Generated tokens/s of `model.generate` on the same rows (prompts repeated n times)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path)
    tok.padding_side = "left"
    model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, attn_implementation=attention).to(device).eval()
    batch = tok([t for t in texts for _ in range(n)], return_tensors="pt", padding=True).to(device)
    run = lambda k: model.generate(**batch, do_sample=True, temperature=1.0, top_p=1.0, top_k=0,  # noqa: E731
                                   max_new_tokens=k, min_new_tokens=k, pad_token_id=0)
    with torch.inference_mode():
        run(4)  # warm-up: kernels, allocator
        sync(device)
        t0 = time.perf_counter()
        out = run(tokens)
        sync(device)
        wall = time.perf_counter() - t0
    generated = (out.shape[1] - batch["input_ids"].shape[1]) * out.shape[0]
    del model
    return generated / wall


def thinkbench(path: Path, texts: list[str], n: int, tokens: int, dtype: str, attention: str,
               device: str) -> tuple[float, dict]:
    """Generated tokens/s of the hf backend, and the settings it resolved."""
    from harness.backends.hf import HFConfig, HFPolicy

    policy = HFPolicy(path, HFConfig(device=device, dtype=dtype, attention=attention))
    policy.eos_ids = set()  # no EOS: every row decodes `tokens`, as min_new_tokens does for generate
    policy.generate(texts, n=n, temperature=1.0, max_tokens=4, seed=0)  # warm-up
    policy.reset_cache()
    sync(device)
    t0 = time.perf_counter()
    outs, _ = policy.generate(texts, n=n, temperature=1.0, max_tokens=tokens, seed=0)
    sync(device)
    wall = time.perf_counter() - t0
    generated = sum(c.tokens for x in outs for c in x)
    assert generated == len(texts) * n * tokens
    settings = policy.settings()
    del policy
    return generated / wall, settings


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", choices=sorted(SIZES), default="1b")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--prompts", type=int, default=32)
    ap.add_argument("--samples", type=int, default=8)
    ap.add_argument("--prompt-len", type=int, default=64)
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--json", type=Path, help="also write the table here")
    args = ap.parse_args()
    device = args.device
    name = torch.cuda.get_device_name() if device.startswith("cuda") else "cpu"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp)
        build(path, args.size)
        texts = prompts(args.prompts, args.prompt_len, SIZES[args.size][4])
        rows = []
        for dtype, attention in (("float32", "eager"), ("bfloat16", "eager"), ("bfloat16", "sdpa")):
            rate = raw_generate(path, texts, args.samples, args.tokens, getattr(torch, dtype), attention, device)
            rows.append({"runner": "transformers generate", "dtype": dtype, "attention": attention, "tok_s": rate})
            print(f"  generate   {dtype:9} {attention:6} {rate:10.0f} tok/s", flush=True)
        for dtype, attention in (("auto", "auto"), ("float32", "eager"), ("bfloat16", "sdpa")):
            rate, settings = thinkbench(path, texts, args.samples, args.tokens, dtype, attention, device)
            label = f"{dtype}/{attention}" + (f" -> {settings['dtype']}/{settings['attention']}" if dtype == "auto" else "")
            rows.append({"runner": "thinkbench hf", "dtype": settings["dtype"], "attention": settings["attention"],
                         "setting": f"{dtype}/{attention}", "tok_s": rate})
            print(f"  thinkbench {label:24} {rate:10.0f} tok/s", flush=True)
    best_raw = max((r for r in rows if r["runner"] == "transformers generate"), key=lambda r: r["tok_s"])
    default = next(r for r in rows if r.get("setting") == "auto/auto")
    share = default["tok_s"] / best_raw["tok_s"]
    print(f"\n{name}, {args.size} model, {args.prompts} prompts x {args.samples} samples x {args.tokens} tokens")
    print("| runner | dtype | attention | generated tok/s |\n|---|---|---|---|")
    for r in rows:
        print(f"| {r['runner']}{' (' + r['setting'] + ')' if 'setting' in r else ''} | {r['dtype']} | "
              f"{r['attention']} | {r['tok_s']:.0f} |")
    print(f"\nthinkbench default / best raw generate ({best_raw['dtype']} {best_raw['attention']}): {share:.3f}")
    if args.json:
        args.json.write_text(json.dumps({"device": name, "size": args.size, "rows": rows, "share": share}, indent=1))


if __name__ == "__main__":
    main()
