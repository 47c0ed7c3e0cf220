"""Benchmarks: speed (and memory) of every reference as a ratio against the torch built-in,
one section per kind; ``python -m nnref bench``."""
