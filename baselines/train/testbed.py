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
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch

from harness.checkpoint import read_info, save_checkpoint, write_info
from harness.compute import training_flops
from harness.contracts import Cost, TrainedCheckpoint, Trainer, TrainerConfig
from harness.paths import cache_dir
from harness.registry import BACKENDS, TRAINERS
from tasks.math.addition import AdditionTask, answer_from_columns, column_lines, prompt_text

# progress(what, done, total): a trainer reports what it is doing; the CLI draws it with an ETA.
Progress = Callable[[str, int, int], None]
EVAL_PROBLEMS = 200

SPECIALS = ["<pad>", "<bos>", "<eos>", "<unk>"]
# Every printable ASCII character is one token, so any English prompt round-trips.
CHARS = [chr(c) for c in range(32, 127)] + ["\n"]


@dataclass(frozen=True)
class TestbedConfig(TrainerConfig):
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
    resume_every: int = 100  # steps between resumable training states (not part of the model)

    def validate(self) -> None:
        if min(self.digits, self.hidden, self.layers, self.heads, self.steps, self.batch,
               self.checkpoints, self.resume_every) < 1:
            raise ValueError("sizes, steps, batch, checkpoints and resume_every must be >= 1")

    def model_fields(self) -> dict:
        """The fields that determine the weights (resume_every does not)."""
        return {k: v for k, v in asdict(self).items() if k != "resume_every"}

    def key(self) -> str:
        import hashlib

        return hashlib.sha256(json.dumps(self.model_fields(), sort_keys=True).encode()).hexdigest()[:10]


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


RESUME = ".resume.pt"


def train_testbed(out: Path, cfg: TestbedConfig = TestbedConfig(),
                  on_step: Callable[[int, float], None] | None = None) -> Path:
    """Train the testbed into `out` (step-N/ intermediate dirs and final/); returns final/.

    Every `resume_every` steps the whole training state (weights, optimizer, schedule, both
    random generators, counters) is saved to `out/.resume.pt`; an interrupted run continues
    from there and ends with the same weights as an uninterrupted one.
    """
    from harness.backends.hf import configure_torch
    from harness.threads import RateWatch

    configure_torch()
    watch = RateWatch("testbed training")  # one hint line if the CPU turns out to be shared
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
    start, tokens, spent = _resume(out / RESUME, cfg, model, opt, sched, rng)
    if start:
        print(f"testbed: resuming after step {start} of {cfg.steps}", file=sys.stderr)
    t0 = time.perf_counter() - spent
    model.train()
    for step in range(start + 1, cfg.steps + 1):
        ids, lab, mask = _batch(tokenizer, cfg, task, rng)
        loss = model(input_ids=ids, attention_mask=mask, labels=lab).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        tokens += int(mask.sum())
        watch.tick()
        if on_step:
            on_step(step, loss.item())
        if step in save_at:
            target = out / ("final" if step == cfg.steps else f"step-{step}")
            save_checkpoint(model, tokenizer, target, {
                "testbed": cfg.model_fields(), "step": step, "params": params, "train_tokens": tokens,
                "train_flops": training_flops(params, tokens), "train_wall_s": time.perf_counter() - t0})
            model.train()
        if step % cfg.resume_every == 0 and step < cfg.steps:
            _save_state(out / RESUME, cfg, model, opt, sched, rng, step, tokens, time.perf_counter() - t0)
    (out / RESUME).unlink(missing_ok=True)
    return out / "final"


