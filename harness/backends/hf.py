"""`hf` policy: transformers on CPU (or GPU when present) with its own batched decoding loop.

Why our own loop rather than `model.generate`: each prompt is prefilled once and its KV cache
is shared by its n samples (counted as `cached_tokens`), finished rows leave the batch so the
rest decode faster, and stop strings, seeds and token accounting are exact and ours.
"""
from __future__ import annotations

import inspect
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch

from harness.backends.prefix_cache import PrefixCache, PrefixLedger
from harness.compute import inference_cost
from harness.contracts import BackendConfig, Completion, Cost, PolicyBase, plain_text
from harness.registry import BACKENDS, ConfigError


def configure_torch(threads: int | None = None) -> None:
    """CPU settings that matter on small boxes.

    Denormal floats made attention up to 30x slower on some CPUs; flushing them is harmless
    for inference. Thread count: THINKBENCH_THREADS, else the argument, else one per idle
    core (`harness.threads`: 2 threads beside a busy process ran 13x slower than 1).
    """
    from transformers.utils import logging as hf_logging

    from harness.threads import apply_threads

    hf_logging.disable_progress_bar()  # our own progress bars say what is running
    torch.set_flush_denormal(True)
    apply_threads(threads)


@dataclass(frozen=True)
class HFConfig(BackendConfig):
    """Knobs of the `hf` backend (a checkpoint's `params:` in a matrix)."""

    device: str | None = None               # default: cuda when present, else cpu
    threads: int | None = None              # torch threads (THINKBENCH_THREADS wins)
    batch_size: int = 256                   # rows (prompts × n) decoded together
    # Explicit, as in lm-eval: a base model that ships a template is never silently chat-wrapped.
    chat_template: bool = False
    # auto: float32 on CPU (bf16 matmuls are slow and inexact there), the checkpoint's own dtype on GPU.
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    # auto: eager, by measurement (benchmarks/hf_throughput.py; sdpa was slower on CPU and on H200).
    attention: Literal["auto", "eager", "sdpa", "flash_attention_2"] = "auto"
    prefix_cache_mb: int = 256              # prefix KV cache budget (speed only; 0 turns it off)

    def gpus(self, cluster_has_gpus: bool) -> float:
        """One GPU when the device is CUDA, or unset on a cluster with GPUs (where it will pick
        CUDA: Ray must reserve the GPU, or several units would share GPU 0 unseen)."""
        device = self.device or ("cuda" if cluster_has_gpus else "cpu")
        return 1.0 if device.startswith("cuda") else 0.0

    def validate(self) -> None:
        if self.batch_size < 1 or self.prefix_cache_mb < 0:
            raise ValueError("batch_size must be >= 1 and prefix_cache_mb >= 0")


def resolve_dtype(setting: str, device: str, checkpoint_dtype: object) -> torch.dtype:
    """The dtype a checkpoint runs in: float32 on CPU; on GPU its own dtype unless set."""
    if setting != "auto":
        return getattr(torch, setting)
    if not str(device).startswith("cuda"):
        return torch.float32
    if isinstance(checkpoint_dtype, str):
        checkpoint_dtype = getattr(torch, checkpoint_dtype, None)
    return checkpoint_dtype if isinstance(checkpoint_dtype, torch.dtype) else torch.float32


def stop_token_ids(tokenizer, model) -> set[int]:
    """Every id HF `generate` stops on (generation_config's EOS list: Llama-3's <|eot_id|>,
    Gemma's <end_of_turn>), plus the model config's and the tokenizer's EOS."""
    ids: set[int] = set()
    sources = (getattr(getattr(model, "generation_config", None), "eos_token_id", None),
               getattr(model.config, "eos_token_id", None), tokenizer.eos_token_id)
    for found in sources:
        if found is None:
            continue
        ids.update(found if isinstance(found, (list, tuple, set)) else [found])
    return {int(i) for i in ids}


