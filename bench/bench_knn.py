"""kNN self-join: rbic_fast (fp32, bf16, int8) vs faiss IndexFlatIP vs the NumPy baseline.

Run: ``python -m pytest bench/bench_knn.py --benchmark-only``. Thread counts: rbic_fast gets
``threads=``; faiss gets ``omp_set_num_threads``; NumPy's BLAS is limited with threadpoolctl when
installed (else set OPENBLAS_NUM_THREADS before starting pytest). bench/knn_table.py prints the
side-by-side table with recall and peak memory.
"""

import numpy as np
import pytest
from conftest import BENCH_K, BENCH_THREADS
from rbic_fast import knn_graph
from rbic_fast._peers import faiss_knn, numpy_knn, recall_at_k


@pytest.fixture(scope="module")
def exact(embeddings):
    return knn_graph(embeddings, BENCH_K, threads=BENCH_THREADS)


@pytest.mark.parametrize("precision", ["fp32", "bf16", "int8"])
def test_rbic(benchmark, embeddings, exact, precision):
    g = benchmark.pedantic(
        knn_graph,
        args=(embeddings, BENCH_K),
        kwargs={"precision": precision, "threads": BENCH_THREADS},
        rounds=5,
        warmup_rounds=1,
    )
    benchmark.extra_info["kernel"] = g.kernel
    benchmark.extra_info["recall"] = recall_at_k(g.indices, exact.indices)
    assert benchmark.extra_info["recall"] >= 0.999


def test_faiss(benchmark, embeddings, exact):
    faiss = pytest.importorskip("faiss")
    faiss.omp_set_num_threads(BENCH_THREADS)
    idx, _ = benchmark.pedantic(faiss_knn, args=(embeddings, BENCH_K), rounds=5, warmup_rounds=1)
    benchmark.extra_info["recall"] = recall_at_k(idx, exact.indices)


def test_numpy(benchmark, embeddings, exact):
    threadpoolctl = pytest.importorskip("threadpoolctl")
    with threadpoolctl.threadpool_limits(BENCH_THREADS):
        idx, _ = benchmark.pedantic(numpy_knn, args=(embeddings, BENCH_K), rounds=5, warmup_rounds=1)
    benchmark.extra_info["recall"] = recall_at_k(idx, exact.indices)
    assert np.all(idx >= 0)