def _save_state(path: Path, cfg: TestbedConfig, model, opt, sched, rng: np.random.Generator, step: int,
                tokens: int, spent: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    torch.save({"config": cfg.model_fields(), "step": step, "tokens": tokens, "wall_s": spent,
                "model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(),
                "numpy": rng.bit_generator.state, "torch": torch.get_rng_state()}, tmp)
    os.replace(tmp, path)


def _resume(path: Path, cfg: TestbedConfig, model, opt, sched, rng: np.random.Generator) -> tuple[int, int, float]:
    """(last finished step, tokens, wall seconds) restored from `path`, or a fresh start."""
    if not path.is_file():
        return 0, 0, 0.0
    try:
        state = torch.load(path, weights_only=False)
    except Exception:  # noqa: BLE001 - a torn state file: start over rather than fail
        return 0, 0, 0.0
    if state.get("config") != cfg.model_fields():
        return 0, 0, 0.0
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["opt"])
    sched.load_state_dict(state["sched"])
    rng.bit_generator.state = state["numpy"]
    torch.set_rng_state(state["torch"])
    return int(state["step"]), int(state["tokens"]), float(state["wall_s"])


def evaluate_checkpoints(out: Path, digits: int, progress: Progress | None = None) -> list[dict]:
    """Greedy accuracy of every saved checkpoint on held-out problems (kept in thinkbench.json)."""
    task = AdditionTask(digits=digits)
    problems = task.problems("test", EVAL_PROBLEMS, seed=0)
    found = sorted((p.parent for p in out.glob("*/thinkbench.json")), key=lambda d: read_info(d).get("step", 0))
    results = []
    for i, ckpt in enumerate(found):
        if progress:
            progress(f"evaluating {ckpt.name} on {len(problems)} held-out problems", i, len(found))
        policy = BACKENDS.get("hf")(ckpt)
        outs, _ = policy.generate([task.prompt(p) for p in problems], temperature=0.0, max_tokens=64)
        verdicts = task.check_many([task.extract(o[0].text) for o in outs], problems)
        acc = sum(v.correct for v in verdicts) / len(problems)
        info = read_info(ckpt) | {"greedy_accuracy_test": acc, "eval_problems": len(problems)}
        write_info(ckpt, info)
        results.append(info | {"name": ckpt.name})
    if progress:
        progress("evaluated", len(found), len(found))
    return results


def bootstrap(out: Path | None = None, cfg: TestbedConfig = TestbedConfig(), force: bool = False,
              progress: Progress | None = None) -> tuple[Path, bool]:
    """Train (or reuse) the testbed; returns (final/, whether it was reused). An interrupted
    training resumes where it stopped."""
    out = out or default_dir(cfg)
    final = out / "final"
    if not force and read_info(final).get("testbed") == json.loads(json.dumps(cfg.model_fields())):
        return final, True
    if force:
        (out / RESUME).unlink(missing_ok=True)
    train_testbed(out, cfg, None if progress is None else
                  lambda step, loss: progress(f"training testbed · loss {loss:.3f}", step, cfg.steps))
    evaluate_checkpoints(out, cfg.digits, progress)
    return final, False


def train(base: Path | None, task, budget: int, seed: int, cfg: TestbedConfig, out: Path | None,
          progress: Progress | None = None) -> TrainedCheckpoint:
    """The trainer contract: a testbed of `budget` steps from scratch (`base` must be None) on
    addition with the task's digits, into `out` (default: the cache). Reuses a finished one
    (`info["reused"]`) and resumes an interrupted one."""
    if base is not None:
        raise ValueError("the testbed trains from scratch: give it no base (`--base none`)")
    cfg = replace(cfg, steps=budget, seed=seed, digits=getattr(task, "digits", cfg.digits))
    final, reused = bootstrap(out, cfg, progress=progress)
    info = read_info(final) | {"reused": reused}
    return TrainedCheckpoint(final, Cost(flops=info.get("train_flops", 0.0), wall_s=info.get("train_wall_s", 0.0)), info)


def default_dir(cfg: TestbedConfig = TestbedConfig()) -> Path:
    """Where `thinkbench bootstrap` keeps the testbed for this config."""
    return cache_dir() / f"testbed-{cfg.key()}"


TRAINERS.register("testbed", config=TestbedConfig)(Trainer(
    "testbed", train, TestbedConfig, doc="the tiny Llama trained from scratch on addition (bootstrap)",
    home=default_dir))
