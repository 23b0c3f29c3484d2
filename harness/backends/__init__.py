"""Policy backends, one file each. Declared here, imported on first use (torch only then)."""
from harness.registry import BACKENDS

BACKENDS.lazy("hf", "harness.backends.hf")
