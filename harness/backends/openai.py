"""`openai` policy: any OpenAI-compatible server (vLLM's or SGLang's `serve`, `thinkbench serve`,
a hosted API) through the official `openai` client.

Why the official client rather than urllib: its retries are what a server's rate limiter
expects (exponential backoff from 0.5 s to 8 s with jitter, `Retry-After` honoured, on 408,
409, 429, 5xx and connection errors), its errors are typed (401/403/404/connection), and it is
what users already point at these servers. It is an optional extra (`thinkbench[openai]`),
imported only when a matrix names this backend.

One request per prompt (its `n` samples share it), sent by `max_concurrency` threads: usage
is reported per request, so every prompt gets its own exact Cost. Token accounting follows the
`hf` backend: `prompt_tokens` computed = usage.prompt_tokens − cached_tokens (the server's
`prompt_tokens_details.cached_tokens`, 0 when it does not say), and the other n−1 samples'
copies of the prompt count as cached. FLOPs = 2 · `params` · computed tokens; a hosted model
has no weights to count, so `params` comes from the config and 0 means FLOPs are not counted.

Seeds: each request's seed hashes the call's seed and the prompt itself (`request_seed`), so a
prompt gets the same seed whichever prompts share the call. Whether its samples then repeat is
the server's: vLLM's server and `thinkbench serve` sample a seeded request from its own
generator; OpenAI's hosted API only tries (`seed` is best effort there). Rows say so in
`backend_config` (`seeds`).
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

import openai

from harness.compute import inference_cost
from harness.contracts import BackendConfig, Completion, Cost, PolicyBase, plain_text
from harness.registry import BACKENDS, ConfigError


@dataclass(frozen=True)
class OpenAIConfig(BackendConfig):
    """Knobs of the `openai` backend (a checkpoint's `params:` in a matrix). The checkpoint's
    `path` is the model name sent to the server unless `model` is set."""

    local_checkpoint = False  # the path names a served model, not a directory here

    base_url: str = "http://127.0.0.1:8000/v1"
    # The key comes from the environment only: a matrix file is copied into its run directory
    # (matrix.yaml) and shown in the report, so a key written there would leak.
    api_key_env: str | None = None    # name of the environment variable holding the key
    api_key: str | None = None        # refused (see validate): named so the error can say why
    model: str | None = None          # default: the checkpoint's path as written
    # Chat endpoint, as `hf`'s chat_template: a string prompt is one user turn. False: the
    # completions endpoint, messages run together (what `hf` does without a template).
    chat: bool = False
    # How a partial assistant turn (step search) is continued in chat mode:
    # continue_final_message: the chat endpoint with vLLM's extra body fields
    #   {continue_final_message: true, add_generation_prompt: false} (vLLM, SGLang, thinkbench serve);
    # completions: rendered here with the model's chat template (`tokenizer`, needs transformers)
    #   and sent as token ids to the completions endpoint (any server that has one).
    partial: Literal["continue_final_message", "completions"] = "continue_final_message"
    tokenizer: str | None = None      # partial=completions: tokenizer dir or hub id (default: the model name)
    logprobs: bool = False            # ask for token log-probs (fills Completion.logprob and .tokens)
    max_concurrency: int = 8          # requests in flight at once
    timeout: float = 600.0            # seconds per request
    retries: int = 3                  # retries after the first try (429, 5xx, connection errors)
    params: float = 0.0               # model parameters for FLOPs (e.g. 1.5e9); 0: not counted
    # POST <server>/reset_prefix_cache at each cell (vLLM dev mode, thinkbench serve), so that a
    # cell's cached_tokens never depend on what the server ran before it.
    reset_prefix_cache: bool = False

    def validate(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must start with http:// or https://, got {self.base_url!r}")
        if self.max_concurrency < 1 or self.retries < 0 or self.timeout <= 0 or self.params < 0:
            raise ValueError("max_concurrency must be >= 1, retries >= 0, timeout > 0 and params >= 0")
        if self.api_key is not None:
            raise ValueError("api_key: a key written in a matrix is copied into the run directory "
                             "(matrix.yaml) and the report; put it in an environment variable and name "
                             "that variable with api_key_env")


def request_seeds(seed: int | None, prompts: Sequence[str | list[dict]]) -> list[int | None]:
    """The seed of each prompt's request: a hash of the call's seed, the prompt and how many
    identical prompts came before it in the call. Distinct per prompt (one seed for every
    request would give different prompts the same random draws on a server with per-request
    generators), far apart (vLLM seeds sample j of a request with seed + j), and independent of
    the call's other prompts."""
    if seed is None:
        return [None] * len(prompts)
    seen: dict[str, int] = {}
    out = []
    for prompt in prompts:
        key = json.dumps(prompt, sort_keys=True)
        name = f"{seed}/{seen.get(key, 0)}/{key}"
        seen[key] = seen.get(key, 0) + 1
        out.append(int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "little") >> 1)
    return out


