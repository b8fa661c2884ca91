"""Fixed seeds and 2-core sizes for the benchmarks (override with RBIC_BENCH_N / _D / _THREADS)."""

import os

from rbic_fast._peers import faiss_openblas_coretype

# Before numpy/faiss load their OpenBLAS: see faiss_openblas_coretype().
if faiss_openblas_coretype():
    os.environ.setdefault("OPENBLAS_CORETYPE", faiss_openblas_coretype())

import numpy as np
import pytest
from rbic_fast.synthetic import clustered_embeddings

BENCH_N = int(os.environ.get("RBIC_BENCH_N", "20000"))
BENCH_D = int(os.environ.get("RBIC_BENCH_D", "384"))
BENCH_K = 16
BENCH_THREADS = int(os.environ.get("RBIC_BENCH_THREADS", "2"))


@pytest.fixture(scope="session")
def embeddings() -> np.ndarray:
    """Clustered unit-norm float32 embeddings, seed 0."""
    x, _ = clustered_embeddings(BENCH_N, BENCH_D, seed=0)
    return x
