"""The peers rbic_fast.knn_graph is measured against, shared by bench_knn.py and knn_table.py."""

from __future__ import annotations

import numpy as np


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


def faiss_knn(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """faiss-cpu exact search: ``IndexFlatIP`` over the normalised rows, every row as a query.

    Searches ``k + 1`` and drops each row's own index (or the last hit when the row is not among them).

    :return: ``(indices (n, k) int64, similarities (n, k) float32)``.
    """
    import faiss

    xn = np.ascontiguousarray(x / np.linalg.norm(x, axis=1, keepdims=True), dtype=np.float32)
    index = faiss.IndexFlatIP(xn.shape[1])
    index.add(xn)
    d, i = index.search(xn, k + 1)
    keep = i != np.arange(len(i))[:, None]
    keep[keep.all(axis=1), -1] = False
    return i[keep].reshape(len(i), k), d[keep].reshape(len(i), k)


def recall_at_k(found: np.ndarray, truth: np.ndarray) -> float:
    """Mean fraction of each row's true neighbours that were found."""
    k = truth.shape[1]
    hits = sum(len(set(a) & set(b)) for a, b in zip(found.tolist(), truth.tolist()))
    return hits / (k * truth.shape[0])
