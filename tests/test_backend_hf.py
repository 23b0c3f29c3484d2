"""The hf backend on a real (tiny, trained) checkpoint."""
from pathlib import Path

import pytest
import torch

from harness.backends.hf import HFPolicy

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


def test_token_accounting(policy: HFPolicy) -> None:
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
    cpu, _ = HFPolicy(tiny_ckpt, device="cpu").generate(PROMPTS, temperature=0.0, max_tokens=30)
    gpu, _ = HFPolicy(tiny_ckpt, device="cuda").generate(PROMPTS, temperature=0.0, max_tokens=30)
    assert [c[0].text for c in cpu] == [c[0].text for c in gpu]
