"""The vllm backend's pure parts, in any environment (vLLM itself is not needed here):
seed spacing, config checks, RequestOutput → Completion/Cost, the parameter count, the registry."""
from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from harness.backends.vllm import (SEED_STRIDE, VLLMConfig, completions_of, request_seeds,
                                   safetensors_params, token_counts)
from harness.config import make_config
from harness.registry import ConfigError

HAVE_VLLM = importlib.util.find_spec("vllm") is not None


def test_request_seeds_never_share_a_sample_seed() -> None:
    # vLLM seeds sample i with seed + i: step search's calls seed*1000 + depth would share
    # streams on plain seeds; here every (call seed, prompt, sample) gets its own seed.
    for n in (1, 3, 64):
        samples = [base + i for call_seed in range(1000, 1040) for base in request_seeds(call_seed, 5, n)
                   for i in range(n)]
        assert len(set(samples)) == len(samples)
        assert all(0 <= s < 2**63 for s in samples)
    assert request_seeds(7, 4, 3) == request_seeds(7, 4, 3)                    # reproducible
    assert len(set(request_seeds(7, 4, 3))) == 4                               # prompts differ
    assert set(request_seeds(7, 4, 3)).isdisjoint(request_seeds(8, 4, 3))      # seeds differ
    assert request_seeds(None, 3, 2) == [None, None, None]


def test_request_seeds_blocks_are_disjoint_for_consecutive_call_seeds() -> None:
    n = 16
    blocks = [range(b, b + n) for s in range(200) for b in request_seeds(s, 3, n)]
    starts = sorted(b.start for b in blocks)
    assert all(b - a >= n for a, b in zip(starts, starts[1:]))


def test_request_seeds_refuses_n_beyond_the_stride() -> None:
    with pytest.raises(ValueError, match="n must be"):
        request_seeds(0, 1, SEED_STRIDE + 1)


@pytest.mark.parametrize("field,value", [("tensor_parallel_size", 0), ("gpu_memory_utilization", 0.0),
                                         ("gpu_memory_utilization", 1.5), ("max_model_len", 0),
                                         ("block_size", 0)])
def test_config_errors_name_the_field(field: str, value: object) -> None:
    with pytest.raises(ConfigError, match=field):
        make_config(VLLMConfig, {field: value}, "checkpoints[0].params")


def test_config_rejects_unknown_fields_and_wrong_types() -> None:
    with pytest.raises(ConfigError, match="tensor_parallel"):
        make_config(VLLMConfig, {"tensor_parallel": 2}, "checkpoints[0].params")
    with pytest.raises(ConfigError, match="dtype"):
        make_config(VLLMConfig, {"dtype": "float64"}, "checkpoints[0].params")
    cfg = make_config(VLLMConfig, {"tensor_parallel_size": 2, "enforce_eager": True}, "p")
    assert cfg.tensor_parallel_size == 2 and cfg.enforce_eager


def _outputs_module():
    """vLLM's real output dataclasses where vLLM is installed; else stand-ins with their fields."""
    if HAVE_VLLM:
        from vllm.outputs import CompletionOutput, RequestOutput

        def completion(**kw):
            return CompletionOutput(logprobs=None, **kw)

        def request(**kw):
            return RequestOutput(request_id="0", prompt=None, prompt_logprobs=None, finished=True, **kw)

        return completion, request
    return (lambda **kw: SimpleNamespace(**kw)), (lambda **kw: SimpleNamespace(**kw))


