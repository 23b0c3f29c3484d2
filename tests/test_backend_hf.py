"""The hf backend on a real (tiny, trained) checkpoint."""
from pathlib import Path

import pytest
import torch

from harness.backends.hf import HFConfig, HFPolicy
from policy_contract import assert_samples_ignore_batch_neighbours, assert_seeded_and_shaped

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
    assert_seeded_and_shaped(policy, PROMPTS)


def test_samples_do_not_depend_on_batch_neighbours(tiny_ckpt: Path) -> None:
    """Prompt 0's seeded T=1 samples are the same with 3 or 6 prompts in the call, alone,
    behind others, and at batch_size 1 or 256 (was: one generator shared by the whole batch)."""
    prompts = PROMPTS + ["5555+4444\n", "1000+2345\n", "8080+1919\n"]
    assert_samples_ignore_batch_neighbours(lambda b: HFPolicy(tiny_ckpt, HFConfig(batch_size=b)), prompts)


def test_duplicate_prompts_in_a_call_get_their_own_samples(policy: HFPolicy) -> None:
    """Row seeds hash the prompt, so a prompt repeated in a call must not repeat its samples."""
    outs, _ = policy.generate([PROMPTS[0]] * 2, n=4, temperature=1.0, max_tokens=30, seed=3)
    assert [s.text for s in outs[0]] != [s.text for s in outs[1]]
    again, _ = policy.generate([PROMPTS[0]], n=4, temperature=1.0, max_tokens=30, seed=3)
    assert [s.text for s in again[0]] == [s.text for s in outs[0]]


def test_token_accounting(tiny_ckpt: Path) -> None:
    policy = HFPolicy(tiny_ckpt, HFConfig(prefix_cache_mb=0))
    outs, costs = policy.generate(PROMPTS, n=4, temperature=1.0, max_tokens=12, seed=0)
    for i, (prompt, comps, cost) in enumerate(zip(PROMPTS, outs, costs)):
        length = len(policy.encode(prompt))
        shared = 0 if i == 0 else 1  # BOS: the only prefix computed by an earlier prompt
        assert cost.prompt_tokens == length - shared                  # prefilled once...
        assert cost.cached_tokens == shared + 3 * length              # ...and shared by the other 3 samples
        assert cost.generated_tokens == sum(c.tokens for c in comps)
        assert cost.flops == 2 * policy.params * (length - shared + cost.generated_tokens)
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


def test_dtype_defaults_per_device() -> None:
    """float32 on CPU whatever the checkpoint; on GPU the checkpoint's own dtype unless set."""
    from harness.backends.hf import resolve_dtype

    assert resolve_dtype("auto", "cpu", torch.bfloat16) == torch.float32
    assert resolve_dtype("auto", "cuda", torch.bfloat16) == torch.bfloat16
    assert resolve_dtype("auto", "cuda:1", "bfloat16") == torch.bfloat16
    assert resolve_dtype("auto", "cuda", None) == torch.float32
    assert resolve_dtype("float16", "cpu", torch.bfloat16) == torch.float16


def test_attention_auto_is_chosen_per_device_and_dtype(policy: HFPolicy) -> None:
    """auto reads the measured table (CPU float32: sdpa; was: eager everywhere)."""
    from harness.backends.hf import AUTO_ATTENTION, resolve_attention

    assert resolve_attention("auto", "cpu", torch.float32) == "sdpa"
    assert resolve_attention("auto", "cuda:0", torch.bfloat16) == AUTO_ATTENTION["cuda", torch.bfloat16]
    assert resolve_attention("eager", "cpu", torch.float32) == "eager"
    assert policy.settings()["attention"] == "sdpa"
    assert policy.model.config._attn_implementation == "sdpa"


