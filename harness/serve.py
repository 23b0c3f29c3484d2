"""`thinkbench serve`: the `hf` backend behind an OpenAI-compatible HTTP API.

Endpoints: `POST /v1/completions`, `POST /v1/chat/completions`, `GET /v1/models`, `GET /health`
and vLLM's `POST /reset_prefix_cache`. Bound to 127.0.0.1 unless told otherwise.

Why the standard library (`http.server.ThreadingHTTPServer`): the model runs in one worker
thread anyway (one forward pass at a time uses every core), so an async framework would add
a dependency and buy nothing; a thread per connection only parses JSON and waits.

Batching: handler threads put jobs on a queue; the worker takes the first, collects whatever
else arrives within `batch_window_ms`, groups jobs whose sampling settings agree, and runs
each group as one `HFPolicy.generate` call. Jobs that arrive while a batch decodes are taken
together next time. A sampled request with a `seed` decodes alone, so its samples depend on
its seed only (as with vLLM's per-request generators), never on what it was batched with.

Token accounting is the `hf` backend's: `usage.prompt_tokens` counts each prompt once,
`prompt_tokens_details.cached_tokens` the part of it already computed (the ledger of sequences
computed since the last `/reset_prefix_cache`, forgotten past `ledger_sequences`).
"""
from __future__ import annotations

import json
import queue
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from harness.backends.hf import HFConfig, HFPolicy, chat_ids
from harness.contracts import Completion, Cost

MAX_BODY = 32 * 2**20  # bytes; a larger request body is refused (413)


@dataclass(frozen=True)
class ServeConfig:
    """Knobs of `thinkbench serve`."""

    host: str = "127.0.0.1"
    port: int = 8000
    model_name: str = "model"              # the id clients send as `model`
    api_key: str | None = None              # when set, requests need `Authorization: Bearer <key>`
    batch_window_ms: float = 5.0            # how long the worker waits for more requests to batch
    ledger_sequences: int = 100_000         # cached-token accounting forgets past this many sequences
    chat_template: str | None = None        # a Jinja chat template replacing the tokenizer's


class TokenIds(tuple):
    """A prompt already tokenized by the server (passes through `HFPolicy.generate` as is)."""


class ServedPolicy(HFPolicy):
    """The `hf` backend fed token ids: the server renders and tokenizes prompts itself, so
    completions prompts are raw text and chat prompts follow the request's template flags."""

    def encode(self, prompt: Any) -> list[int]:
        return list(prompt) if isinstance(prompt, TokenIds) else super().encode(prompt)


class BadRequest(Exception):
    """A request the server will not run: answered with `status` and OpenAI's error JSON."""

    def __init__(self, message: str, param: str | None = None, status: int = 400,
                 kind: str = "invalid_request_error", code: str | None = None) -> None:
        super().__init__(message)
        self.message, self.param, self.status, self.kind, self.code = message, param, status, kind, code


@dataclass
class Job:
    """One request's prompts and sampling settings, waiting for the worker."""

    ids: list[list[int]]
    n: int
    temperature: float
    top_p: float
    max_tokens: int
    stop: tuple[str, ...]
    seed: int | None
    done: threading.Event = field(default_factory=threading.Event)
    result: tuple[list[list[Completion]], list[Cost]] | None = None
    error: Exception | None = None

    @property
    def solo(self) -> bool:
        """Seeded sampling decodes alone: its random draws must not depend on its batch."""
        return self.temperature > 0 and self.seed is not None

    def key(self) -> tuple:
        """Jobs with equal keys run as one generate call (the seed matters only when sampling)."""
        return (self.n, self.temperature, self.top_p, self.max_tokens, self.stop,
                self.seed if self.temperature > 0 else None)