def chat_ids(tokenizer, messages: list[dict], *, add_generation_prompt: bool | None = None,
             continue_final_message: bool | None = None) -> list[int]:
    """Token ids of chat `messages` rendered by the tokenizer's chat template.

    By default a list ending in an assistant message is continued in that turn (step search's
    partial solutions), and any other list gets a generation prompt opening the assistant
    turn; the two flags (vLLM's request fields of the same names) override that. Shared by the
    `hf` backend, `thinkbench serve` and the `openai` backend's `partial: completions` mode, so
    all three render a prompt to the same tokens.
    """
    partial = messages[-1]["role"] == "assistant" if continue_final_message is None else continue_final_message
    opening = (not partial) if add_generation_prompt is None else add_generation_prompt
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=opening,
                                         continue_final_message=partial)
    if partial:  # templates that trim content drop the partial turn's trailing separator
        content = messages[-1]["content"]
        trimmed = content.rstrip()
        if not text.endswith(content) and text.endswith(trimmed):
            text += content[len(trimmed):]
    # The template writes its own special tokens (BOS included), as HF does when tokenizing.
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def encode_prompt(tokenizer, prompt: str | list[dict], chat_template: bool) -> list[int]:
    """Token ids of a prompt; every backend that tokenizes itself (hf, vllm) uses this one
    function, so two backends see identical inputs for the same prompt.

    With `chat_template`, a string is one user turn and a message list ending in an assistant
    message is continued in that turn (`chat_ids`). Without it, a message list is its contents
    run together (the plain-model prompt).
    """
    if not chat_template:
        return list(tokenizer(plain_text(prompt))["input_ids"])
    messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else list(prompt)
    return chat_ids(tokenizer, messages)


