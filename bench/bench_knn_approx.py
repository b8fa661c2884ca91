"""Approximate kNN graph: rbic_fast (method="approx") vs faiss IVF-Flat / HNSW, hnswlib, usearch, pynndescent.

Run: ``python -m pytest bench/bench_knn_approx.py --benchmark-only`` (size from RBIC_BENCH_N, default 20 000).
Every tool gets BENCH_THREADS threads; recall@16 is against rbic_fast's exact graph and recorded in
``extra_info``. bench/knn_approx_table.py prints the side-by-side table with peak memory at 100k and 1M.
Peer settings are the ones that reach recall@16 >= 0.95 at n = 100 000 (ANCHORS.md, README section knn).
"""

import math

import numpy as np
import pytest
from conftest import BENCH_K, BENCH_THREADS
from rbic_fast import knn_graph
from rbic_fast._peers import (
    faiss_hnsw_knn,
    faiss_ivf_knn,
    hnswlib_knn,
    pynndescent_knn,
    recall_at_k,
    usearch_knn,
)


@pytest.fixture(scope="module")
def exact(embeddings):
    return knn_graph(embeddings, BENCH_K, threads=BENCH_THREADS)


def record(benchmark, idx: np.ndarray, exact) -> None:
    benchmark.extra_info["recall"] = recall_at_k(np.asarray(idx), exact.indices)


def test_rbic_approx(benchmark, embeddings, exact):
    g = benchmark.pedantic(
        knn_graph,
        args=(embeddings, BENCH_K),
        kwargs={"method": "approx", "threads": BENCH_THREADS},
        rounds=5,
        warmup_rounds=1,
    )
    record(benchmark, g.indices, exact)
    benchmark.extra_info["estimated_recall"] = g.recall
    assert benchmark.extra_info["recall"] >= 0.95


def test_rbic_exact(benchmark, embeddings):
    benchmark.pedantic(knn_graph, args=(embeddings, BENCH_K), kwargs={"threads": BENCH_THREADS}, rounds=3)


def test_faiss_ivf(benchmark, embeddings, exact):
    faiss = pytest.importorskip("faiss")
    faiss.omp_set_num_threads(BENCH_THREADS)
    nlist = int(4 * math.sqrt(len(embeddings)))
    idx = benchmark.pedantic(faiss_ivf_knn, args=(embeddings, BENCH_K, nlist, 64), rounds=3, warmup_rounds=1)
    record(benchmark, idx, exact)


def test_faiss_hnsw(benchmark, embeddings, exact):
    faiss = pytest.importorskip("faiss")
    faiss.omp_set_num_threads(BENCH_THREADS)
    idx = benchmark.pedantic(faiss_hnsw_knn, args=(embeddings, BENCH_K), kwargs={"ef_search": 32}, rounds=3)
    record(benchmark, idx, exact)


def test_hnswlib(benchmark, embeddings, exact):
    pytest.importorskip("hnswlib")
    idx = benchmark.pedantic(
        hnswlib_knn, args=(embeddings, BENCH_K, BENCH_THREADS), kwargs={"ef": 48}, rounds=3
    )
    record(benchmark, idx, exact)


def test_usearch(benchmark, embeddings, exact):
    pytest.importorskip("usearch")
    idx = benchmark.pedantic(
        usearch_knn, args=(embeddings, BENCH_K, BENCH_THREADS), kwargs={"expansion_search": 64}, rounds=3
    )
    record(benchmark, idx, exact)


def test_pynndescent(benchmark, embeddings, exact):
    pytest.importorskip("pynndescent")
    # The warm-up round compiles pynndescent's numba kernels (about a minute, once per process).
    idx = benchmark.pedantic(
        pynndescent_knn,
        args=(embeddings, BENCH_K, BENCH_THREADS),
        kwargs={"n_neighbors": 30},
        rounds=3,
        warmup_rounds=1,
    )
    record(benchmark, idx, exact)
