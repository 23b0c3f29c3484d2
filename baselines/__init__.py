"""Baselines: test-time search methods (search/), and later verifiers and trainers."""
