"""`thinkbench serve` and the `openai` backend over real loopback HTTP, on the tiny checkpoint."""
from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

openai = pytest.importorskip("openai")

from harness.backends.hf import HFConfig, HFPolicy  # noqa: E402
from harness.backends.openai import OpenAIConfig, OpenAIPolicy  # noqa: E402
from harness.cli import main as cli  # noqa: E402
from harness.registry import ConfigError  # noqa: E402
from harness.matrix import parse_matrix  # noqa: E402
from harness.runner import run_matrix  # noqa: E402
from harness.serve import Server, ServeConfig  # noqa: E402
from harness.store import load_records  # noqa: E402

PROMPTS = ["4821+1779\n", "1234+5678\n", "9999+1111\n", "5050+4949\n"]
# A chat template the tiny model's character vocabulary can spell: a user turn is its text and
# a newline, so a one-turn chat renders exactly as the completions prompt above.
TEMPLATE = ("{{ bos_token }}{% for m in messages %}{{ m['content'] }}"
            "{% if m['role'] == 'user' %}{{ '\\n' }}{% endif %}{% endfor %}")


@pytest.fixture(scope="module")
def hf(tiny_ckpt: Path) -> HFPolicy:
    policy = HFPolicy(tiny_ckpt, HFConfig(threads=1))
    policy.tokenizer.chat_template = TEMPLATE
    return policy


@pytest.fixture(scope="module")
def server(tiny_ckpt: Path) -> Iterator[Server]:
    srv = Server(tiny_ckpt, ServeConfig(port=0, model_name="tiny", chat_template=TEMPLATE), HFConfig(threads=1))
    srv.start()
    yield srv
    srv.close()


def remote(server: Server, hf: HFPolicy, **kw) -> OpenAIPolicy:
    return OpenAIPolicy("tiny", OpenAIConfig(base_url=server.url, params=float(hf.params), reset_prefix_cache=True, **kw))


def post(server: Server, path: str, body: bytes | dict, headers: dict | None = None) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    conn.request("POST", path, body=data, headers={"Content-Type": "application/json", **(headers or {})})
    response = conn.getresponse()
    out = response.status, json.loads(response.read())
    conn.close()
    return out


def test_openai_backend_gives_the_hf_backends_greedy_completions(server: Server, hf: HFPolicy) -> None:
    policy = remote(server, hf)
    for stop in ((), ("\n",)):
        policy.reset_cache()
        hf.reset_cache()
        got, got_cost = policy.generate(PROMPTS, temperature=0.0, max_tokens=30, stop=stop)
        want, want_cost = hf.generate(PROMPTS, temperature=0.0, max_tokens=30, stop=stop)
        for (g,), (w,) in zip(got, want):
            assert (g.text, g.tokens, g.finish, g.stop_string) == (w.text, w.tokens, w.finish, w.stop_string)
        # Which prompt is charged for the shared BOS depends on arrival order; the totals cannot.
        for name in ("prompt_tokens", "cached_tokens", "generated_tokens", "flops"):
            assert sum(getattr(c, name) for c in got_cost) == sum(getattr(c, name) for c in want_cost), name
        assert all(c.wall_s > 0 for c in got_cost)
    assert any(g.stop_string == "\n" for (g,) in got)  # the stop string that ended it comes back


def test_chat_continues_the_assistant_turn_like_hf(server: Server, hf: HFPolicy, tmp_path: Path) -> None:
    hf.use_chat_template = True
    try:
        prompts = [[{"role": "user", "content": p.strip()}] for p in PROMPTS[:2]]
        prompts.append([{"role": "user", "content": "4821+1779"}, {"role": "assistant", "content": "1+9+0=10\n"}])
        want, _ = hf.generate(prompts, temperature=0.0, max_tokens=25)
    finally:
        hf.use_chat_template = False
    hf.tokenizer.save_pretrained(tmp_path)  # with the template: what `partial: completions` renders with
    for kw in ({"partial": "continue_final_message"}, {"partial": "completions", "tokenizer": str(tmp_path)}):
        got, _ = remote(server, hf, chat=True, **kw).generate(prompts, temperature=0.0, max_tokens=25)
        assert [g.text for (g,) in got] == [w.text for (w,) in want], kw
        assert [g.tokens for (g,) in got] == [w.tokens for (w,) in want], kw
    # A one-turn chat renders as the plain prompt, so it continues identically.
    plain, _ = hf.generate(PROMPTS[:2], temperature=0.0, max_tokens=25)
    assert [p.text for (p,) in plain] == [w.text for (w,) in want[:2]]


