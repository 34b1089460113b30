"""Benchmarks: the pipeline beside the raw JetStream ceiling, reported as numbers and ratios."""