class Batcher:
    """The one thread that runs the model: collects jobs for a few ms, runs them in groups."""

    def __init__(self, policy: ServedPolicy, window_s: float, ledger_sequences: int) -> None:
        self.policy, self.window_s, self.ledger_sequences = policy, window_s, ledger_sequences
        self.jobs: queue.Queue[Job | None] = queue.Queue()
        self.lock = threading.Lock()  # the model and its caches: generate and reset never overlap
        self.batches = 0
        self.thread = threading.Thread(target=self._loop, name="thinkbench-serve-batcher", daemon=True)
        self.thread.start()

    def submit(self, job: Job) -> Job:
        self.jobs.put(job)
        job.done.wait()
        return job

    def stop(self) -> None:
        self.jobs.put(None)
        self.thread.join(timeout=30)

    def reset(self) -> None:
        with self.lock:
            self.policy.reset_cache()

    def _loop(self) -> None:
        while True:
            first = self.jobs.get()
            if first is None:
                return
            batch, deadline = [first], time.monotonic() + self.window_s
            while (left := deadline - time.monotonic()) > 0:
                try:
                    job = self.jobs.get(timeout=left)
                except queue.Empty:
                    break
                if job is None:
                    self.jobs.put(None)  # stop after this batch
                    break
                batch.append(job)
            groups: dict[tuple, list[Job]] = {}
            for i, job in enumerate(batch):
                groups.setdefault(("solo", i) if job.solo else job.key(), []).append(job)
            for group in groups.values():
                self._run(group)

    def _run(self, group: list[Job]) -> None:
        head = group[0]
        prompts = [TokenIds(ids) for job in group for ids in job.ids]
        try:
            with self.lock:
                outs, costs = self.policy.generate(prompts, n=head.n, temperature=head.temperature, top_p=head.top_p,
                                                   max_tokens=head.max_tokens, stop=head.stop, seed=head.seed)
                self.batches += 1
                if len(self.policy.ledger.sorted) > self.ledger_sequences:  # bound a long-running server's memory
                    self.policy.ledger.clear()
        except Exception as e:  # noqa: BLE001 - the requests fail (500), the server stays up
            for job in group:
                job.error = e
                job.done.set()
            return
        start = 0
        for job in group:
            k = len(job.ids)
            job.result = (outs[start:start + k], costs[start:start + k])
            start += k
            job.done.set()


# ── request validation ───────────────────────────────────────────────────────────────────────

def _get(body: dict, name: str, kinds: tuple[type, ...], default: Any, what: str) -> Any:
    """`body[name]` if it has one of `kinds` (bool is not a number here), else a 400 naming it."""
    value = body.get(name, default)
    if value is None:
        return default
    if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
        raise BadRequest(f"'{name}' must be {what}, got {json.dumps(value)[:80]}", name)
    return value


def _refuse_unsupported(body: dict, chat: bool) -> None:
    """Fields this server cannot honour are refused rather than silently ignored."""
    if body.get("stream"):
        raise BadRequest("streaming is not supported by thinkbench serve; send stream: false", "stream")
    if chat and (body.get("logprobs") or body.get("top_logprobs")) or not chat and body.get("logprobs") is not None:
        raise BadRequest("logprobs are not offered by thinkbench serve", "logprobs")
    if not chat and (body.get("echo") or body.get("suffix")):
        raise BadRequest("echo and suffix are not supported by thinkbench serve", "echo" if body.get("echo") else "suffix")
    for name in ("presence_penalty", "frequency_penalty"):
        if body.get(name) not in (None, 0, 0.0):
            raise BadRequest(f"'{name}' is not supported by thinkbench serve (only 0)", name)
    if body.get("logit_bias"):
        raise BadRequest("'logit_bias' is not supported by thinkbench serve", "logit_bias")
    if body.get("best_of") not in (None, body.get("n", 1)):
        raise BadRequest("'best_of' other than n is not supported by thinkbench serve", "best_of")


