"""The NumPy brute-force oracle shared by the exact and approximate kNN tests."""

from __future__ import annotations

import numpy as np
from rbic_fast.knn import KnnGraph


def oracle_sims(x: np.ndarray, normalize: bool = True) -> np.ndarray:
    """All-pairs similarities in float64 (cosine with ``normalize``, else raw inner products)."""
    x = x.astype(np.float64)
    if normalize:
        x = x / np.linalg.norm(x, axis=1, keepdims=True)
    return x @ x.T


def assert_true_pairs(
    g: KnnGraph, x: np.ndarray, k: int, exclude_self: bool = True, normalize: bool = True
) -> np.ndarray:
    """Shapes and dtypes right, every similarity the pair's true one (to float32 rounding), no duplicate
    neighbour, no row its own neighbour under ``exclude_self``. Returns the oracle similarities."""
    n = x.shape[0]
    assert g.indices.shape == (n, k) and g.similarities.shape == (n, k)
    assert g.indices.dtype == np.int32 and g.similarities.dtype == np.float32
    assert g.n == n and g.k == k
    s = oracle_sims(x, normalize)
    rows = np.arange(n)[:, None]
    np.testing.assert_allclose(g.similarities, s[rows, g.indices], atol=2e-5, rtol=0)
    assert all(len(set(r)) == k for r in g.indices.tolist()), "duplicate neighbour in a row"
    if exclude_self:
        assert not np.any(g.indices == rows)
    return s


def recall(approx: KnnGraph, exact: KnnGraph) -> float:
    """Share of each row's exact neighbours that the approximate graph found, averaged."""
    k = exact.k
    return float(
        np.mean([len(set(a) & set(b)) / k for a, b in zip(approx.indices.tolist(), exact.indices.tolist())])
    )