@BACKENDS.register("hf", config=HFConfig)
class HFPolicy(PolicyBase):
    """A causal LM from a local directory (or a hub name when online) that continues prompts."""

    def __init__(self, path: str | Path, cfg: HFConfig | None = None) -> None:
        from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

        cfg = cfg or HFConfig()
        configure_torch(cfg.threads)
        self.path = str(path)
        self.device = cfg.device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.attention = "eager" if cfg.attention == "auto" else cfg.attention
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(self.path)
            declared = getattr(AutoConfig.from_pretrained(self.path), "dtype", None)
            self.dtype = resolve_dtype(cfg.dtype, self.device, declared)
            self.model = AutoModelForCausalLM.from_pretrained(
                self.path, attn_implementation=self.attention, dtype=self.dtype
            ).to(self.device).eval()
        except Exception as e:  # noqa: BLE001 - missing, corrupt or truncated files: the user's to fix
            first = str(e).splitlines()[0] if str(e) else ""
            raise ConfigError(f"checkpoint {self.path!r} could not be loaded ({type(e).__name__}: {first})") from None
        self.use_chat_template = cfg.chat_template
        if self.use_chat_template and getattr(self.tokenizer, "chat_template", None) is None:
            raise ConfigError(f"checkpoint {self.path!r} has no chat template; set `chat_template: false`")
        self.params = sum(p.numel() for p in self.model.parameters())
        # transformers renamed `past_key_values` to `cache` (5.2x); support both spellings.
        forward_args = inspect.signature(self.model.forward).parameters
        self._cache_arg = "cache" if "cache" in forward_args else "past_key_values"
        self.batch_size = cfg.batch_size
        self.prefix = PrefixCache(cfg.prefix_cache_mb * 2**20) if cfg.prefix_cache_mb > 0 else None
        self.ledger = PrefixLedger()
        self.eos_ids = stop_token_ids(self.tokenizer, self.model)
        self.pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0

    def settings(self) -> dict[str, object]:
        """What this policy resolved its `auto` settings to (recorded on every row)."""
        return {"device": self.device, "dtype": str(self.dtype).removeprefix("torch."),
                "attention": self.attention, "chat_template": self.use_chat_template}

    def reset_cache(self) -> None:
        """Start a new cell: forget cached prefixes and what was computed, so a cell's compute
        never depends on what ran before it."""
        if self.prefix is not None:
            self.prefix.clear()
        self.ledger.clear()

    def encode(self, prompt: str | list[dict]) -> list[int]:
        """Token ids of a prompt (see `encode_prompt`)."""
        return encode_prompt(self.tokenizer, prompt, self.use_chat_template)

    @torch.inference_mode()
    def generate(self, prompts: Sequence[str | list[dict]], *, n: int = 1, temperature: float = 0.0,
                 top_p: float = 1.0, max_tokens: int = 256, stop: Sequence[str] = (),
                 seed: int | None = None) -> tuple[list[list[Completion]], list[Cost]]:
        """n completions for each prompt, and what each prompt's completions cost."""
        t0 = time.perf_counter()
        gen = torch.Generator(device=self.device)
        gen.manual_seed(seed if seed is not None else int.from_bytes(os.urandom(4), "little"))
        encoded = [self.encode(p) for p in prompts]
        # Cost: each prompt pays for its tokens past the longest prefix already computed in this
        # cell (a prefix-caching server's work), in prompt order. This depends on the cell alone,
        # never on batch layout or on this backend's cache budget, which only trade memory for speed.
        reused = []
        for e in encoded:
            reused.append(self.ledger.longest_prefix(e[:-1]))  # the last token is always computed
            self.ledger.add(e)
        out: list[list[Completion]] = []
        per_batch = max(1, self.batch_size // max(n, 1))
        for start in range(0, len(encoded), per_batch):
            batch = encoded[start:start + per_batch]
            comps, tokens = self._generate_batch(batch, n, temperature, top_p, max_tokens, tuple(stop), gen)
            out.extend(comps)
            for row, toks in enumerate(tokens):  # the last token's KV is never computed
                self.ledger.add(batch[row // n] + toks[:-1])
        # A prompt is computed once past its reused prefix and shared by its other n-1 samples;
        # wall time is shared out in proportion to the tokens each prompt's rows processed.
        work = [len(e) - r + sum(c.tokens for c in comps) for e, r, comps in zip(encoded, reused, out)]
        wall = time.perf_counter() - t0
        costs = [inference_cost(self.params, len(e) - r, r + len(e) * (n - 1), sum(c.tokens for c in comps),
                                wall * w / max(sum(work), 1))
                 for e, r, comps, w in zip(encoded, reused, out, work)]
        return out, costs

    def _prefill(self, encoded: list[list[int]]):
        """Run the prompts, reusing cached prefixes: (KV cache, last logits, attention mask).

        Rows are left-padded to a common end. Each row's input window is its last S tokens,
        S being the longest uncached suffix; what precedes the window comes from the prefix
        cache (a row with a shorter suffix recomputes a little of its cached prefix).
        """
        from transformers import DynamicCache

        lengths = [len(e) for e in encoded]
        # The last token is always computed: its logits start the decoding.
        hits = [self.prefix.lookup(e[:-1]) if self.prefix else (0, None) for e in encoded]
        s = max(n - c for n, (c, _) in zip(lengths, hits))
        width = max(lengths)
        before = width - s  # cache positions ahead of the input window
        reused = [max(0, n - s) for n in lengths]
        window = torch.full((len(encoded), s), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(encoded), width), dtype=torch.long)
        for i, e in enumerate(encoded):
            take = e[reused[i]:]
            window[i, s - len(take):] = torch.tensor(take)
            mask[i, width - len(e):] = 1
        window, mask = window.to(self.device), mask.to(self.device)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)[:, before:]
        cache = None
        if before > 0:
            layers = next(kv for _, kv in hits if kv is not None)
            cache = DynamicCache()
            for layer, (k0, v0) in enumerate(layers):
                keys = torch.zeros((len(encoded), k0.shape[0], before, k0.shape[2]), dtype=k0.dtype, device=self.device)
                values = torch.zeros_like(keys)
                for i, (_, kv) in enumerate(hits):
                    if reused[i]:
                        keys[i, :, before - reused[i]:] = kv[layer][0][:, :reused[i]]
                        values[i, :, before - reused[i]:] = kv[layer][1][:, :reused[i]]
                cache.update(keys, values, layer)
        out = self.model(input_ids=window, attention_mask=mask, position_ids=positions, use_cache=True,
                         logits_to_keep=1, **({self._cache_arg: cache} if cache is not None else {}))
        past = self._cache_of(out)
        if self.prefix is not None:
            for i, e in enumerate(encoded):
                self.prefix.insert(e, [(k[i, :, width - len(e):].clone(), v[i, :, width - len(e):].clone())
                                       for k, v in self._layers(past)])
        return past, out.logits[:, -1, :], mask

    def _remember(self, past, j: int, mask: torch.Tensor, ids: list[int]) -> None:
        """Cache the KV of a finished row (its prompt and all but its last, never-fed token)."""
        if self.prefix is None:
            return
        keep = mask[j].bool()
        self.prefix.insert(ids, [(k[j][:, keep], v[j][:, keep]) for k, v in self._layers(past)])

    @staticmethod
    def _layers(cache) -> list[tuple[torch.Tensor, torch.Tensor]]:
        if hasattr(cache, "layers"):
            return [(layer.keys, layer.values) for layer in cache.layers]
        return list(zip(cache.key_cache, cache.value_cache))  # transformers < 4.56

    def _generate_batch(self, encoded: list[list[int]], n: int, temperature: float, top_p: float,
                        max_tokens: int, stop: tuple[str, ...], gen: torch.Generator
                        ) -> tuple[list[list[Completion]], list[list[int]]]:
        """Each prompt's n completions, and every row's generated token ids."""
        past, logits, mask = self._prefill(encoded)
        if n > 1:  # one prefill per prompt; its n samples share the KV cache
            past.batch_repeat_interleave(n)
            logits, mask = logits.repeat_interleave(n, 0), mask.repeat_interleave(n, 0)
        next_pos = mask.sum(-1)
        rows = len(encoded) * n
        alive = list(range(rows))
        tokens: list[list[int]] = [[] for _ in range(rows)]
        logprobs = [0.0] * rows
        finish = ["length"] * rows
        stop_window = max((len(s) for s in stop), default=0) + 2
        for step in range(max_tokens):
            picked, picked_lp = self._pick(logits, temperature, top_p, gen)
            keep, ended = [], []
            for j, (row, tok, lp) in enumerate(zip(alive, picked.tolist(), picked_lp.tolist())):
                tokens[row].append(tok)
                logprobs[row] += lp
                if tok in self.eos_ids or (stop and self._hits_stop(tokens[row], stop, stop_window)):
                    finish[row] = "stop"
                    ended.append(j)
                else:
                    keep.append(j)
            last = not keep or step == max_tokens - 1
            for j in range(len(alive)) if last else ended:
                self._remember(past, j, mask, encoded[alive[j] // n] + tokens[alive[j]][:-1])
            if last:
                break
            if len(keep) < len(alive):  # drop finished rows so the rest decode faster
                index = torch.tensor(keep, device=self.device)
                past.batch_select_indices(index)
                picked, mask, next_pos = picked[index], mask[index], next_pos[index]
                alive = [alive[j] for j in keep]
            mask = torch.cat([mask, torch.ones((len(alive), 1), dtype=mask.dtype, device=self.device)], 1)
            out = self.model(input_ids=picked[:, None], attention_mask=mask,
                             position_ids=next_pos[:, None], use_cache=True, **{self._cache_arg: past})
            past, logits = self._cache_of(out), out.logits[:, -1, :]
            next_pos = next_pos + 1
        completions = [self._completion(tokens[r], logprobs[r], finish[r], stop) for r in range(rows)]
        return [completions[i * n:(i + 1) * n] for i in range(len(encoded))], tokens

    @staticmethod
    def _cache_of(out):
        cache = getattr(out, "cache", None)
        return cache if cache is not None else out.past_key_values

    def _hits_stop(self, toks: list[int], stop: tuple[str, ...], window: int) -> bool:
        tail = self.tokenizer.decode(toks[-window:], skip_special_tokens=True)
        return any(s in tail for s in stop)

    def _completion(self, toks: list[int], logprob: float, finish: str, stop: tuple[str, ...]) -> Completion:
        text = self.tokenizer.decode([t for t in toks if t not in self.eos_ids], skip_special_tokens=True)
        found = [(i, s) for s in stop for i in [text.find(s)] if i >= 0]
        if found:  # like OpenAI and vLLM, the stop string is not part of the text
            cut, matched = min(found)
            return Completion(text=text[:cut], tokens=len(toks), logprob=logprob, finish=finish,
                              stop_string=matched)
        return Completion(text=text, tokens=len(toks), logprob=logprob, finish=finish)

    @staticmethod
    def _pick(logits: torch.Tensor, temperature: float, top_p: float,
              gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Next tokens (argmax at temperature 0, else nucleus sampling) and their log-probs."""
        logp = torch.log_softmax(logits.float(), dim=-1)
        if temperature <= 0:
            picked = logp.argmax(-1)
        else:
            probs = torch.softmax(logits.float() / temperature, dim=-1)
            if top_p < 1.0:
                sorted_p, order = probs.sort(-1, descending=True)
                outside = sorted_p.cumsum(-1) - sorted_p > top_p  # keep the smallest set ≥ top_p
                sorted_p = sorted_p.masked_fill(outside, 0.0)
                probs = torch.zeros_like(probs).scatter(-1, order, sorted_p)
            picked = torch.multinomial(probs, 1, generator=gen).squeeze(-1)
        return picked, logp.gather(-1, picked[:, None]).squeeze(-1)