@BACKENDS.register("openai", config=OpenAIConfig)
class OpenAIPolicy(PolicyBase):
    """A model behind an OpenAI-compatible HTTP API."""

    def __init__(self, path: str, cfg: OpenAIConfig | None = None) -> None:
        cfg = cfg or OpenAIConfig()
        self.cfg = cfg
        self.model = cfg.model or str(path)
        self.params = int(cfg.params)
        if self.params == 0:
            print(f"thinkbench: note: openai backend {self.model!r} has params: 0, so FLOPs are not counted "
                  "(set params: to its parameter count, e.g. 1.5e9)", file=sys.stderr)
        self.client = openai.OpenAI(base_url=cfg.base_url, api_key=self._key(), timeout=cfg.timeout,
                                    max_retries=cfg.retries)
        self._tokenizer = None
        self._check_model()

    def _key(self) -> str:
        if self.cfg.api_key_env:
            key = os.environ.get(self.cfg.api_key_env)
            if not key:
                raise ConfigError(f"openai backend: environment variable {self.cfg.api_key_env} "
                                  "(api_key_env) is not set")
            return key
        return "EMPTY"  # servers without auth ignore it; the client insists on one

    def settings(self) -> dict[str, object]:
        return {"model": self.model, "flops_counted": self.params > 0,
                "seeds": "per request, honoured by the server or not (OpenAI's API: best effort)"}

    # ── errors ───────────────────────────────────────────────────────────────────────────────

    def _explain(self, e: Exception) -> Exception:
        """One line for what the user must fix (ConfigError), else the server's message."""
        where = self.cfg.base_url
        if isinstance(e, openai.APITimeoutError):
            return ConfigError(f"openai backend: {where} did not answer within timeout={self.cfg.timeout:g} s "
                               f"({self.cfg.retries} retries)")
        if isinstance(e, openai.APIConnectionError):
            cause = e.__cause__ or e
            return ConfigError(f"openai backend: cannot reach {where} ({type(cause).__name__}: "
                               f"{str(cause).splitlines()[0] if str(cause) else 'no answer'}) after "
                               f"{self.cfg.retries} retries; is the server running?")
        if isinstance(e, (openai.AuthenticationError, openai.PermissionDeniedError)):
            how = f"api_key_env={self.cfg.api_key_env}" if self.cfg.api_key_env else "no key set: use api_key_env"
            return ConfigError(f"openai backend: {where} refused the API key (HTTP {e.status_code}: "
                               f"{_message(e)}; {how})")
        if isinstance(e, openai.NotFoundError):
            return ConfigError(f"openai backend: {where}: HTTP 404 for model {self.model!r} ({_message(e)})")
        if isinstance(e, openai.APIStatusError):
            return RuntimeError(f"openai backend: {where}: HTTP {e.status_code}: {_message(e)}")
        return e

    def _check_model(self) -> None:
        """Fail early, with one line, on a server that is down, a refused key or a wrong name."""
        try:
            names = [m.id for m in self.client.models.list()]
        except openai.NotFoundError:
            return  # a server without /models: the first request will tell
        except openai.OpenAIError as e:
            raise self._explain(e) from None
        if names and self.model not in names:
            raise ConfigError(f"openai backend: {self.cfg.base_url} does not serve model {self.model!r} "
                              f"(it serves: {', '.join(names)})")

    def reset_cache(self) -> None:
        """Ask the server to forget its prefix cache (`reset_prefix_cache: true`)."""
        if not self.cfg.reset_prefix_cache:
            return
        root = self.cfg.base_url.rstrip("/").removesuffix("/v1")
        req = urllib.request.Request(f"{root}/reset_prefix_cache", method="POST", data=b"",
                                     headers={"Authorization": f"Bearer {self._key()}"})
        try:
            with urllib.request.urlopen(req, timeout=self.cfg.timeout):
                pass
        except urllib.error.HTTPError as e:
            raise ConfigError(f"openai backend: {root}/reset_prefix_cache answered HTTP {e.code}; "
                              "set reset_prefix_cache: false for this server") from None
        except OSError as e:
            raise ConfigError(f"openai backend: cannot reach {root}/reset_prefix_cache ({e})") from None

    # ── generation ───────────────────────────────────────────────────────────────────────────

    def generate(self, prompts: Sequence[str | list[dict]], *, n: int = 1, temperature: float = 0.0,
                 top_p: float = 1.0, max_tokens: int = 256, stop: Sequence[str] = (),
                 seed: int | None = None) -> tuple[list[list[Completion]], list[Cost]]:
        """n completions for each prompt, one request per prompt, `max_concurrency` at once."""
        t0 = time.perf_counter()
        sampling = {"n": n, "temperature": temperature, "top_p": top_p, "max_tokens": max_tokens}
        if stop:
            sampling["stop"] = list(stop)
        seeds = request_seeds(seed, prompts)

        def one(i: int) -> tuple[list[Completion], Any, float]:
            started = time.perf_counter()
            try:
                body = sampling if seed is None else sampling | {"seed": seeds[i]}
                comps, usage = self._request(prompts[i], body, tuple(stop))
            except openai.OpenAIError as e:
                raise self._explain(e) from None
            return comps, usage, time.perf_counter() - started

        with ThreadPoolExecutor(min(self.cfg.max_concurrency, max(len(prompts), 1))) as pool:
            results = list(pool.map(one, range(len(prompts))))
        # Wall time: the call's, shared out in proportion to each request's own latency.
        wall, busy = time.perf_counter() - t0, sum(r[2] for r in results) or 1.0
        outs, costs = [], []
        for comps, usage, latency in results:
            prompt, cached, generated = _usage(usage)
            outs.append(comps)
            costs.append(inference_cost(self.params, prompt - cached, cached + prompt * (n - 1), generated,
                                        wall * latency / busy))
        return outs, costs

    def _request(self, prompt: str | list[dict], body: dict, stop: tuple[str, ...]
                 ) -> tuple[list[Completion], Any]:
        """One prompt's request: the endpoint and body its form and the config call for."""
        if not self.cfg.chat:
            return self._completions(plain_text(prompt), body, stop)
        messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else list(prompt)
        partial = messages[-1]["role"] == "assistant"
        if partial and self.cfg.partial == "completions":
            from harness.backends.hf import chat_ids  # transformers: only in this mode

            return self._completions(chat_ids(self._chat_tokenizer(), messages), body, stop)
        body = dict(body)
        if self.cfg.logprobs:
            body["logprobs"] = True
        if partial:
            body["extra_body"] = {"continue_final_message": True, "add_generation_prompt": False}
        response = self.client.chat.completions.create(model=self.model, messages=messages, **body)
        choices = sorted(response.choices, key=lambda c: c.index)
        lps = [[t.logprob for t in c.logprobs.content] if c.logprobs and c.logprobs.content else None
               for c in choices]
        return _completions([c.message.content or "" for c in choices], choices, lps, response.usage, stop), \
            response.usage

    def _completions(self, prompt: str | list[int], body: dict, stop: tuple[str, ...]
                     ) -> tuple[list[Completion], Any]:
        if self.cfg.logprobs:
            body = body | {"logprobs": 0}  # the sampled tokens' log-probs, no alternatives
        response = self.client.completions.create(model=self.model, prompt=prompt, **body)
        choices = sorted(response.choices, key=lambda c: c.index)
        lps = [list(c.logprobs.token_logprobs) if c.logprobs and c.logprobs.token_logprobs else None
               for c in choices]
        return _completions([c.text for c in choices], choices, lps, response.usage, stop), response.usage

    def _chat_tokenizer(self):
        if self._tokenizer is None:
            from transformers import AutoTokenizer

            name = self.cfg.tokenizer or self.model
            try:
                self._tokenizer = AutoTokenizer.from_pretrained(name)
            except Exception as e:  # noqa: BLE001 - a missing or unreadable tokenizer is the user's to fix
                raise ConfigError(f"openai backend: partial: completions needs the model's tokenizer; "
                                  f"{name!r} could not be loaded ({type(e).__name__}); set tokenizer:") from None
            if getattr(self._tokenizer, "chat_template", None) is None:
                raise ConfigError(f"openai backend: tokenizer {name!r} has no chat template")
        return self._tokenizer


