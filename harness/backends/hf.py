"""`hf` policy: transformers on CPU (or GPU when present) with its own batched decoding loop.

Why our own loop rather than `model.generate`: each prompt is prefilled once and its KV cache
is shared by its n samples (counted as `cached_tokens`), finished rows leave the batch so the
rest decode faster, and stop strings, seeds and token accounting are exact and ours.
"""
from __future__ import annotations

import hashlib
import inspect
import os
import time
from array import array
from collections import Counter
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
    # auto: per device and dtype, by measurement (AUTO_ATTENTION; benchmarks/hf_throughput.py).
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


# `attention: auto`, per (device type, dtype), as measured by benchmarks/hf_throughput.py (which
# times every entry here against raw transformers `generate`). CPU float32 (SmolLM2-135M, 16 GSM8K
# prompts, denormals flushed by `configure_torch`, THINKBENCH_THREADS=1): this backend decoded
# 54.4 tokens/s greedy with sdpa, 46.5 with eager; n = 8 sampling 101.7 with sdpa, 78.5 with
# eager (raw generate: sdpa 53.5 / 59.0, eager 42.0 / 48.1). CUDA bfloat16
# (issue 8, H200, 1 B Llama): eager 13.2 k tokens/s, sdpa 4.5 k. Unmeasured pairs get sdpa,
# transformers' own default.
AUTO_ATTENTION: dict[tuple[str, torch.dtype], str] = {
    ("cpu", torch.float32): "sdpa",
    ("cuda", torch.bfloat16): "eager",
}


def resolve_attention(setting: str, device: str, dtype: torch.dtype) -> str:
    """The attention implementation a checkpoint runs with: `auto` looks up AUTO_ATTENTION."""
    if setting != "auto":
        return setting
    return AUTO_ATTENTION.get((torch.device(device).type, dtype), "sdpa")


def row_seeds(seed: int, encoded: Sequence[Sequence[int]], n: int) -> list[int]:
    """The seed of every row of a call (prompt i's sample j at i * n + j).

    A row's seed hashes the call's seed, its prompt's token ids, how many identical prompts
    came before it in the call, and j: a row's samples depend on its own prompt alone, never
    on batch_size, on the other prompts of the call or on their order.
    """
    seen: Counter[bytes] = Counter()
    out = []
    for ids in encoded:
        key = array("q", ids).tobytes()
        head = f"{seed}:{seen[key]}:".encode() + key
        seen[key] += 1
        for j in range(n):
            digest = hashlib.blake2b(head + j.to_bytes(4, "little"), digest_size=8).digest()
            out.append(int.from_bytes(digest, "little") >> 1)
    return out


def row_uniforms(seeds: Sequence[int], steps: int, device: str) -> torch.Tensor:
    """[rows, steps] uniforms in [0, 1), row r's from its own generator seeded `seeds[r]` (on
    CPU, so a seed gives the same draws on every device)."""
    rows = [torch.rand(steps, generator=torch.Generator().manual_seed(s)) for s in seeds]
    return torch.stack(rows).to(device) if rows else torch.zeros((0, steps), device=device)


