"""Benchmarks (`vitaccel bench ...`): numerics here; accuracy, perf and split live with their owners."""
