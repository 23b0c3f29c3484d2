"""The embedded testbed: a tiny Llama trained from scratch, offline, on `addition`.

Why it plateaus at mid accuracy: its demonstrations come from a fallible teacher, as SFT data
from people or larger models do. The teacher (1) forgets the carry after a column whose sum is
10 or 11 with probability `forget_p` (a systematic slip: the model learns it as the likelier
step, so greedy decoding repeats it) and (2) miswrites a column sum by ±1 with probability
`slip_p` (random noise: voting removes it). A model that fits the teacher's distribution has
no more to learn from more SFT, yet its samples still hold the right answer — the headroom
that majority voting, verifiers, search and RL are measured on.
"""
from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from harness.compute import training_flops
from harness.paths import cache_dir
from tasks.math.addition import AdditionTask, answer_from_columns, column_lines, prompt_text

SPECIALS = ["<pad>", "<bos>", "<eos>", "<unk>"]
# Every printable ASCII character is one token, so any English prompt round-trips.
CHARS = [chr(c) for c in range(32, 127)] + ["\n"]


@dataclass(frozen=True)
class TestbedConfig:
    """Everything that determines the testbed checkpoint (its hash names the cache entry)."""

    __test__ = False  # not a pytest class, despite the name

    digits: int = 4
    forget_p: float = 0.7
    forget_sums: tuple[int, ...] = (10, 11)
    slip_p: float = 0.12
    hidden: int = 128
    layers: int = 4
    heads: int = 4
    steps: int = 1200
    batch: int = 64
    lr: float = 3e-3
    seed: int = 0
    checkpoints: int = 4  # evenly spaced intermediate checkpoints (the training-compute axis)

    def key(self) -> str:
        import hashlib

        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:10]


def teacher_solution(a: int, b: int, cfg: TestbedConfig, rng: np.random.Generator) -> str:
    """A demonstration of `a+b` as the fallible teacher writes it (see the module docstring)."""
    carries, sums, carry = [], [], 0
    for i in range(cfg.digits):
        s = a // 10**i % 10 + b // 10**i % 10 + carry
        if rng.random() < cfg.slip_p:
            s = s + 1 if s == 0 or (s < 19 and rng.random() < 0.5) else s - 1
        carries.append(carry)
        sums.append(s)
        carry = 1 if s >= 10 else 0
        if carry and s in cfg.forget_sums and rng.random() < cfg.forget_p:
            carry = 0
    lines = column_lines(a, b, cfg.digits, carries=carries, sums=sums)
    return "\n".join(lines) + f"\nA={answer_from_columns(sums)}\n"


def build_tokenizer():
    """A character-level tokenizer made with the `tokenizers` library (saved as tokenizer.json)."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {tok: i for i, tok in enumerate(SPECIALS + CHARS)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    tok.decoder = decoders.Fuse()
    tok.post_processor = processors.TemplateProcessing(single="<bos> $A", special_tokens=[("<bos>", 1)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<bos>", eos_token="<eos>",
                                   pad_token="<pad>", unk_token="<unk>")


def build_model(cfg: TestbedConfig, vocab_size: int):
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(vocab_size=vocab_size, hidden_size=cfg.hidden, intermediate_size=3 * cfg.hidden,
                         num_hidden_layers=cfg.layers, num_attention_heads=cfg.heads,
                         num_key_value_heads=cfg.heads, max_position_embeddings=256,
                         tie_word_embeddings=True, bos_token_id=1, eos_token_id=2, pad_token_id=0)
    config._attn_implementation = "eager"  # faster than sdpa for training at this size on CPU
    return LlamaForCausalLM(config)


def _batch(tokenizer, cfg: TestbedConfig, task: AdditionTask, rng: np.random.Generator):
    """Fresh teacher demonstrations from the train split; loss on the completion only."""
    seqs, labels = [], []
    for _ in range(cfg.batch):
        a, b = task.sample_operands("train", rng)
        prompt = tokenizer(prompt_text(a, b))["input_ids"]
        completion = tokenizer(teacher_solution(a, b, cfg, rng), add_special_tokens=False)["input_ids"]
        completion.append(tokenizer.eos_token_id)
        seqs.append(prompt + completion)
        labels.append([-100] * len(prompt) + completion)
    width = max(map(len, seqs))
    ids = torch.tensor([s + [tokenizer.pad_token_id] * (width - len(s)) for s in seqs])
    lab = torch.tensor([s + [-100] * (width - len(s)) for s in labels])
    mask = torch.tensor([[1] * len(s) + [0] * (width - len(s)) for s in seqs])
    return ids, lab, mask


def train_testbed(out: Path, cfg: TestbedConfig = TestbedConfig(),
                  on_step: Callable[[int, float], None] | None = None) -> Path:
    """Train the testbed into `out` (step-N/ intermediate dirs and final/); returns final/."""
    from harness.backends.hf import configure_torch

    configure_torch()
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    tokenizer = build_tokenizer()
    model = build_model(cfg, len(tokenizer))
    params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.01, betas=(0.9, 0.98))
    warmup = max(1, cfg.steps // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(1.0, s / cfg.steps))))
    task = AdditionTask(digits=cfg.digits)
    save_at = {round(cfg.steps * (i + 1) / cfg.checkpoints) for i in range(cfg.checkpoints)}
    tokens, t0 = 0, time.perf_counter()
    model.train()
    for step in range(1, cfg.steps + 1):
        ids, lab, mask = _batch(tokenizer, cfg, task, rng)
        loss = model(input_ids=ids, attention_mask=mask, labels=lab).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        tokens += int(mask.sum())
        if on_step:
            on_step(step, loss.item())
        if step in save_at:
            target = out / ("final" if step == cfg.steps else f"step-{step}")
            _save(model, tokenizer, target, {
                "testbed": asdict(cfg), "step": step, "params": params, "train_tokens": tokens,
                "train_flops": training_flops(params, tokens), "train_wall_s": time.perf_counter() - t0})
            model.train()
    return out / "final"


def _save(model, tokenizer, target: Path, info: dict) -> None:
    """Write a standard HF checkpoint directory atomically (temp dir, then rename)."""
    tmp = target.with_name(target.name + ".tmp")
    model.eval()
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    (tmp / "thinkbench.json").write_text(json.dumps(info, indent=2))
    if target.exists():
        import shutil

        shutil.rmtree(target)
    tmp.rename(target)


def default_dir(cfg: TestbedConfig = TestbedConfig()) -> Path:
    """Where `thinkbench bootstrap` keeps the testbed for this config."""
    return cache_dir() / f"testbed-{cfg.key()}"
