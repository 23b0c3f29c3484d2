"""Trainers: one training method per file (prm/orm value models so far)."""
