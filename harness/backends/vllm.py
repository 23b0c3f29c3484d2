"""`vllm` policy: vLLM's offline engine (`vllm.LLM`) with automatic prefix caching on.

Same Policy contract as `hf`, so every method runs on it unchanged:
- prompts are tokenized HERE with the checkpoint's tokenizer and the one function `hf` uses
  (`encode_prompt`: chat template when configured, a partial assistant turn continued), and
  handed to vLLM as token ids, so both backends compute on identical inputs;
- token accounting comes from vLLM's own `RequestOutput` (prompt ids, `num_cached_tokens`, each
  sample's token ids), i.e. what vLLM actually computed and what its prefix cache served;
- `reset_cache()` empties vLLM's prefix cache, so a cell's cost never depends on what ran before.

Seeds: vLLM seeds sample i of an n-sample request with `seed + i`, so the seeds s and s+1 of two
calls (step search uses `seed*1000 + depth`) would share n-1 random streams. `request_seeds`
spreads every (seed, prompt) to its own block of SEED_STRIDE seeds, so no two requests overlap.
A prompt's block hashes its token ids (and how many identical prompts came before it in the
call), not its position: vLLM samples each request from its own generator, so a prompt's seeded
samples do not depend on the call's other prompts or on batching (as `hf`'s per-row generators).

n samples: vLLM runs an n-sample request as n one-sample child requests seeded `seed + i`, but
the parent's RequestOutput carries only one child's `num_cached_tokens`. So each sample is sent
here as that same child request (n=1, seed base + i): the same samples and the same engine
work, with every child's cache hits counted.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Literal

from harness.compute import inference_cost
from harness.contracts import BackendConfig, Completion, Cost, PolicyBase
from harness.registry import BACKENDS, ConfigError

SEED_STRIDE = 2**20     # seeds reserved per request: n may not exceed it
_SEED_BLOCKS = 2**43    # SEED_STRIDE * _SEED_BLOCKS = 2**63: every seed fits a signed 64-bit int


@dataclass(frozen=True)
class VLLMConfig(BackendConfig):
    """Knobs of the `vllm` backend (a checkpoint's `params:` in a matrix); vLLM's own names."""

    # Explicit, as for `hf`: a base model that ships a template is never silently chat-wrapped.
    chat_template: bool = False
    # auto: float32 on CPU (as `hf`, so greedy answers agree), the checkpoint's own dtype on GPU.
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    tensor_parallel_size: int = 1           # GPUs one model is split over
    gpu_memory_utilization: float = 0.9     # share of each GPU vLLM may take (weights + KV cache)
    max_model_len: int | None = None        # default: the checkpoint's context length
    enforce_eager: bool = False             # True: no CUDA graphs (faster start, slower decode)
    block_size: int | None = None           # KV block (the prefix cache's granularity); None: vLLM's default
    # KV cache size. None: on GPU what gpu_memory_utilization leaves after the weights; on CPU
    # 1 GiB (vLLM's CPU default takes a share of all RAM). VLLM_CPU_KVCACHE_SPACE, where set,
    # wins on CPU (vLLM's own rule); the size used is recorded with the config.
    kv_cache_gb: float | None = None
    logprobs: bool = True                   # the sampled tokens' log-probs (Completion.logprob)

    def gpus(self, cluster_has_gpus: bool) -> float:
        """The GPUs the model is split over; none on a CPU-only cluster (vLLM's CPU build)."""
        return float(self.tensor_parallel_size) if cluster_has_gpus else 0.0

    def validate(self) -> None:
        if self.tensor_parallel_size < 1:
            raise ValueError(f"tensor_parallel_size must be >= 1, got {self.tensor_parallel_size}")
        if not 0.0 < self.gpu_memory_utilization <= 1.0:
            raise ValueError(f"gpu_memory_utilization must be in (0, 1], got {self.gpu_memory_utilization}")
        if self.max_model_len is not None and self.max_model_len < 1:
            raise ValueError(f"max_model_len must be >= 1, got {self.max_model_len}")
        if self.block_size is not None and self.block_size < 1:
            raise ValueError(f"block_size must be >= 1, got {self.block_size}")
        if self.kv_cache_gb is not None and self.kv_cache_gb <= 0:
            raise ValueError(f"kv_cache_gb must be > 0, got {self.kv_cache_gb}")


def request_seeds(seed: int | None, count: int, n: int,
                  keys: Sequence[Sequence[int]] | None = None) -> list[int | None]:
    """vLLM's seed for each of `count` prompts of one call with n samples each.

    `keys` (each prompt's token ids) make a prompt's seed depend on the prompt itself and on how
    many identical prompts precede it, not on its index: the same problem gets the same samples
    whichever prompts share the call. Without keys, the prompt's index in the call is used.
    vLLM gives sample i of a request `seed + i`. Each (seed, prompt key) is hashed to its own
    multiple of SEED_STRIDE, so the n seeds of two requests are disjoint (for any n up to the
    stride) unless two 43-bit hashes collide, and the prompts of one call draw different
    streams (as `hf`'s one generator gives each row its own draws). None stays None: vLLM then
    samples from its unseeded generator, as `hf` does with a random seed."""
    if n > SEED_STRIDE:
        raise ValueError(f"n must be <= {SEED_STRIDE} (seeds reserved per request), got {n}")
    if seed is None:
        return [None] * count
    out = []
    seen: dict[tuple[int, ...], int] = {}
    for i in range(count):
        if keys is None:
            name = f"{seed}:{i}".encode()
        else:
            ids = tuple(keys[i])
            name = f"{seed}:{seen.get(ids, 0)}:".encode() + array("q", ids).tobytes()
            seen[ids] = seen.get(ids, 0) + 1
        digest = hashlib.blake2b(name, digest_size=8).digest()
        out.append(int.from_bytes(digest, "little") % _SEED_BLOCKS * SEED_STRIDE)
    return out


def completions_of(output: Any) -> list[Completion]:
    """A vLLM `RequestOutput`'s samples as Completions, in sample order.

    `finish_reason` is "stop" (EOS, a stop token or a stop string) or "length"; `stop_reason`
    is the matched stop string, an int for a stop token id, None for EOS or length."""
    out = []
    for o in sorted(output.outputs, key=lambda o: o.index):
        finish = o.finish_reason if o.finish_reason in ("stop", "length") else str(o.finish_reason)
        matched = o.stop_reason if isinstance(o.stop_reason, str) else None
        out.append(Completion(text=o.text, tokens=len(o.token_ids), logprob=o.cumulative_logprob,
                              finish=finish, stop_string=matched))
    return out


def token_counts(outputs: Sequence[Any]) -> tuple[int, int, int]:
    """(computed prompt tokens, cached prompt tokens, generated tokens) of one prompt's requests.

    `outputs` are the RequestOutputs of one prompt's samples (one request each). vLLM reports
    `num_cached_tokens`: prompt tokens its prefix cache served (whole KV blocks only, and never
    the last token, whose logits start decoding). The first request's count is the prompt's
    prefill; every other sample's prompt counts as cached, as on `hf`, where n samples share
    one prefill. The engine may recompute a partial block per extra sample (or the whole prompt
    when samples are scheduled together); that is not charged, so a prompt's cost does not
    depend on how the engine scheduled its samples, and k samples of a pool cost what k
    samples drawn alone would (`methods.cost_at_k`)."""
    if not outputs:
        return 0, 0, 0
    first = outputs[0]
    hit = int(first.num_cached_tokens or 0)
    computed = len(first.prompt_token_ids) - hit
    cached = hit + sum(len(out.prompt_token_ids) for out in outputs[1:])
    generated = sum(len(o.token_ids) for out in outputs for o in out.outputs)
    return computed, cached, generated


def safetensors_params(path: str | Path) -> int:
    """Parameter count of a checkpoint from its safetensors headers (no weights read): vLLM
    loads the weights in its own process, and FLOPs need the count."""
    total = 0
    files = sorted(Path(path).glob("*.safetensors"))
    if not files:
        raise ConfigError(f"checkpoint {str(path)!r} has no *.safetensors files (the vllm backend counts "
                          "parameters from them)")
    for file in files:
        with open(file, "rb") as f:
            size = int.from_bytes(f.read(8), "little")
            header = json.loads(f.read(size))
        for name, info in header.items():
            if name != "__metadata__":
                count = 1
                for d in info["shape"]:
                    count *= d
                total += count
    return total


@BACKENDS.register("vllm", config=VLLMConfig)
class VLLMPolicy(PolicyBase):
    """A checkpoint served by an in-process vLLM engine; continues prompts like `hf`."""

    def __init__(self, path: str | Path, cfg: VLLMConfig | None = None) -> None:
        from transformers import AutoConfig, AutoTokenizer, GenerationConfig
        from vllm import LLM
        from vllm.platforms import current_platform

        from harness.backends.hf import stop_token_ids

        cfg = cfg or VLLMConfig()
        self.path = str(path)
        self.cfg = cfg
        self.device = "cpu" if current_platform.is_cpu() else current_platform.device_type
        self.dtype = cfg.dtype if cfg.dtype != "auto" else ("float32" if self.device == "cpu" else "auto")
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(self.path)
            model_config = AutoConfig.from_pretrained(self.path)
            try:
                generation = GenerationConfig.from_pretrained(self.path)
            except OSError:  # no generation_config.json: the model config's EOS is all there is
                generation = None
        except Exception as e:  # noqa: BLE001 - missing or corrupt files: the user's to fix
            first = str(e).splitlines()[0] if str(e) else ""
            raise ConfigError(f"checkpoint {self.path!r} could not be loaded ({type(e).__name__}: {first})") from None
        self.use_chat_template = cfg.chat_template
        if self.use_chat_template and getattr(self.tokenizer, "chat_template", None) is None:
            raise ConfigError(f"checkpoint {self.path!r} has no chat template; set `chat_template: false`")
        # Every id `hf` stops on; vLLM stops on the tokenizer's EOS itself, the rest are passed.
        self.eos_ids = stop_token_ids(self.tokenizer, SimpleNamespace(generation_config=generation,
                                                                      config=model_config))
        self.params = safetensors_params(self.path)
        self.kv_cache_gb = cfg.kv_cache_gb
        if self.device == "cpu" and os.environ.get("VLLM_CPU_KVCACHE_SPACE"):
            self.kv_cache_gb = float(os.environ["VLLM_CPU_KVCACHE_SPACE"])  # vLLM's CPU platform lets it win
        elif self.device == "cpu" and self.kv_cache_gb is None:
            self.kv_cache_gb = 1.0
        extra: dict[str, Any] = {"block_size": cfg.block_size} if cfg.block_size else {}
        if self.kv_cache_gb is not None:
            extra["kv_cache_memory_bytes"] = int(self.kv_cache_gb * 2**30)
        if self.device == "cpu":
            # vLLM's CPU build cannot rewind a seeded request's generator when a chunked
            # prefill discards its sampled token ("CPU Generator does not use offset": the
            # engine dies; met on SmolLM2 with 800 seeded GSM8K requests). Whole prefills only.
            extra["enable_chunked_prefill"] = False
        self.llm = LLM(model=self.path, tokenizer=self.path, dtype=self.dtype,
                       tensor_parallel_size=cfg.tensor_parallel_size,
                       gpu_memory_utilization=cfg.gpu_memory_utilization, max_model_len=cfg.max_model_len,
                       enforce_eager=cfg.enforce_eager, enable_prefix_caching=True, **extra)

    def settings(self) -> dict[str, object]:
        """What this policy resolved its `auto` settings to (recorded on every row)."""
        return {"device": self.device, "dtype": self.dtype, "chat_template": self.use_chat_template,
                "kv_cache_gb": self.kv_cache_gb, "seeds": "per request"}

    def reset_cache(self) -> None:
        """Start a new cell: empty vLLM's prefix cache, so a cell's cost never depends on what
        ran before it."""
        if not self.llm.reset_prefix_cache():
            raise RuntimeError("vLLM refused to reset its prefix cache (requests still running)")

    def encode(self, prompt: str | list[dict]) -> list[int]:
        """Token ids of a prompt, exactly as the `hf` backend makes them."""
        from harness.backends.hf import encode_prompt

        return encode_prompt(self.tokenizer, prompt, self.use_chat_template)

    def sampling_params(self, *, temperature: float, top_p: float, max_tokens: int,
                        stop: Sequence[str], seed: int | None) -> Any:
        """vLLM's SamplingParams for one sample of this policy."""
        from vllm import SamplingParams

        return SamplingParams(n=1, seed=seed, stop=list(stop), max_tokens=max_tokens,
                              temperature=max(temperature, 0.0), top_p=top_p if temperature > 0 else 1.0,
                              include_stop_str_in_output=False, logprobs=0 if self.cfg.logprobs else None,
                              stop_token_ids=sorted(self.eos_ids - {self.tokenizer.eos_token_id}),
                              skip_special_tokens=True)

    def generate(self, prompts: Sequence[str | list[dict]], *, n: int = 1, temperature: float = 0.0,
                 top_p: float = 1.0, max_tokens: int = 256, stop: Sequence[str] = (),
                 seed: int | None = None) -> tuple[list[list[Completion]], list[Cost]]:
        """n completions for each prompt, and what each prompt's completions cost."""
        from vllm.inputs import TokensPrompt

        t0 = time.perf_counter()
        if not prompts:
            return [], []
        encoded = [self.encode(p) for p in prompts]
        # One request per sample, as vLLM's own n > 1 fan-out makes them (see the module doc).
        requests, params = [], []
        for ids, base in zip(encoded, request_seeds(seed, len(encoded), n, encoded)):
            for i in range(n):
                requests.append(TokensPrompt(prompt_token_ids=ids))
                params.append(self.sampling_params(temperature=temperature, top_p=top_p, max_tokens=max_tokens,
                                                   stop=stop, seed=None if base is None else base + i))
        outputs = self.llm.generate(requests, params, use_tqdm=False)
        wall = time.perf_counter() - t0
        per_prompt = [outputs[k * n:(k + 1) * n] for k in range(len(encoded))]
        comps = [[c for o in outs for c in completions_of(o)] for outs in per_prompt]
        counts = [token_counts(outs) for outs in per_prompt]
        # Wall time is shared out in proportion to the tokens each prompt's requests processed.
        work = [c + g for c, _, g in counts]
        costs = [inference_cost(self.params, c, h, g, wall * w / max(sum(work), 1))
                 for (c, h, g), w in zip(counts, work)]
        return comps, costs
