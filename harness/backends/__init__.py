"""Policy backends, one file each. Declared here, imported on first use (torch only then)."""
from harness.registry import BACKENDS

BACKENDS.lazy("hf", "harness.backends.hf")
BACKENDS.lazy("openai", "harness.backends.openai", requires=("openai",), extra="openai")
# vLLM is an optional extra (GPU wheels are large): without it, `backend: vllm` says how to install it.
BACKENDS.lazy("vllm", "harness.backends.vllm", requires=("vllm",), extra="vllm")