def _sampling(body: dict, default_max_tokens: int | None) -> dict:
    n = _get(body, "n", (int,), 1, "an integer >= 1")
    temperature = float(_get(body, "temperature", (int, float), 1.0, "a number >= 0"))
    top_p = float(_get(body, "top_p", (int, float), 1.0, "a number in (0, 1]"))
    max_tokens = _get(body, "max_tokens", (int,), None, "an integer >= 1")
    if max_tokens is None:
        max_tokens = _get(body, "max_completion_tokens", (int,), default_max_tokens, "an integer >= 1")
    stop = body.get("stop")
    stop = [stop] if isinstance(stop, str) else ([] if stop is None else stop)
    if not isinstance(stop, list) or not all(isinstance(s, str) and s for s in stop):
        raise BadRequest("'stop' must be a non-empty string or a list of them", "stop")
    seed = _get(body, "seed", (int,), None, "an integer")
    if n < 1:
        raise BadRequest("'n' must be >= 1", "n")
    if temperature < 0:
        raise BadRequest("'temperature' must be >= 0", "temperature")
    if not 0 < top_p <= 1:
        raise BadRequest("'top_p' must be in (0, 1]", "top_p")
    if max_tokens is not None and max_tokens < 1:
        raise BadRequest("'max_tokens' must be >= 1", "max_tokens")
    return {"n": n, "temperature": temperature, "top_p": top_p, "max_tokens": max_tokens,
            "stop": tuple(stop), "seed": seed}


