"""Test-time methods, one file each, named after the method. Declared here, imported on first use."""
from harness.registry import METHODS

for _name in ("beam", "best_of_n", "borda", "dvts", "greedy", "lookahead", "majority", "mcts",
              "oracle_best_of_n", "sample", "self_refine", "weighted_best_of_n"):
    METHODS.lazy(_name, f"baselines.search.{_name}")
