"""Benchmarks of the chat's fan-out: `python -m bench.run` (see bench/README.md)."""
