"""Seeded synthetic data for tests and benchmarks."""

from __future__ import annotations

import numpy as np


def clustered_embeddings(
    n: int,
    d: int = 384,
    *,
    n_clusters: int = 200,
    spread: float = 0.5,
    seed: int = 0,
    dtype: np.dtype | type = np.float32,
    normalize: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """C Gaussian clusters on the unit sphere: the shape of sentence embeddings of a topical corpus.

    Cluster centres are uniform on the sphere; each point is its centre plus isotropic Gaussian noise of
    total norm about ``spread`` (per coordinate ``spread / sqrt(d)``), then L2-normalised.

    :param n: number of points.
    :param d: dimension.
    :param n_clusters: number of planted clusters (labels ``0..n_clusters-1``, sizes as equal as possible).
    :param spread: noise norm relative to the unit centre; 0.5 gives intra-cluster cosines around 0.8.
    :param seed: seed of the generator; the same arguments always give the same array.
    :param dtype: output dtype (float32 or float16).
    :param normalize: L2-normalise the rows (default), as sentence-transformers does.
    :return: ``(embeddings (n, d), labels (n,) int32)``.
    """
    if n < 0 or d <= 0 or n_clusters <= 0:
        raise ValueError(f"need n >= 0, d > 0, n_clusters > 0; got n={n}, d={d}, n_clusters={n_clusters}")
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_clusters, d), dtype=np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    labels = (np.arange(n, dtype=np.int64) % n_clusters).astype(np.int32)
    rng.shuffle(labels)
    x = rng.standard_normal((n, d), dtype=np.float32)
    x *= np.float32(spread / np.sqrt(d))
    x += centres[labels]
    if normalize:
        x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(dtype, copy=False), labels