def test_sampling_is_seeded_per_request_and_shaped(server: Server, hf: HFPolicy) -> None:
    policy = remote(server, hf)
    a, costs = policy.generate(PROMPTS, n=4, temperature=1.0, max_tokens=20, seed=3)
    b, _ = policy.generate(PROMPTS, n=4, temperature=1.0, max_tokens=20, seed=3)
    c, _ = policy.generate(PROMPTS, n=4, temperature=1.0, max_tokens=20, seed=4)
    texts = lambda outs: [s.text for x in outs for s in x]  # noqa: E731
    assert [len(x) for x in a] == [4] * len(PROMPTS)
    assert texts(a) == texts(b) != texts(c)
    assert len(set(texts(a))) > 3
    for outs, cost in zip(a, costs):  # each sample of a prompt shares its one prefill
        assert cost.generated_tokens == sum(s.tokens for s in outs)
        assert cost.cached_tokens >= 3 * (cost.prompt_tokens + cost.cached_tokens) // 4


def test_concurrent_requests_are_batched(server: Server, hf: HFPolicy) -> None:
    before = server.batcher.batches
    prompts = [f"{1000 + 37 * i}+{2000 + 53 * i}\n" for i in range(8)]
    got, _ = remote(server, hf, max_concurrency=8).generate(prompts, temperature=0.0, max_tokens=30)
    assert server.batcher.batches - before <= 4  # 8 requests, a handful of generate calls
    want, _ = hf.generate(prompts, temperature=0.0, max_tokens=30)
    assert [g.text for (g,) in got] == [w.text for (w,) in want]


def test_the_official_client_works(server: Server, hf: HFPolicy) -> None:
    client = openai.OpenAI(base_url=server.url, api_key="unused", max_retries=0)
    assert [m.id for m in client.models.list()] == ["tiny"]
    ((want,),), _ = hf.generate([PROMPTS[0]], temperature=0.0, max_tokens=6)
    done = client.completions.create(model="tiny", prompt=PROMPTS[0], max_tokens=6, temperature=0.0, n=2)
    assert [c.text for c in done.choices] == [want.text, want.text]
    assert [c.finish_reason for c in done.choices] == ["length", "length"]
    assert done.usage.prompt_tokens == len(hf.encode(PROMPTS[0]))
    assert done.usage.completion_tokens == 12
    assert done.usage.prompt_tokens_details.cached_tokens is not None
    chat = client.chat.completions.create(model="tiny", messages=[{"role": "user", "content": PROMPTS[0].strip()}],
                                          max_tokens=6, temperature=0.0)
    assert chat.choices[0].message.role == "assistant"
    assert chat.choices[0].message.content == want.text
    stopped = client.completions.create(model="tiny", prompt=PROMPTS[0], max_tokens=40, temperature=0.0, stop="=")
    assert stopped.choices[0].finish_reason == "stop" and "=" not in stopped.choices[0].text
    with pytest.raises(openai.NotFoundError, match="does not exist"):
        client.completions.create(model="nope", prompt="1", max_tokens=1)


