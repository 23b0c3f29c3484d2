"""Test-time methods, one file each. Importing this package registers them."""
from baselines.search import greedy, majority, oracle_best_of_n, sample  # noqa: F401
