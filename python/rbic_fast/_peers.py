"""The baselines and peer libraries the native kernels are measured against (``rbic bench`` and ``bench/``).

Pure-Python/NumPy baselines need only NumPy and SciPy; each peer library is imported inside its runner, so a
missing one raises ImportError that the caller reports as "not installed".
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import scipy.sparse as sp

__all__ = [
    "faiss_knn",
    "faiss_openblas_coretype",
    "networkit_plm",
    "networkx_louvain",
    "numpy_knn",
    "pynndescent_knn",
    "recall_at_k",
]


def faiss_openblas_coretype() -> str | None:
    """The OPENBLAS_CORETYPE to give faiss's bundled OpenBLAS, or None to leave its detection alone.

    faiss-cpu wheels bundle their own OpenBLAS (0.3.15 in faiss-cpu 1.15.1), which detects recent Xeons
    as "Prescott" and runs SSE3 kernels; on AVX-512 CPUs "SkylakeX" selects its AVX-512 sgemm (3.4x
    faster on the benchmark machine). Must be set before faiss (or numpy) is imported.
    """
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists() and " avx512f " in cpuinfo.read_text():
        return "SkylakeX"
    return None


def numpy_knn(x: np.ndarray, k: int, block: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """Pure-NumPy exact cosine kNN: normalise, blocked matmul against all rows, argpartition, sort.

    :param x: ``(n, d)`` float32 rows.
    :param k: neighbours per row (self excluded).
    :param block: query rows per matmul.
    :return: ``(indices (n, k) int64, similarities (n, k) float32)``.
    """
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    n = xn.shape[0]
    indices = np.empty((n, k), dtype=np.int64)
    sims = np.empty((n, k), dtype=np.float32)
    for s in range(0, n, block):
        e = min(n, s + block)
        sim = xn[s:e] @ xn.T
        sim[np.arange(e - s), np.arange(s, e)] = -np.inf
        part = np.argpartition(-sim, k - 1, axis=1)[:, :k]
        psim = np.take_along_axis(sim, part, axis=1)
        order = np.argsort(-psim, axis=1, kind="stable")
        indices[s:e] = np.take_along_axis(part, order, axis=1)
        sims[s:e] = np.take_along_axis(psim, order, axis=1)
    return indices, sims


def _drop_self(i: np.ndarray, d: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Searches of ``k + 1`` with every row as a query: drop each row's own index (else the last hit)."""
    keep = i != np.arange(len(i))[:, None]
    keep[keep.all(axis=1), -1] = False
    return i[keep].reshape(len(i), k), d[keep].reshape(len(i), k)


def faiss_knn(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """faiss-cpu exact search: ``IndexFlatIP`` over the normalised rows, every row as a query.

    :return: ``(indices (n, k) int64, similarities (n, k) float32)``.
    """
    import faiss

    xn = np.ascontiguousarray(x / np.linalg.norm(x, axis=1, keepdims=True), dtype=np.float32)
    index = faiss.IndexFlatIP(xn.shape[1])
    index.add(xn)
    d, i = index.search(xn, k + 1)
    return _drop_self(i, d, k)


def pynndescent_knn(x: np.ndarray, k: int, n_neighbors: int = 0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """pynndescent's all-neighbours graph (``NNDescent(...).neighbor_graph``) by inner product of normalised rows.

    :param n_neighbors: its graph degree (0: ``k + 1``, its default use); larger reaches a higher recall.
    :return: ``(indices (n, k) int64, similarities (n, k) float32)``.
    """
    from pynndescent import NNDescent

    xn = np.ascontiguousarray(x / np.linalg.norm(x, axis=1, keepdims=True), dtype=np.float32)
    index = NNDescent(xn, metric="dot", n_neighbors=max(n_neighbors, k + 1), random_state=seed)
    i, dist = index.neighbor_graph
    i, dist = _drop_self(i[:, : k + 1], dist[:, : k + 1], k)
    return i.astype(np.int64), (1.0 - dist).astype(np.float32)


def recall_at_k(found: np.ndarray, truth: np.ndarray) -> float:
    """Mean fraction of each row's true neighbours that were found (rows of ``found`` may be a superset)."""
    k = truth.shape[1]
    hits = sum(len(set(a) & set(b)) for a, b in zip(found.tolist(), truth.tolist()))
    return hits / (k * truth.shape[0])


def _upper(g: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    t = sp.triu(g, k=0).tocoo()
    return t.row, t.col, t.data


def networkit_plm(g: sp.csr_matrix, threads: int) -> np.ndarray:
    """networkit's parallel Louvain (PLM, the fastest peer here) on the symmetric weighted graph ``g``."""
    import networkit as nk

    nk.setNumberOfThreads(threads)
    r, c, w = _upper(g)
    graph = nk.GraphFromCoo(
        (w.astype(np.float64), (r.astype(np.uint64), c.astype(np.uint64))), n=g.shape[0], weighted=True,
        directed=False,
    )
    algo = nk.community.PLM(graph, refine=False, gamma=1.0, par="balanced")
    algo.run()
    return np.asarray(algo.getPartition().getVector(), dtype=np.int64)


def networkx_louvain(g: sp.csr_matrix, seed: int = 0) -> np.ndarray:
    """networkx's pure-Python Louvain: the pure-Python baseline of community detection."""
    import networkx as nx

    parts = nx.community.louvain_communities(nx.from_scipy_sparse_array(g), weight="weight", seed=seed)
    m = np.empty(g.shape[0], np.int64)
    for label, members in enumerate(parts):
        m[list(members)] = label
    return m


def default_threads() -> int:
    """The thread count every tool gets when none is given: the CPUs this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