@pytest.mark.gpu
def test_cuda_runs_a_bf16_checkpoint_in_bf16_with_the_same_costs(tiny_ckpt: Path, tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    AutoModelForCausalLM.from_pretrained(tiny_ckpt, dtype=torch.bfloat16).save_pretrained(tmp_path / "bf16")
    AutoTokenizer.from_pretrained(tiny_ckpt).save_pretrained(tmp_path / "bf16")
    gpu = HFPolicy(tmp_path / "bf16", HFConfig(device="cuda"))
    cpu = HFPolicy(tmp_path / "bf16", HFConfig(device="cpu"))
    assert gpu.settings()["dtype"] == "bfloat16" and cpu.settings()["dtype"] == "float32"
    assert next(gpu.model.parameters()).dtype == torch.bfloat16
    a, costs_gpu = gpu.generate(PROMPTS, n=4, temperature=1.0, max_tokens=20, seed=0)
    b, costs_cpu = cpu.generate(PROMPTS, n=4, temperature=1.0, max_tokens=20, seed=0)
    assert all(len(x) == 4 for x in a)
    assert [(c.prompt_tokens, c.cached_tokens) for c in costs_gpu] == [(c.prompt_tokens, c.cached_tokens) for c in costs_cpu]


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


# A template that trims message content, as many real ones do (the partial turn's trailing
# separator must survive it). The testbed's vocabulary is printable ASCII, so this tokenizes.
TEMPLATE = ("{{ bos_token }}{% for m in messages %}[{{ m['role'] }}]{{ m['content'] | trim }}"
            "{% if not loop.last %}{{ '\\n' }}{% endif %}{% endfor %}"
            "{% if add_generation_prompt %}{{ '\\n[assistant]' }}{% endif %}")


def with_files(tiny_ckpt: Path, tmp_path: Path, *, template: str | None = None,
               generation_eos: list[int] | None = None) -> Path:
    """A copy of the checkpoint that ships a chat template and/or a generation_config EOS list."""
    import json
    import shutil

    path = Path(shutil.copytree(tiny_ckpt, tmp_path / "ckpt"))
    if template is not None:
        cfg = json.loads((path / "tokenizer_config.json").read_text())
        (path / "tokenizer_config.json").write_text(json.dumps({**cfg, "chat_template": template}))
    if generation_eos is not None:
        gen = path / "generation_config.json"
        cfg = json.loads(gen.read_text()) if gen.exists() else {}
        gen.write_text(json.dumps({**cfg, "eos_token_id": generation_eos}))
    return path


def test_chat_template_is_explicit_and_continues_the_assistant_turn(tiny_ckpt: Path, tmp_path: Path) -> None:
    from harness.registry import ConfigError

    path = with_files(tiny_ckpt, tmp_path, template=TEMPLATE)
    plain, chat = HFPolicy(path), HFPolicy(path, HFConfig(chat_template=True))
    # A base model that ships a template is not silently chat-wrapped.
    assert plain.encode(PROMPTS[0]) == HFPolicy(tiny_ckpt).encode(PROMPTS[0])
    assert plain.settings()["chat_template"] is False and chat.settings()["chat_template"] is True
    decode = lambda ids: chat.tokenizer.decode(ids, skip_special_tokens=True)  # noqa: E731
    assert decode(chat.encode(PROMPTS[0])) == "[user]4821+1779\n[assistant]"  # was: a crash
    # A partial solution continues the assistant turn, its trailing separator kept.
    partial = [{"role": "user", "content": PROMPTS[0]}, {"role": "assistant", "content": "1+9=10\n"}]
    assert decode(chat.encode(partial)) == "[user]4821+1779\n[assistant]1+9=10\n"
    assert plain.encode(partial) == plain.encode(PROMPTS[0] + "1+9=10\n")
    outs, costs = chat.generate(PROMPTS, n=2, temperature=1.0, max_tokens=10, seed=0)
    assert all(len(x) == 2 for x in outs) and all(c.generated_tokens > 0 for c in costs)
    with pytest.raises(ConfigError, match="has no chat template"):
        HFPolicy(tiny_ckpt, HFConfig(chat_template=True))


def test_generation_stops_on_every_eos_id_generate_stops_on(tiny_ckpt: Path, tmp_path: Path) -> None:
    """A generation_config EOS list (Llama-3's <|eot_id|>) ends generation, as in HF generate."""
    base = HFPolicy(tiny_ckpt)
    newline = base.tokenizer.convert_tokens_to_ids("\n")
    policy = HFPolicy(with_files(tiny_ckpt, tmp_path, generation_eos=[base.tokenizer.eos_token_id, newline]))
    assert newline in policy.eos_ids
    outs, _ = policy.generate(PROMPTS, temperature=0.0, max_tokens=30)
    for prompt, (completion,) in zip(PROMPTS, outs):
        ids = torch.tensor([policy.encode(prompt)])
        ref = policy.model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=30,
                                    do_sample=False, pad_token_id=policy.pad_id)[0, ids.shape[1]:].tolist()
        assert ref[-1] == newline and completion.tokens == len(ref) and completion.finish == "stop"
        assert completion.text == policy.tokenizer.decode(ref[:-1], skip_special_tokens=True)
        assert "\n" not in completion.text  # nothing past the real end glued on


