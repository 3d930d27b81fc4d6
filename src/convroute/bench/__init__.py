"""Reproducible benchmarks run from the CLI (``convroute bench``)."""
