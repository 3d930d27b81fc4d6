"""Reproducible benchmarks. Each prints its figures and the command that produced them."""
