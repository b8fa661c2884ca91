"""Synthetic corpus generation throughput (pytest-benchmark).

Run: PYTHONPATH=python python -m pytest bench/bench_synthetic.py --benchmark-only
Size: RBIC_BENCH_SYNTH_N records (default 20 000; the README quotes 100 000 and, via `rbic synth`, 1 000 000).
Records/s and MB/s of JSONL are printed in extra_info.
"""

from __future__ import annotations

import os

from rbic_fast.synthetic import write_corpus

N = int(os.environ.get("RBIC_BENCH_SYNTH_N", "20000"))


def test_write_corpus(benchmark, tmp_path):
    write_corpus(tmp_path / "warm.jsonl", 10, seed=0)  # builds and caches the seed's fragment pools
    info = benchmark.pedantic(
        lambda: write_corpus(tmp_path / "c.jsonl", N, seed=0), rounds=3, warmup_rounds=0
    )
    assert info.n == N
    mean = benchmark.stats.stats.mean
    benchmark.extra_info.update(
        n=N,
        records_per_s=round(N / mean),
        jsonl_mb_per_s=round(info.bytes / mean / 1e6, 1),
        jsonl_bytes=info.bytes,
        embeddings_bytes=info.embeddings_bytes,
    )
