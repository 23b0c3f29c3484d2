"""Test-time methods, one file each. Importing this package registers them."""
from baselines.search import (  # noqa: F401
    beam, best_of_n, borda, dvts, greedy, lookahead, majority, mcts, oracle_best_of_n, sample,
    self_refine, weighted_best_of_n)
