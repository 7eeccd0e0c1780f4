"""Benchmarks: the registry and one module per benchmark."""