def test_request_output_becomes_completions_and_counts() -> None:
    completion, request = _outputs_module()
    outs = [completion(index=1, text="12", token_ids=[5, 6, 7], cumulative_logprob=-1.5,
                       finish_reason="stop", stop_reason="\n"),
            completion(index=0, text="9 9", token_ids=[4, 4, 4, 4], cumulative_logprob=-0.5,
                       finish_reason="length", stop_reason=None),
            completion(index=2, text="3", token_ids=[8, 2], cumulative_logprob=None,
                       finish_reason="stop", stop_reason=None)]
    out = request(prompt_token_ids=list(range(40)), outputs=outs, num_cached_tokens=32)
    comps = completions_of(out)
    assert [c.text for c in comps] == ["9 9", "12", "3"]           # in sample order
    assert [c.tokens for c in comps] == [4, 3, 2]
    assert [c.finish for c in comps] == ["length", "stop", "stop"]
    assert [c.stop_string for c in comps] == [None, "\n", None]    # EOS: no stop string
    assert [c.logprob for c in comps] == [-0.5, -1.5, None]
    assert token_counts([out]) == (8, 32, 9)
    # Another sample of the same prompt: its prompt counts as cached (one shared prefill, as hf).
    again = request(prompt_token_ids=list(range(40)), outputs=outs[:1], num_cached_tokens=None)
    assert token_counts([out, again]) == (8, 32 + 40, 9 + 3)


def test_stop_token_id_is_not_a_stop_string() -> None:
    completion, request = _outputs_module()
    out = request(prompt_token_ids=[1], num_cached_tokens=0,
                  outputs=[completion(index=0, text="x", token_ids=[9, 50], cumulative_logprob=-1.0,
                                      finish_reason="stop", stop_reason=50)])
    (c,) = completions_of(out)
    assert c.finish == "stop" and c.stop_string is None and c.tokens == 2


def test_params_from_safetensors_headers_match_the_model(tiny_ckpt: Path) -> None:
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_ckpt)
    assert safetensors_params(tiny_ckpt) == sum(p.numel() for p in model.parameters())


def test_a_checkpoint_without_safetensors_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="safetensors"):
        safetensors_params(tmp_path)


def test_importing_thinkbench_never_imports_vllm_and_a_missing_vllm_says_how_to_install() -> None:
    # A fresh interpreter: this module has imported harness.backends.vllm (registering it).
    probe = ("import sys\n"
             "from harness.registry import BACKENDS, ConfigError, load_plugins\n"
             "load_plugins()\n"
             "assert 'vllm' in BACKENDS.names() and 'vllm' not in sys.modules\n"
             "try:\n    BACKENDS.get('vllm')\nexcept ConfigError as e:\n    print(e)\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300,
                          cwd=Path(__file__).resolve().parents[1])
    assert done.returncode == 0, done.stderr[-2000:]
    if HAVE_VLLM:
        assert done.stdout == ""
    else:
        assert "backend 'vllm' needs the optional package vllm: pip install 'thinkbench[vllm]'" in done.stdout


def test_pool_cost_of_per_sample_requests_does_not_depend_on_the_pool_size() -> None:
    """k samples drawn from a pool cost what k samples drawn alone cost, whatever the pool's size
    (was: k/n of the pool, so budget 1 got cheaper when a matrix added budget 64), with or
    without prefix-cache hits on the extra samples."""
    from harness.compute import inference_cost
    from harness.methods import cost_at_k

    completion, request = _outputs_module()

    def pool(n: int, length: int, hit: int) -> object:
        outs = [request(prompt_token_ids=list(range(length)), num_cached_tokens=0 if i == 0 else hit,
                        outputs=[completion(index=0, text="x", token_ids=[1] * 10, cumulative_logprob=-1.0,
                                            finish_reason="stop", stop_reason=None)]) for i in range(n)]
        return inference_cost(1000, *token_counts(outs), 2.0)

    for length, hit in ((11, 0), (200, 192)):  # nothing cached (CPU block 128); whole blocks cached
        ones = [cost_at_k(pool(n, length, hit), n, 1) for n in (4, 16)]
        assert all((c.prompt_tokens, c.cached_tokens, c.generated_tokens) == (length, 0, 10) for c in ones)
        assert all(c.flops == pytest.approx(2 * 1000 * (length + 10)) for c in ones)
        two = cost_at_k(pool(16, length, hit), 16, 2)
        assert (two.prompt_tokens, two.cached_tokens, two.generated_tokens) == (length, length, 20)
    assert cost_at_k(pool(4, 11, 0), 4, 4) == pool(4, 11, 0)
