"""Trace parser throughput: native (1 and 2 threads) vs the pure-Python reference (pytest-benchmark).

Run: PYTHONPATH=python:tools python -m pytest bench/bench_steps.py --benchmark-only
Sizes fit a 2-core machine (RBIC_BENCH_STEPS_MB, default 32 MB of real traces); tools/bench_steps_table.py
makes the >= 1 GB ratio table. MB/s = text bytes / mean time, printed in extra_info.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "tools"))
import rbic_fast
from rbic_fast import reference
from steps_bench_corpus import real_traces, replicate, synthetic_r1

MB = int(os.environ.get("RBIC_BENCH_STEPS_MB", "32"))


@pytest.fixture(scope="module")
def real():
    return replicate(real_traces(), MB << 20)


@pytest.fixture(scope="module")
def synthetic():
    return replicate(synthetic_r1(20, 200_000, seed=0), MB << 20)


def _run(benchmark, fn, nbytes):
    benchmark.pedantic(fn, rounds=5, warmup_rounds=1)
    benchmark.extra_info["MB"] = nbytes / 1e6
    benchmark.extra_info["MB_per_s"] = nbytes / 1e6 / benchmark.stats.stats.mean


@pytest.mark.parametrize("threads", [1, 2])
def test_native_real(benchmark, real, threads):
    _run(benchmark, lambda: rbic_fast.parse_traces(real, threads=threads), real.buffers()[2].size)


@pytest.mark.parametrize("isa", ["avx512", "avx2", "portable"])
def test_native_real_kernels(benchmark, real, isa, monkeypatch):
    """One thread with each set of byte-parallel kernels (a set the CPU lacks runs the fastest set below it)."""
    monkeypatch.setenv("RBIC_STEPS_ISA", isa)
    _run(benchmark, lambda: rbic_fast.parse_traces(real, threads=1), real.buffers()[2].size)


@pytest.mark.parametrize("threads", [1, 2])
def test_native_synthetic(benchmark, synthetic, threads):
    _run(benchmark, lambda: rbic_fast.parse_traces(synthetic, threads=threads), synthetic.buffers()[2].size)


def test_reference_real(benchmark):
    texts = real_traces()
    sample, size = [], 0
    for t in texts:  # about 1 MB: the reference runs at a few MB/s
        sample.append(t)
        size += len(t.encode())
        if size > 1 << 20:
            break
    _run(benchmark, lambda: reference.parse_traces(sample), size)
