"""Benchmarks: they print figures and assert nothing about time. Run each from the repository
root as a module, e.g. `.venv/bin/python -m bench.saga_latency --help` (bench/README.md)."""
