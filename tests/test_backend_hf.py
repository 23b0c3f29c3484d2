"""The hf backend on a real (tiny, trained) checkpoint."""
from pathlib import Path

import pytest
import torch

from harness.backends.hf import HFConfig, HFPolicy

PROMPTS = ["4821+1779\n", "1234+5678\n", "9999+1111\n"]


@pytest.fixture(scope="module")
def policy(tiny_ckpt: Path) -> HFPolicy:
    return HFPolicy(tiny_ckpt)


def test_checkpoint_is_a_standard_hf_directory(tiny_ckpt: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    for name in ("config.json", "model.safetensors", "tokenizer.json", "thinkbench.json"):
        assert (tiny_ckpt / name).is_file(), name
    model = AutoModelForCausalLM.from_pretrained(tiny_ckpt)
    tok = AutoTokenizer.from_pretrained(tiny_ckpt)
    assert 100_000 < sum(p.numel() for p in model.parameters()) < 5_000_000
    assert tok.decode(tok("12+34\n")["input_ids"], skip_special_tokens=True) == "12+34\n"


def test_greedy_matches_transformers_generate(policy: HFPolicy) -> None:
    outs, _ = policy.generate(PROMPTS, temperature=0.0, max_tokens=30)
    for prompt, (completion,) in zip(PROMPTS, outs):
        ids = torch.tensor([policy.encode(prompt)])
        ref = policy.model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=30,
                                    do_sample=False, eos_token_id=policy.tokenizer.eos_token_id,
                                    pad_token_id=policy.pad_id)
        expected = policy.tokenizer.decode(ref[0, ids.shape[1]:], skip_special_tokens=True)
        assert completion.text == expected


def test_sampling_is_seeded_and_shaped(policy: HFPolicy) -> None:
    a, _ = policy.generate(PROMPTS, n=5, temperature=1.0, max_tokens=40, seed=7)
    b, _ = policy.generate(PROMPTS, n=5, temperature=1.0, max_tokens=40, seed=7)
    c, _ = policy.generate(PROMPTS, n=5, temperature=1.0, max_tokens=40, seed=8)
    assert [len(x) for x in a] == [5, 5, 5]
    texts = lambda outs: [s.text for x in outs for s in x]  # noqa: E731
    assert texts(a) == texts(b)
    assert texts(a) != texts(c)
    assert len(set(texts(a))) > 3  # temperature 1 on an undertrained model varies


def test_token_accounting(tiny_ckpt: Path) -> None:
    policy = HFPolicy(tiny_ckpt, HFConfig(prefix_cache_mb=0))
    outs, costs = policy.generate(PROMPTS, n=4, temperature=1.0, max_tokens=12, seed=0)
    for prompt, comps, cost in zip(PROMPTS, outs, costs):
        length = len(policy.encode(prompt))
        assert cost.prompt_tokens == length          # prefilled once...
        assert cost.cached_tokens == 3 * length      # ...and shared by the other 3 samples
        assert cost.generated_tokens == sum(c.tokens for c in comps)
        assert cost.flops == 2 * policy.params * (length + cost.generated_tokens)
        assert all(1 <= c.tokens <= 12 for c in comps)
        assert all(c.finish in ("stop", "length") for c in comps)
        assert all(c.finish == "stop" or c.tokens == 12 for c in comps)


def test_stop_strings_and_length_limit(policy: HFPolicy) -> None:
    outs, _ = policy.generate(PROMPTS, temperature=0.0, max_tokens=40, stop=["\n"])
    for (c,) in outs:
        assert "\n" not in c.text and c.finish == "stop"
    outs, _ = policy.generate(PROMPTS, temperature=0.0, max_tokens=3)
    assert all(c.tokens == 3 and c.finish == "length" for (c,) in outs)


def test_top_p_tiny_is_greedy(policy: HFPolicy) -> None:
    greedy, _ = policy.generate(PROMPTS, temperature=0.0, max_tokens=20)
    nucleus, _ = policy.generate(PROMPTS, n=3, temperature=1.0, top_p=1e-6, max_tokens=20, seed=1)
    for (g,), samples in zip(greedy, nucleus):
        assert all(s.text == g.text for s in samples)


def test_bad_checkpoint_is_a_config_error(tmp_path: Path) -> None:
    from harness.registry import ConfigError

    with pytest.raises(ConfigError, match="could not be loaded"):
        HFPolicy(tmp_path)


@pytest.mark.gpu
def test_cuda_greedy_matches_cpu(tiny_ckpt: Path) -> None:
    cpu, _ = HFPolicy(tiny_ckpt, HFConfig(device="cpu")).generate(PROMPTS, temperature=0.0, max_tokens=30)
    gpu, _ = HFPolicy(tiny_ckpt, HFConfig(device="cuda")).generate(PROMPTS, temperature=0.0, max_tokens=30)
    assert [c[0].text for c in cpu] == [c[0].text for c in gpu]


def test_prefix_cache_changes_cost_not_results(tiny_ckpt: Path) -> None:
    plain, cached = HFPolicy(tiny_ckpt, HFConfig(prefix_cache_mb=0)), HFPolicy(tiny_ckpt)
    for kwargs in ({"temperature": 0.0}, {"n": 3, "temperature": 1.0, "seed": 5}):
        a, _ = plain.generate(PROMPTS, max_tokens=30, **kwargs)
        cached.generate(PROMPTS, max_tokens=30, **kwargs)  # warm the cache
        b, costs = cached.generate(PROMPTS, max_tokens=30, **kwargs)
        assert [[c.text for c in x] for x in a] == [[c.text for c in x] for x in b]
        n = kwargs.get("n", 1)
        for prompt, cost in zip(PROMPTS, costs):
            length = len(cached.encode(prompt))
            assert cost.prompt_tokens == 1  # only the last prompt token is recomputed
            assert cost.cached_tokens == length - 1 + (n - 1) * length


def test_tree_search_pays_only_for_new_tokens(tiny_ckpt: Path) -> None:
    """A prompt that extends an earlier prompt + completion reuses their KV (beam search's case)."""
    policy = HFPolicy(tiny_ckpt)
    (first,), _ = policy.generate(PROMPTS[:1], temperature=0.0, max_tokens=8, stop=["\n"])
    (c,) = first
    extended = PROMPTS[0] + c.text + "\n"
    outs, (cost,) = policy.generate([extended], temperature=0.0, max_tokens=8)
    total = len(policy.encode(extended))
    assert cost.prompt_tokens <= 2 and cost.cached_tokens == total - cost.prompt_tokens
    fresh, _ = HFPolicy(tiny_ckpt, HFConfig(prefix_cache_mb=0)).generate([extended], temperature=0.0, max_tokens=8)
    assert outs[0][0].text == fresh[0][0].text


def test_prefix_cache_trie_and_budget() -> None:
    from harness.backends.prefix_cache import PrefixCache

    kv = lambda n: [(torch.arange(n, dtype=torch.float32).reshape(1, n, 1),) * 2]  # noqa: E731
    cache = PrefixCache(max_bytes=10_000)
    cache.insert([1, 2, 3, 4], kv(4))
    cache.insert([1, 2, 9], kv(3))
    length, got = cache.lookup([1, 2, 3, 7])
    assert length == 3 and got[0][0].shape == (1, 3, 1)
    assert cache.lookup([5])[0] == 0
    for i in range(200):  # far over budget: old entries go, the newest stay findable
        cache.insert([100 + i, 1], kv(2))
    assert cache.bytes <= 10_000
    assert cache.lookup([299, 1, 5])[0] == 2