def prefill_groups(suffix: Sequence[int], waste: float = 0.1) -> list[list[int]]:
    """Rows grouped for prefill so padding is at most `waste` of each group's positions.

    Rows are taken longest first; a row joins the current group while the group's real
    tokens stay >= (1 - waste) of its padded positions (longest row x rows).
    """
    order = sorted(range(len(suffix)), key=lambda i: -suffix[i])
    groups: list[list[int]] = []
    real = 0
    for i in order:
        if groups:
            widest = suffix[groups[-1][0]]
            if real + suffix[i] >= (1 - waste) * widest * (len(groups[-1]) + 1):
                groups[-1].append(i)
                real += suffix[i]
                continue
        groups.append([i])
        real = suffix[i]
    return groups


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
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(self.path)
            declared = getattr(AutoConfig.from_pretrained(self.path), "dtype", None)
            self.dtype = resolve_dtype(cfg.dtype, self.device, declared)
            self.attention = resolve_attention(cfg.attention, self.device, self.dtype)
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
                "attention": self.attention, "chat_template": self.use_chat_template,
                "seeds": "per row"}

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
        """n completions for each prompt, and what each prompt's completions cost.

        Sampling: every (prompt, sample index) draws from its own generator (`row_seeds`), so a
        prompt's samples are the same whatever the batch size and whichever prompts share the call.
        """
        t0 = time.perf_counter()
        encoded = [self.encode(p) for p in prompts]
        call_seed = seed if seed is not None else int.from_bytes(os.urandom(4), "little")
        seeds = row_seeds(call_seed, encoded, n) if temperature > 0 else None
        # Cost: each prompt pays for its tokens past the longest prefix already computed in this
        # cell (a prefix-caching server's work), in prompt order. This depends on the cell alone,
        # never on batch layout or on this backend's cache budget, which only trade memory for speed.
        reused = []
        for e in encoded:
            reused.append(self.ledger.longest_prefix(e[:-1]))  # the last token is always computed
            self.ledger.add(e)
        out: list[list[Completion]] = [[] for _ in encoded]
        per_batch = max(1, self.batch_size // max(n, 1))
        # Longest first, so a batch holds prompts of similar lengths (less padding).
        order = sorted(range(len(encoded)), key=lambda i: -len(encoded[i]))
        for start in range(0, len(order), per_batch):
            chosen = order[start:start + per_batch]
            batch = [encoded[i] for i in chosen]
            batch_seeds = [seeds[i * n + j] for i in chosen for j in range(n)] if seeds else None
            comps, tokens = self._generate_batch(batch, n, temperature, top_p, max_tokens, tuple(stop), batch_seeds)
            for i, c in zip(chosen, comps):
                out[i] = c
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

        Rows are left-padded to a common end. Rows of similar uncached length are prefilled
        together (`prefill_groups`), so padding is never more than a tenth of the positions
        computed; the groups' caches are then laid side by side for decoding.
        """
        from transformers import DynamicCache

        lengths = [len(e) for e in encoded]
        # The last token is always computed: its logits start the decoding.
        hits = [self.prefix.lookup(e[:-1]) if self.prefix else (0, None) for e in encoded]
        width = max(lengths)
        mask = torch.zeros((len(encoded), width), dtype=torch.long)
        for i, n in enumerate(lengths):
            mask[i, width - n:] = 1
        mask = mask.to(self.device)
        groups = prefill_groups([n - c for n, (c, _) in zip(lengths, hits)])
        if len(groups) == 1:
            past, logits = self._prefill_rows(encoded, hits)
            return past, logits, mask
        parts = [(torch.tensor(g, device=self.device), *self._prefill_rows([encoded[i] for i in g], [hits[i] for i in g]))
                 for g in groups]
        logits = torch.empty((len(encoded), parts[0][2].shape[-1]), dtype=parts[0][2].dtype, device=self.device)
        cache = DynamicCache()
        for layer in range(len(self._layers(parts[0][1]))):
            k0 = self._layers(parts[0][1])[layer][0]
            keys = torch.zeros((len(encoded), k0.shape[1], width, k0.shape[3]), dtype=k0.dtype, device=self.device)
            values = torch.zeros_like(keys)
            for index, past, _ in parts:
                k, v = self._layers(past)[layer]
                keys[index, :, width - k.shape[2]:] = k
                values[index, :, width - v.shape[2]:] = v
            cache.update(keys, values, layer)
        for index, _, part_logits in parts:
            logits[index] = part_logits
        return cache, logits, mask

    def _prefill_rows(self, encoded: list[list[int]], hits: list) -> tuple[object, torch.Tensor]:
        """One prefill forward over `encoded`, left-padded: (KV cache, last logits).

        Each row's input window is its last S tokens, S being the longest uncached suffix; what
        precedes the window comes from the prefix cache (a row with a shorter suffix recomputes
        a little of its cached prefix).
        """
        lengths = [len(e) for e in encoded]
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
        cache = self._cached_prefix(hits, reused, before) if before > 0 else None
        out = self.model(input_ids=window, attention_mask=mask, position_ids=positions, use_cache=True,
                         logits_to_keep=1, **({self._cache_arg: cache} if cache is not None else {}))
        # The prompts' KV enters the prefix cache with each finished row (`_remember`), not here.
        return self._cache_of(out), out.logits[:, -1, :]

    def _cached_prefix(self, hits: list, reused: list[int], before: int):
        """A KV cache of the `before` positions ahead of the input window, each row's last
        `reused[i]` of them from its prefix-cache hit, gathered by index: per layer one
        concatenation of the distinct cache entries hit (beams of one parent share theirs) and
        one gather, not one copy per row."""
        from transformers import DynamicCache

        sources: dict[int, tuple[int, list]] = {}  # entry storage -> (longest length used, kv)
        for (_, kv), r in zip(hits, reused):
            if r:
                key = kv[0][0].data_ptr()
                if key not in sources or sources[key][0] < r:
                    sources[key] = (r, kv)
        offsets, total = {}, 0
        for key, (r, _) in sources.items():
            offsets[key], total = total, total + r
        index = torch.full((len(hits), before), total, dtype=torch.long)  # `total`: a zero position
        for i, ((_, kv), r) in enumerate(zip(hits, reused)):
            if r:
                o = offsets[kv[0][0].data_ptr()]
                index[i, before - r:] = torch.arange(o, o + r)
        index = index.to(self.device)
        cache = DynamicCache()
        layers = next(iter(sources.values()))[1]
        for layer in range(len(layers)):
            pair = []
            for which in (0, 1):
                pieces = [kv[layer][which][:, :r] for r, kv in sources.values()]
                zero = torch.zeros_like(pieces[0][:, :1])
                flat = torch.cat([*pieces, zero], dim=1)  # [heads, total + 1, dim]
                pair.append(flat[:, index].transpose(0, 1).contiguous())  # [rows, heads, before, dim]
            cache.update(pair[0], pair[1], layer)
        return cache

    def _remember(self, past, j: int, width: int, ids: list[int]) -> None:
        """Cache the KV of a finished row (its prompt and all but its last, never-fed token).

        Rows are left-padded, so the row's positions are the last len(ids) of the cache's
        `width`: a slice, copied by the prefix cache only if it keeps it."""
        if self.prefix is None:
            return
        start = width - len(ids)
        self.prefix.insert(ids, [(k[j, :, start:], v[j, :, start:]) for k, v in self._layers(past)])

    @staticmethod
    def _layers(cache) -> list[tuple[torch.Tensor, torch.Tensor]]:
        if hasattr(cache, "layers"):
            return [(layer.keys, layer.values) for layer in cache.layers]
        return list(zip(cache.key_cache, cache.value_cache))  # transformers < 4.56

    def _generate_batch(self, encoded: list[list[int]], n: int, temperature: float, top_p: float,
                        max_tokens: int, stop: tuple[str, ...], seeds: list[int] | None
                        ) -> tuple[list[list[Completion]], list[list[int]]]:
        """Each prompt's n completions, and every row's generated token ids (row r sampled
        with the uniforms of `seeds[r]`)."""
        past, logits, mask = self._prefill(encoded)
        if n > 1:  # one prefill per prompt; its n samples share the KV cache
            past.batch_repeat_interleave(n)
            logits, mask = logits.repeat_interleave(n, 0), mask.repeat_interleave(n, 0)
        next_pos = mask.sum(-1)
        rows = len(encoded) * n
        uniforms = row_uniforms(seeds, max_tokens, self.device) if seeds is not None else None
        alive = list(range(rows))
        tokens: list[list[int]] = [[] for _ in range(rows)]
        logprobs = [0.0] * rows
        finish = ["length"] * rows
        stop_window = max((len(s) for s in stop), default=0) + 2
        for step in range(max_tokens):
            u = uniforms[:, step] if uniforms is not None else None
            picked, picked_lp = self._pick(logits, temperature, top_p, u)
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
                self._remember(past, j, mask.shape[1], encoded[alive[j] // n] + tokens[alive[j]][:-1])
            if last:
                break
            if len(keep) < len(alive):  # drop finished rows so the rest decode faster
                index = torch.tensor(keep, device=self.device)
                past.batch_select_indices(index)
                picked, mask, next_pos = picked[index], mask[index], next_pos[index]
                uniforms = uniforms[index] if uniforms is not None else None
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
              u: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """Next tokens (argmax at temperature 0, else nucleus sampling by inverting each row's
        CDF at its own uniform `u`) and their log-probs."""
        logp = torch.log_softmax(logits.float(), dim=-1)
        if temperature <= 0:
            picked = logp.argmax(-1)
        else:
            probs = torch.softmax(logits.float() / temperature, dim=-1)
            order = None
            if top_p < 1.0:
                probs, order = probs.sort(-1, descending=True)
                outside = probs.cumsum(-1) - probs > top_p  # keep the smallest set >= top_p
                probs = probs.masked_fill(outside, 0.0)
            cdf = probs.cumsum(-1)
            target = (u.to(cdf.dtype) * cdf[:, -1])[:, None]
            picked = torch.searchsorted(cdf, target, right=True).squeeze(-1)
            # u * total can round up to total: never past the last token with any probability
            last = cdf.shape[-1] - 1 - (probs > 0).flip(-1).int().argmax(-1)
            picked = torch.minimum(picked, last)
            if order is not None:
                picked = order.gather(-1, picked[:, None]).squeeze(-1)
        return picked, logp.gather(-1, picked[:, None]).squeeze(-1)
