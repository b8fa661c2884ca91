"""pytest-benchmark: communities, centrality and propagation on the cached clustered kNN graph.

Run: PYTHONPATH=python python -m pytest bench/bench_community.py --benchmark-only
Size: RBIC_BENCH_N (default 100000); threads: RBIC_BENCH_THREADS (default 2, for every tool).
Peers (networkit, igraph) are timed from the same CSR arrays, counting their graph construction.
For one table of ratios with modularity / ARI / connectivity, run bench/compare_community.py.
"""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rbic_fast
from community_data import clustered_knn_graph

N = int(os.environ.get("RBIC_BENCH_N", "100000"))
THREADS = int(os.environ.get("RBIC_BENCH_THREADS", "2"))


@pytest.fixture(scope="module")
def graph():
    return clustered_knn_graph(N)[0]


def test_rbic_fast_communities(benchmark, graph):
    c = benchmark.pedantic(lambda: rbic_fast.communities(graph, threads=THREADS), rounds=5, warmup_rounds=1)
    assert c.modularity > 0.5


def test_networkit_plm(benchmark, graph):
    compare = pytest.importorskip("compare_community")
    pytest.importorskip("networkit")
    args = (graph.indptr, graph.indices, graph.data, N, THREADS)
    benchmark.pedantic(lambda: compare.run_nk(*args, kind="plm"), rounds=5, warmup_rounds=1)


def test_networkit_parallel_leiden(benchmark, graph):
    compare = pytest.importorskip("compare_community")
    pytest.importorskip("networkit")
    args = (graph.indptr, graph.indices, graph.data, N, THREADS)
    benchmark.pedantic(lambda: compare.run_nk(*args, kind="leiden"), rounds=5, warmup_rounds=1)


def test_igraph_leiden(benchmark, graph):
    compare = pytest.importorskip("compare_community")
    pytest.importorskip("igraph")
    args = (graph.indptr, graph.indices, graph.data, N, THREADS)
    benchmark.pedantic(lambda: compare.run_igraph(*args), rounds=3, warmup_rounds=1)


def test_rbic_fast_centrality_pagerank(benchmark, graph):
    m = rbic_fast.communities(graph, threads=THREADS).membership
    c = benchmark.pedantic(lambda: rbic_fast.centrality(graph, m, "pagerank", threads=THREADS), rounds=5,
                           warmup_rounds=1)
    assert c.max() == 1.0


def test_rbic_fast_propagate(benchmark, graph):
    rng = np.random.default_rng(0)
    values = rng.random(N).astype(np.float32)
    known = rng.random(N) < 0.2
    f = benchmark.pedantic(lambda: rbic_fast.propagate(graph, values, known, threads=THREADS), rounds=5,
                           warmup_rounds=1)
    assert np.isfinite(f).all()