@pytest.mark.parametrize(("path", "body", "status", "param"), [
    ("/v1/completions", b"{not json", 400, None),
    ("/v1/completions", b"[1, 2]", 400, None),
    ("/v1/completions", {"prompt": "1+1\n"}, 400, "model"),
    ("/v1/completions", {"model": "tiny"}, 400, "prompt"),
    ("/v1/completions", {"model": "other", "prompt": "1"}, 404, "model"),
    ("/v1/completions", {"model": "tiny", "prompt": "1", "max_tokens": "5"}, 400, "max_tokens"),
    ("/v1/completions", {"model": "tiny", "prompt": "1", "max_tokens": 0}, 400, "max_tokens"),
    ("/v1/completions", {"model": "tiny", "prompt": "1", "max_tokens": 10_000}, 400, "max_tokens"),
    ("/v1/completions", {"model": "tiny", "prompt": "1", "n": True}, 400, "n"),
    ("/v1/completions", {"model": "tiny", "prompt": "1", "temperature": -1}, 400, "temperature"),
    ("/v1/completions", {"model": "tiny", "prompt": "1", "stop": [1]}, 400, "stop"),
    ("/v1/completions", {"model": "tiny", "prompt": [99999]}, 400, "prompt"),
    ("/v1/completions", {"model": "tiny", "prompt": "1", "stream": True}, 400, "stream"),
    ("/v1/completions", {"model": "tiny", "prompt": "1", "logprobs": 1}, 400, "logprobs"),
    ("/v1/chat/completions", {"model": "tiny", "messages": "hi"}, 400, "messages"),
    ("/v1/chat/completions", {"model": "tiny", "messages": [{"content": "hi"}]}, 400, "messages[0]"),
    ("/v1/chat/completions", {"model": "tiny", "messages": [{"role": "user", "content": "1"}],
                              "continue_final_message": True}, 400, "continue_final_message"),
    ("/v1/nothing", {}, 404, None),
])
def test_malformed_requests_get_a_clear_4xx_and_the_server_stays_up(server: Server, path: str, body, status: int,
                                                                    param: str | None) -> None:
    code, answer = post(server, path, body)
    assert code == status
    assert answer["error"]["message"] and answer["error"]["param"] == param
    code, answer = post(server, "/v1/completions", {"model": "tiny", "prompt": "12+34\n", "max_tokens": 3})
    assert code == 200 and answer["choices"][0]["finish_reason"] in ("stop", "length")


