"""Compute accounting: the x-axis of every curve (DESIGN.md, "Compute accounting")."""
from __future__ import annotations

from harness.contracts import Cost


def inference_flops(params: int, computed_tokens: int) -> float:
    """Forward-pass FLOPs ≈ 2 · params · tokens (Kaplan et al. 2020); cached tokens are free."""
    return 2.0 * params * computed_tokens


def training_flops(params: int, tokens: int) -> float:
    """Forward + backward FLOPs ≈ 6 · params · tokens."""
    return 6.0 * params * tokens


def inference_cost(params: int, prompt_tokens: int, cached_tokens: int, generated_tokens: int,
                   wall_s: float) -> Cost:
    """A Cost with its FLOPs filled in from the token counts."""
    return Cost(prompt_tokens=prompt_tokens, cached_tokens=cached_tokens,
                generated_tokens=generated_tokens,
                flops=inference_flops(params, prompt_tokens + generated_tokens), wall_s=wall_s)