def _text(content: Any, where: str) -> str:
    """A message's content: a string, or OpenAI's list of text parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list) and all(isinstance(p, dict) and p.get("type") == "text"
                                         and isinstance(p.get("text"), str) for p in content):
        return "".join(p["text"] for p in content)
    raise BadRequest(f"'{where}' must be a string or a list of text parts", where)


# ── the server ───────────────────────────────────────────────────────────────────────────────

class Server:
    """An OpenAI-compatible server over one `hf` policy. `start()` serves in a thread
    (tests, benchmarks); `serve_forever()` in the caller's."""

    def __init__(self, checkpoint: str | Path, cfg: ServeConfig, hf: HFConfig | None = None) -> None:
        self.cfg = cfg
        self.policy = ServedPolicy(checkpoint, hf or HFConfig())
        if cfg.chat_template is not None:
            self.policy.tokenizer.chat_template = cfg.chat_template
        self.context = getattr(self.policy.model.config, "max_position_embeddings", None)
        self.created = int(time.time())
        self.batcher = Batcher(self.policy, cfg.batch_window_ms / 1000, cfg.ledger_sequences)
        self.httpd = ThreadingHTTPServer((cfg.host, cfg.port), _handler(self))
        self.httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://{self.cfg.host}:{self.port}/v1"

    def start(self) -> Server:
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="thinkbench-serve", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        try:
            self.httpd.serve_forever()
        finally:
            self.close()

    def close(self) -> None:
        if self._thread is not None:
            self.httpd.shutdown()
            self._thread.join(timeout=30)
            self._thread = None
        self.httpd.server_close()
        self.batcher.stop()

    # ── endpoints ────────────────────────────────────────────────────────────────────────────

    def models(self) -> dict:
        return {"object": "list", "data": [{"id": self.cfg.model_name, "object": "model", "created": self.created,
                                            "owned_by": "thinkbench", "max_model_len": self.context}]}

    def _model(self, body: dict) -> None:
        model = body.get("model")
        if not isinstance(model, str):
            raise BadRequest("missing field 'model' (a string)" if model is None else "'model' must be a string", "model")
        if model != self.cfg.model_name:
            raise BadRequest(f"The model '{model}' does not exist (this server serves '{self.cfg.model_name}')",
                             "model", status=404, code="model_not_found")

    def _check_room(self, ids: list[list[int]], max_tokens: int) -> None:
        if self.context is None:
            return
        longest = max(len(i) for i in ids)
        if longest + max_tokens > self.context:
            raise BadRequest(f"This model's maximum context length is {self.context} tokens; the prompt has "
                             f"{longest} and max_tokens asks for {max_tokens}", "max_tokens")

    def _default_max_tokens(self, ids: list[list[int]]) -> int:
        """Chat's default max_tokens: the room left in the context (vLLM's default)."""
        if self.context is None:
            raise BadRequest("'max_tokens' is required (the model declares no context length)", "max_tokens")
        return max(1, self.context - max(len(i) for i in ids))

    def completions(self, body: dict) -> dict:
        self._model(body)
        _refuse_unsupported(body, chat=False)
        prompt = body.get("prompt")
        if prompt is None:
            raise BadRequest("missing field 'prompt'", "prompt")
        ids = self._prompt_ids(prompt)
        sampling = _sampling(body, 16)  # OpenAI's default for completions
        self._check_room(ids, sampling["max_tokens"])
        return self._respond("text_completion", "cmpl", ids, sampling,
                             lambda c: {"text": c.text})

    def _prompt_ids(self, prompt: Any) -> list[list[int]]:
        """A completions prompt (text, token ids, or a list of either) as token id lists."""
        vocab = len(self.policy.tokenizer)
        if isinstance(prompt, str):
            prompts: list = [prompt]
        elif isinstance(prompt, list) and prompt and all(isinstance(t, int) and not isinstance(t, bool) for t in prompt):
            prompts = [prompt]
        elif isinstance(prompt, list) and prompt:
            prompts = prompt
        else:
            raise BadRequest("'prompt' must be a string, a list of strings, or token ids", "prompt")
        out = []
        for p in prompts:
            if isinstance(p, str):
                out.append(self.policy.encode(p))  # raw text, as the hf backend without a chat template
            elif isinstance(p, list) and p and all(isinstance(t, int) and not isinstance(t, bool) and 0 <= t < vocab
                                                   for t in p):
                out.append(list(p))
            else:
                raise BadRequest(f"'prompt' must be a string, a list of strings, or token ids in [0, {vocab})", "prompt")
        return out

    def chat(self, body: dict) -> dict:
        self._model(body)
        _refuse_unsupported(body, chat=True)
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise BadRequest("missing field 'messages' (a non-empty list)" if messages is None
                             else "'messages' must be a non-empty list", "messages")
        clean = []
        for i, m in enumerate(messages):
            if not isinstance(m, dict) or not isinstance(m.get("role"), str):
                raise BadRequest(f"'messages[{i}]' must be an object with a string 'role'", f"messages[{i}]")
            clean.append({"role": m["role"], "content": _text(m.get("content", ""), f"messages[{i}].content")})
        add = _get(body, "add_generation_prompt", (bool,), True, "true or false")
        cont = _get(body, "continue_final_message", (bool,), False, "true or false")
        if add and cont:
            raise BadRequest("'continue_final_message' needs 'add_generation_prompt': false", "continue_final_message")
        if cont and clean[-1]["role"] != "assistant":
            raise BadRequest("'continue_final_message' needs a final assistant message", "continue_final_message")
        if getattr(self.policy.tokenizer, "chat_template", None) is None:
            raise BadRequest(f"model '{self.cfg.model_name}' has no chat template: use /v1/completions, "
                             "or start thinkbench serve with --chat-template FILE", "messages")
        try:
            ids = [chat_ids(self.policy.tokenizer, clean, add_generation_prompt=add, continue_final_message=cont)]
        except Exception as e:  # noqa: BLE001 - the template rejected these messages
            raise BadRequest(f"the chat template failed on these messages: {type(e).__name__}: {e}", "messages") from None
        max_given = body.get("max_tokens", body.get("max_completion_tokens"))
        sampling = _sampling(body, None if max_given is not None else self._default_max_tokens(ids))
        self._check_room(ids, sampling["max_tokens"])
        return self._respond("chat.completion", "chatcmpl", ids, sampling,
                             lambda c: {"message": {"role": "assistant", "content": c.text}})

    def _respond(self, kind: str, prefix: str, ids: list[list[int]], sampling: dict, content) -> dict:
        job = self.batcher.submit(Job(ids, **sampling))
        if job.error is not None:
            raise BadRequest(f"generation failed: {type(job.error).__name__}: {job.error}", None, status=500,
                             kind="server_error")
        outs, costs = job.result
        choices, prompt_tokens, cached, generated = [], 0, 0, 0
        for p, (comps, cost) in enumerate(zip(outs, costs)):
            length = len(ids[p])
            prompt_tokens += length
            cached += length - cost.prompt_tokens  # hf's cost: computed = length - reused prefix
            generated += cost.generated_tokens
            for j, c in enumerate(comps):
                choices.append({"index": p * sampling["n"] + j, **content(c), "logprobs": None,
                                "finish_reason": c.finish, "stop_reason": c.stop_string})
        return {"id": f"{prefix}-{uuid.uuid4().hex}", "object": kind, "created": int(time.time()),
                "model": self.cfg.model_name, "choices": choices,
                "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": generated,
                          "total_tokens": prompt_tokens + generated,
                          "prompt_tokens_details": {"cached_tokens": cached}}}