def test_auth_failure_and_unreachable_server_are_one_line(tiny_ckpt: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    locked = Server(tiny_ckpt, ServeConfig(port=0, model_name="tiny", api_key="s3cret"), HFConfig(threads=1)).start()
    try:
        with pytest.raises(ConfigError, match=r"refused the API key \(HTTP 401: invalid API key"):
            OpenAIPolicy("tiny", OpenAIConfig(base_url=locked.url))
        monkeypatch.setenv("TB_TEST_KEY", "wrong")
        with pytest.raises(ConfigError, match="HTTP 401.*api_key_env=TB_TEST_KEY"):
            OpenAIPolicy("tiny", OpenAIConfig(base_url=locked.url, api_key_env="TB_TEST_KEY"))
        monkeypatch.setenv("TB_TEST_KEY", "s3cret")
        policy = OpenAIPolicy("tiny", OpenAIConfig(base_url=locked.url, api_key_env="TB_TEST_KEY"))
        ((c,),), _ = policy.generate(["12+34\n"], max_tokens=3)
        assert c.tokens == 3 and c.finish == "length"
        with pytest.raises(ConfigError, match="does not serve model 'other' \\(it serves: tiny\\)"):
            OpenAIPolicy("other", OpenAIConfig(base_url=locked.url, api_key_env="TB_TEST_KEY"))
        port = locked.port
    finally:
        locked.close()
    with pytest.raises(ConfigError, match=f"cannot reach http://127.0.0.1:{port}/v1 .*is the server running"):
        OpenAIPolicy("tiny", OpenAIConfig(base_url=f"http://127.0.0.1:{port}/v1", retries=1))
    with pytest.raises(ConfigError, match="environment variable TB_UNSET_KEY"):
        OpenAIPolicy("tiny", OpenAIConfig(base_url=f"http://127.0.0.1:{port}/v1", api_key_env="TB_UNSET_KEY"))


class Flaky:
    """A proxy in front of the real server that answers the first `failures` POSTs with
    `status` (a JSON error, as a loaded server would) and forwards every other request."""

    def __init__(self, target: Server, failures: int, status: int = 503) -> None:
        self.posts, flaky = 0, self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def _relay(self, method: str) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if method == "POST":
                    flaky.posts += 1
                    if flaky.posts <= failures:
                        data = json.dumps({"error": {"message": "overloaded", "type": "server_error"}}).encode()
                        self.send_response(status)
                        self.send_header("Content-Type", "application/json")
                        self.send_header("Content-Length", str(len(data)))
                        self.end_headers()
                        self.wfile.write(data)
                        return
                conn = http.client.HTTPConnection("127.0.0.1", target.port, timeout=60)
                conn.request(method, self.path, body=body or None, headers={"Content-Type": "application/json"})
                answer = conn.getresponse()
                data = answer.read()
                self.send_response(answer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                conn.close()

            def do_GET(self) -> None:  # noqa: N802
                self._relay("GET")

            def do_POST(self) -> None:  # noqa: N802
                self._relay("POST")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.mark.parametrize("status", [503, 429])
def test_retries_after_a_busy_answer(server: Server, hf: HFPolicy, status: int) -> None:
    flaky = Flaky(server, failures=1, status=status)
    try:
        policy = OpenAIPolicy("tiny", OpenAIConfig(base_url=flaky.url, retries=2))
        (got,), _ = policy.generate([PROMPTS[0]], temperature=0.0, max_tokens=10)
        (want,), _ = hf.generate([PROMPTS[0]], temperature=0.0, max_tokens=10)
        assert got[0].text == want[0].text and flaky.posts == 2
    finally:
        flaky.close()
    stuck = Flaky(server, failures=10**6, status=status)
    try:
        policy = OpenAIPolicy("tiny", OpenAIConfig(base_url=stuck.url, retries=1))
        with pytest.raises(RuntimeError, match=f"HTTP {status}: overloaded"):
            policy.generate([PROMPTS[0]], max_tokens=3)
        assert stuck.posts == 2  # the first try and one retry
    finally:
        stuck.close()


def test_a_matrix_runs_unchanged_on_openai_to_serve(server: Server, hf: HFPolicy, tiny_ckpt: Path,
                                                    tmp_path: Path) -> None:
    def matrix(checkpoint: dict):
        return parse_matrix({
            "name": "t", "tasks": [{"name": "addition", "params": {"digits": 4}, "n_problems": 5}],
            "checkpoints": [checkpoint], "methods": ["greedy", {"name": "majority", "budgets": [2]}],
            "generation": {"temperature": 1.0, "max_tokens": 40}, "seeds": [0]}, "t.yaml")

    run_matrix(matrix({"name": "tiny", "path": str(tiny_ckpt)}), tmp_path / "hf", quiet=True)
    served = {"name": "tiny", "path": "tiny", "backend": "openai",
              "params": {"base_url": server.url, "params": float(hf.params), "reset_prefix_cache": True}}
    run_matrix(matrix(served), tmp_path / "openai", quiet=True)
    a, b = (load_records(tmp_path / r) for r in ("hf", "openai"))
    greedy = lambda df: df[df.method == "greedy"].sort_values("problem_id")  # noqa: E731
    assert list(greedy(a).answer) == list(greedy(b).answer)
    assert list(greedy(a).trace) == list(greedy(b).trace)
    for name in ("prompt_tokens", "cached_tokens", "generated_tokens", "flops"):
        assert greedy(a)[name].sum() == greedy(b)[name].sum(), name
    assert len(b[b.method == "majority"]) == 5 and b.error.isna().all()
    assert json.loads(b.backend_config.iloc[0])["model"] == "tiny"


def test_an_api_key_written_in_a_matrix_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """A literal key would be copied into runs/<run>/matrix.yaml and shown in the report (was:
    masked in the records only, while the matrix snapshot kept it): refused, one line, exit 2,
    nothing written."""
    matrix = tmp_path / "m.yaml"
    matrix.write_text("name: t\ntasks: [{name: addition, n_problems: 1}]\nmethods: [greedy]\n"
                      "checkpoints: [{path: tiny, backend: openai, params: {api_key: sk-very-secret}}]\n")
    assert cli(["run", str(matrix), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert "api_key" in err and "api_key_env" in err and "\n" not in err and "sk-very-secret" not in err
    assert not (tmp_path / "run").exists()


def test_serve_command_mistakes_are_one_line(tiny_ckpt: Path, capsys: pytest.CaptureFixture) -> None:
    assert cli(["serve", str(tiny_ckpt), "--chat-template", "/nonexistent/t.jinja"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("thinkbench: error: --chat-template: cannot read /nonexistent/t.jinja") and "\n" not in err
    assert cli(["serve", "/nonexistent/ckpt", "--port", "0"]) == 2
    assert "no such directory" in capsys.readouterr().err
