"""Checks of the Policy contract that every backend must pass, shared by the backends' tests."""
from __future__ import annotations

from collections.abc import Callable, Sequence

from harness.contracts import Policy


def assert_seeded_and_shaped(policy: Policy, prompts: Sequence[str]) -> None:
    """n samples per prompt; the same seed gives the same samples, another seed others; an
    undertrained model at temperature 1 varies between samples."""
    a, _ = policy.generate(prompts, n=5, temperature=1.0, max_tokens=40, seed=7)
    b, _ = policy.generate(prompts, n=5, temperature=1.0, max_tokens=40, seed=7)
    c, _ = policy.generate(prompts, n=5, temperature=1.0, max_tokens=40, seed=8)
    assert [len(x) for x in a] == [5] * len(prompts)

    def texts(outs: list) -> list[str]:
        return [s.text for x in outs for s in x]

    assert texts(a) == texts(b)
    assert texts(a) != texts(c)
    assert len(set(texts(a))) > 3


def assert_samples_ignore_batch_neighbours(make_policy: Callable[[int], Policy], prompts: Sequence[str]) -> None:
    """A prompt's seeded samples are the same whatever the call's other prompts and the batch
    size (`make_policy(batch_size)` builds the backend): prompt 0 alone, with 2 or 5 others,
    shuffled behind others, and in batches of 1 and of 256 rows."""
    assert len(prompts) >= 6

    def first(policy: Policy, batch: Sequence[str], at: int = 0) -> list[str]:
        outs, _ = policy.generate(list(batch), n=4, temperature=1.0, max_tokens=30, seed=3)
        return [s.text for s in outs[at]]

    wide, narrow = make_policy(256), make_policy(1)
    expected = first(wide, prompts[:3])
    assert len(set(expected)) > 1  # sampled, not greedy: the check can fail
    assert first(wide, prompts[:6]) == expected
    assert first(wide, prompts[:1]) == expected
    assert first(wide, [*prompts[3:6], prompts[0]], at=3) == expected
    assert first(narrow, prompts[:3]) == expected
    assert first(narrow, prompts[:6]) == expected