def _handler(server: Server) -> type[BaseHTTPRequestHandler]:
    """The request handler class bound to `server`."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: clients reuse connections
        server_version = "thinkbench-serve"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
            pass  # quiet: one line per request would drown the terminal during a run

        def _send(self, status: int, payload: dict) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _error(self, e: BadRequest) -> None:
            self._send(e.status, {"error": {"message": e.message, "type": e.kind, "param": e.param, "code": e.code}})

        def _authorized(self) -> bool:
            if server.cfg.api_key is None or self.headers.get("Authorization") == f"Bearer {server.cfg.api_key}":
                return True
            self._error(BadRequest("invalid API key: send Authorization: Bearer <key>", None, status=401,
                                   code="invalid_api_key"))
            return False

        def _body(self) -> dict:
            length = self.headers.get("Content-Length")
            if length is None or not length.isdigit():
                raise BadRequest("a JSON body with Content-Length is required", None, status=411)
            if int(length) > MAX_BODY:
                self.close_connection = True  # the unread body must not be parsed as the next request
                raise BadRequest(f"request body over {MAX_BODY} bytes", None, status=413)
            raw = self.rfile.read(int(length))
            try:
                body = json.loads(raw)
            except (UnicodeDecodeError, json.JSONDecodeError) as e:
                raise BadRequest(f"the body is not valid JSON ({e})") from None
            if not isinstance(body, dict):
                raise BadRequest("the body must be a JSON object")
            return body

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            path = self.path.split("?", 1)[0].rstrip("/")
            if path == "/health":
                self._send(200, {"status": "ok"})
            elif path == "/v1/models":
                if self._authorized():
                    self._send(200, server.models())
            else:
                self._error(BadRequest(f"no such endpoint: GET {path}", None, status=404))

        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            path = self.path.split("?", 1)[0].rstrip("/")
            routes = {"/v1/completions": server.completions, "/v1/chat/completions": server.chat}
            try:
                if path == "/reset_prefix_cache":
                    self._drain()
                    if self._authorized():
                        server.batcher.reset()
                        self._send(200, {"status": "ok"})
                    return
                if path not in routes:
                    self._drain()
                    raise BadRequest(f"no such endpoint: POST {path}", None, status=404)
                if not self._authorized():
                    self._drain()
                    return
                self._send(200, routes[path](self._body()))
            except BadRequest as e:
                self._error(e)
            except Exception as e:  # noqa: BLE001 - one request fails, the server stays up
                self._error(BadRequest(f"{type(e).__name__}: {e}", None, status=500, kind="server_error"))

        def _drain(self) -> None:
            """Read an unused body, so that a kept-alive connection stays in step."""
            length = self.headers.get("Content-Length", "0")
            if length.isdigit() and int(length) <= MAX_BODY:
                self.rfile.read(int(length))
            else:
                self.close_connection = True

    return Handler


def serve(checkpoint: str | Path, cfg: ServeConfig, hf: HFConfig | None = None,
          out: Any = sys.stderr) -> None:
    """Load the checkpoint and serve until interrupted."""
    server = Server(checkpoint, cfg, hf)
    print(f"thinkbench serve: {cfg.model_name!r} ({server.policy.params:,} params, {server.policy.device}) "
          f"on {server.url}", file=out, flush=True)
    server.serve_forever()

