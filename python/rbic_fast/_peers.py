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
    "default_threads",
    "drop_self",
    "exact_rows",
    "faiss_hnsw_knn",
    "faiss_ivf_knn",
    "faiss_knn",
    "faiss_openblas_coretype",
    "hnswlib_knn",
    "networkit_plm",
    "networkx_louvain",
    "numpy_knn",
    "pynndescent_knn",
    "recall_at_k",
    "unit_rows",
    "usearch_knn",
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


def drop_self(idx: np.ndarray, sims: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """From ``k + 1`` hits per row, drop each row's own index (or the last hit when it is absent)."""
    n = len(idx)
    keep = idx != np.arange(n)[:, None]
    keep[keep.all(axis=1), -1] = False
    extra = keep.sum(axis=1) - k  # rows whose self hit was missing but that contain duplicates of it
    for r in np.flatnonzero(extra > 0):
        keep[r, np.flatnonzero(keep[r])[k:]] = False
    return idx[keep].reshape(n, k), sims[keep].reshape(n, k)


def faiss_knn(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """faiss-cpu exact search: ``IndexFlatIP`` over the normalised rows, every row as a query.

    :return: ``(indices (n, k) int64, similarities (n, k) float32)``.
    """
    import faiss

    xn = np.ascontiguousarray(x / np.linalg.norm(x, axis=1, keepdims=True), dtype=np.float32)
    index = faiss.IndexFlatIP(xn.shape[1])
    index.add(xn)
    d, i = index.search(xn, k + 1)
    return drop_self(i, d, k)


def recall_at_k(found: np.ndarray, truth: np.ndarray) -> float:
    """Mean fraction of each row's true neighbours that were found (rows of ``found`` may be a superset)."""
    k = truth.shape[1]
    hits = sum(len(set(a) & set(b)) for a, b in zip(found.tolist(), truth.tolist()))
    return hits / (k * truth.shape[0])


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Float32 L2-normalised copy (inner product = cosine for the peers)."""
    return np.ascontiguousarray(x / np.linalg.norm(x, axis=1, keepdims=True), dtype=np.float32)


def faiss_ivf_knn(x: np.ndarray, k: int, nlist: int, nprobe: int, seed: int = 0) -> np.ndarray:
    """faiss IndexIVFFlat (inner product, k-means on faiss's default sample), every row a query."""
    import faiss

    xn = unit_rows(x)
    quantizer = faiss.IndexFlatIP(xn.shape[1])
    index = faiss.IndexIVFFlat(quantizer, xn.shape[1], nlist, faiss.METRIC_INNER_PRODUCT)
    index.cp.seed = seed
    index.train(xn)
    index.add(xn)
    index.nprobe = nprobe
    d, i = index.search(xn, k + 1)
    return drop_self(i, d, k)[0]


def faiss_hnsw_knn(
    x: np.ndarray, k: int, m: int = 32, ef_construction: int = 100, ef_search: int = 32
) -> np.ndarray:
    """faiss IndexHNSWFlat (inner product), every row a query."""
    import faiss

    xn = unit_rows(x)
    index = faiss.IndexHNSWFlat(xn.shape[1], m, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = ef_construction
    index.add(xn)
    index.hnsw.efSearch = ef_search
    d, i = index.search(xn, k + 1)
    return drop_self(i, d, k)[0]


def hnswlib_knn(
    x: np.ndarray, k: int, threads: int, m: int = 16, ef_construction: int = 200, ef: int = 32
) -> np.ndarray:
    """hnswlib (inner product on unit rows), every row a query."""
    import hnswlib

    xn = unit_rows(x)
    index = hnswlib.Index(space="ip", dim=xn.shape[1])
    index.init_index(max_elements=len(xn), M=m, ef_construction=ef_construction, random_seed=0)
    index.add_items(xn, num_threads=threads)
    index.set_ef(max(ef, k + 1))
    i, d = index.knn_query(xn, k=k + 1, num_threads=threads)
    return drop_self(i.astype(np.int64), d, k)[0]


def usearch_knn(
    x: np.ndarray,
    k: int,
    threads: int,
    connectivity: int = 16,
    expansion_add: int = 128,
    expansion_search: int = 64,
) -> np.ndarray:
    """usearch HNSW (inner product on unit rows), every row a query."""
    from usearch.index import Index

    xn = unit_rows(x)
    index = Index(
        ndim=xn.shape[1],
        metric="ip",
        dtype="f32",
        connectivity=connectivity,
        expansion_add=expansion_add,
        expansion_search=expansion_search,
    )
    index.add(np.arange(len(xn)), xn, threads=threads)
    res = index.search(xn, k + 1, threads=threads)
    return drop_self(res.keys.astype(np.int64), res.distances, k)[0]


def pynndescent_knn(x: np.ndarray, k: int, threads: int, n_neighbors: int = 17, seed: int = 0) -> np.ndarray:
    """pynndescent's all-neighbours graph (metric "dot" on unit rows, self included, then dropped)."""
    from pynndescent import NNDescent

    xn = unit_rows(x)
    index = NNDescent(
        xn, metric="dot", n_neighbors=max(n_neighbors, k + 1), random_state=seed, n_jobs=threads
    )
    i, d = index.neighbor_graph
    return drop_self(i[:, : k + 1].astype(np.int64), d[:, : k + 1], k)[0]


def exact_rows(x: np.ndarray, rows: np.ndarray, k: int, block: int = 64) -> np.ndarray:
    """Exact top-k (self excluded, ties by smaller index) of the given rows against all rows, in blocks."""
    xn = unit_rows(x)
    out = np.empty((len(rows), k), dtype=np.int64)
    for s in range(0, len(rows), block):
        r = rows[s : s + block]
        sim = xn[r] @ xn.T
        sim[np.arange(len(r)), r] = -np.inf
        part = np.argpartition(-sim, k, axis=1)[:, : k + 1]
        psim = np.take_along_axis(sim, part, axis=1)
        order = np.lexsort((part, -psim), axis=1)[:, :k]
        out[s : s + len(r)] = np.take_along_axis(part, order, axis=1)
    return out


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