def _message(e: Exception) -> str:
    """The server's error message (OpenAI's {"error": {"message"}} or vLLM's {"message"})."""
    body = getattr(e, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
        if isinstance(inner, str):
            return inner
    return str(getattr(e, "message", e)).splitlines()[0]


def _usage(usage: Any) -> tuple[int, int, int]:
    """(prompt, cached, completion) tokens of a response's usage (cached 0 when not given)."""
    if usage is None:
        raise RuntimeError("openai backend: the server's response has no usage; token accounting needs it")
    details = getattr(usage, "prompt_tokens_details", None)
    cached = getattr(details, "cached_tokens", None) if details is not None else None
    return int(usage.prompt_tokens), int(cached or 0), int(usage.completion_tokens)


def _completions(texts: list[str], choices: list[Any], logprobs: list[list[float] | None], usage: Any,
                 stop: tuple[str, ...]) -> list[Completion]:
    """Completions from a response's choices.

    Tokens per sample: the number of log-probs when the server returned them; else the usage
    total, which is exact for n = 1 and shared out evenly for n > 1 (OpenAI's usage has no
    per-sample count; the Cost, which sums them, stays exact). The stop string that ended a
    sample: vLLM's `stop_reason` or SGLang's `matched_stop` (None where the server gives neither).
    """
    total = _usage(usage)[2]
    share, extra = divmod(total, max(len(choices), 1))
    out = []
    for j, (text, choice, lps) in enumerate(zip(texts, choices, logprobs)):
        matched = next((s for s in (getattr(choice, "stop_reason", None), getattr(choice, "matched_stop", None))
                        if isinstance(s, str) and s in stop), None)
        tokens = len(lps) if lps is not None else share + (j < extra)
        out.append(Completion(text=text, tokens=tokens,
                              logprob=float(sum(x for x in lps if x is not None)) if lps is not None else None,
                              finish="length" if choice.finish_reason == "length" else "stop",
                              stop_string=matched))
    return out

