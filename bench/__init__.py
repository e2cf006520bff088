"""Benchmarks. They move time with POST /v1/admin/clock or feed ticks directly, so every benchmark
process (and the services it starts) runs in simulated clock mode unless told otherwise (docs/clock.md)."""

import os

os.environ.setdefault("CLOCK_MODE", "simulated")
