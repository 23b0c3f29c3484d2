"""Checks of the Policy contract that every backend must pass, shared by the backends' tests."""
from __future__ import annotations

from collections.abc import Sequence

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
