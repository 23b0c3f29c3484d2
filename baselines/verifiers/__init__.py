"""Verifiers: score full or partial solutions. Declared here, imported on first use."""
from harness.registry import VERIFIERS

VERIFIERS.lazy("oracle", "baselines.verifiers.oracle")
VERIFIERS.lazy("judge", "baselines.verifiers.judge")
VERIFIERS.lazy("prm", "baselines.verifiers.value_model")
VERIFIERS.lazy("orm", "baselines.verifiers.value_model")
