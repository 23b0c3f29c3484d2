"""Verifiers: score full or partial solutions. Importing this package registers them."""
from baselines.verifiers import judge, oracle, value_model  # noqa: F401
