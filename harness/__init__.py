"""thinkbench's engine: types, registries, backends, compute, store, matrix, report, cli."""