def test_cost_depends_on_the_prompts_not_on_batch_layout_or_cache(tiny_ckpt: Path) -> None:
    """Identical prompts cost the same whatever the batch size, n or cache budget (was: a
    prompt computed in a later batch reused an earlier batch's prefix, one in the same batch
    did not: greedy and pooled cells paid differently for identical prompts)."""
    prompts = ["4821+1779\n", "4821+1779\n", "4821+5000\n", "1234+5678\n"]
    seen = []
    for cfg in (HFConfig(), HFConfig(batch_size=1), HFConfig(batch_size=3), HFConfig(prefix_cache_mb=0)):
        policy = HFPolicy(tiny_ckpt, cfg)
        _, costs = policy.generate(prompts, temperature=0.0, max_tokens=5)
        seen.append([(c.prompt_tokens, c.cached_tokens) for c in costs])
    assert all(s == seen[0] for s in seen)
    length = len(HFPolicy(tiny_ckpt).encode(prompts[0]))  # 11: BOS + 10 characters
    # Each prompt pays past the longest prefix already computed in this cell (the last token always).
    assert seen[0] == [(length, 0), (1, length - 1), (length - 6, 6), (length - 1, 1)]  # BOS+"4821+"
    # n samples share one prefill, whatever n is.
    policy = HFPolicy(tiny_ckpt)
    for n in (1, 4):
        policy.reset_cache()
        _, costs = policy.generate(prompts, n=n, temperature=1.0, max_tokens=5, seed=0)
        assert [c.prompt_tokens for c in costs] == [p for p, _ in seen[0]]
        assert [c.cached_tokens for c in costs] == [c + (n - 1) * length for _, c in seen[0]]


def test_prefix_cache_eviction_is_incremental_and_exact() -> None:
    """Random inserts under a small budget: every lookup equals a brute-force longest prefix over
    the live entries, and no trie node outlives the entries through it (was: a whole-trie
    rebuild at every eviction)."""
    import random

    from harness.backends.prefix_cache import PrefixCache

    rng = random.Random(0)
    cache = PrefixCache(max_bytes=4 * 8 * 40)  # room for ~40 tokens of one-layer, 1x1 KV
    rebuilds = []
    root = cache.root  # incremental: the trie is edited in place, never replaced
    for _ in range(400):
        ids = [rng.randrange(3) for _ in range(rng.randrange(1, 9))]
        kv = [(torch.tensor(ids, dtype=torch.float32).reshape(1, -1, 1),) * 2]
        cache.insert(ids, kv)
        probe = [rng.randrange(3) for _ in range(rng.randrange(1, 9))]
        live = [e[0] for e in cache.entries.values()]
        best = max((next((i for i, (a, b) in enumerate(zip(probe, s)) if a != b), min(len(probe), len(s)))
                    for s in live), default=0)
        length, got = cache.lookup(probe)
        assert length == best
        if length:
            assert got[0][0].flatten().tolist() == [float(t) for t in probe[:length]]
        rebuilds.append(cache.root is not root)
        nodes, stack = 0, [cache.root]
        while stack:
            node = stack.pop()
            nodes += node is not cache.root
            stack.extend(node.children.values())
        assert nodes == len({tuple(s[:i]) for s in live for i in range(1, len(s) + 1)})
        assert cache.bytes <= cache.max_bytes
    assert not any(rebuilds)


def test_prefill_groups_bound_padding() -> None:
    from harness.backends.hf import prefill_groups

    lengths = [176, 60, 150, 61, 100, 175, 98, 62]
    groups = prefill_groups(lengths)
    assert sorted(i for g in groups for i in g) == list(range(len(lengths)))
    for g in groups:
        widest = max(lengths[i] for i in g)
        assert sum(lengths[i] for i in g) >= 0.9 * widest * len(g)
    assert len(groups) < len(lengths) and prefill_groups([5, 5, 5]) == [[0, 1, 2]]
