"""Benchmark graphs for community detection: cosine kNN graphs (k = 16, symmetrised by max) of the seeded
clustered synthetic embeddings, built once with faiss and cached as .npz under build/bench_cache (gitignored).

n <= 200 000 uses exact inner-product search; larger n exact search within each planted cluster, checked against
brute force on a sample of rows (see clustered_knn_graph). Weights are cosine similarities; non-positive ones are dropped.

planted_knn_graph() is a cheap stand-in with the same shape (k out-edges per node, symmetrised), drawn directly:
each out-edge stays in the node's planted cluster with probability p_in, else goes to a uniform random node.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from rbic_fast.synthetic import clustered_embeddings

CACHE = Path(os.environ.get("RBIC_BENCH_CACHE", Path(__file__).resolve().parent.parent / "build" / "bench_cache"))


def knn_csr(x: np.ndarray, k: int, *, threads: int = 2) -> sp.csr_matrix:
    """Symmetrised cosine kNN graph of L2-normalised rows of ``x`` (self matches removed), exact (faiss)."""
    import faiss

    faiss.omp_set_num_threads(threads)
    index = faiss.IndexFlatIP(x.shape[1])
    n = x.shape[0]
    index.add(x)
    sims, idx = index.search(x, k + 1)
    rows = np.repeat(np.arange(n, dtype=np.int64), k + 1)
    cols = idx.ravel().astype(np.int64)
    w = sims.ravel()
    keep = (cols != rows) & (cols >= 0) & (w > 0)
    a = sp.csr_matrix((w[keep].astype(np.float32), (rows[keep], cols[keep])), shape=(n, n))
    return a.maximum(a.T).tocsr()


def clustered_knn_graph(n: int, *, k: int = 16, d: int = 384, n_clusters: int = 200, seed: int = 0):
    """(graph, planted labels) for ``clustered_embeddings(n, d, n_clusters=..., seed=...)``, cached.

    n <= 200 000: exact search over all rows (faiss). Larger n: exact search within each planted cluster
    (rbic_fast.knn_graph per cluster): with the default spread a point's cosine to its own cluster is ~0.8 and to
    other clusters ~0, so its true neighbours are cluster-mates; this is checked against brute force over all n
    rows on a random sample of rows (the recall is printed).
    """
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"knn_n{n}_d{d}_c{n_clusters}_k{k}_s{seed}.npz"
    if path.exists():
        z = np.load(path)
        g = sp.csr_matrix((z["data"], z["indices"], z["indptr"]), shape=(n, n))
        return g, z["labels"]
    x, labels = clustered_embeddings(n, d, n_clusters=n_clusters, seed=seed)
    g = knn_csr(x, k) if n <= 200_000 else _knn_csr_within_clusters(x, labels, k)
    np.savez(path, data=g.data, indices=g.indices, indptr=g.indptr, labels=labels)
    return g, labels


def _knn_csr_within_clusters(x: np.ndarray, labels: np.ndarray, k: int, n_check: int = 1000) -> sp.csr_matrix:
    import sys

    import rbic_fast

    n = x.shape[0]
    nbr = np.empty((n, k), dtype=np.int64)
    sim = np.empty((n, k), dtype=np.float32)
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        g = rbic_fast.knn_graph(x[members], k)
        nbr[members] = members[g.indices]
        sim[members] = g.similarities
    check = np.random.default_rng(1).choice(n, size=min(n_check, n), replace=False)
    sims = x[check] @ x.T
    sims[np.arange(check.size), check] = -np.inf
    truth = np.argpartition(-sims, k, axis=1)[:, :k]
    recall = np.mean([len(set(a) & set(b)) / k for a, b in zip(truth, nbr[check])])
    print(f"# within-cluster kNN graph: recall@{k} {recall:.5f} against brute force on {check.size} rows", file=sys.stderr)
    rows, cols, vals = np.repeat(np.arange(n), k), nbr.ravel(), sim.ravel()
    keep = vals > 0
    a = sp.csr_matrix((vals[keep].astype(np.float32), (rows[keep], cols[keep])), shape=(n, n))
    return a.maximum(a.T).tocsr()


def real_knn_graph(name: str, *, k: int = 16, edge_threshold: float = 0.0):
    """(graph, None): the kNN graph (symmetrised by max, weights > ``edge_threshold``) of real sentence embeddings
    ``CACHE/real_<name>.npy`` written by ``bench/embed_shared_data.py`` (all-MiniLM-L6-v2 of real questions)."""
    import rbic_fast

    x = np.load(CACHE / f"real_{name}.npy")
    g = rbic_fast.knn_graph(x, k).to_csr(symmetrize="max", min_similarity=edge_threshold)
    g.eliminate_zeros()
    return g, None


def planted_knn_graph(n: int, *, k: int = 16, n_clusters: int | None = None, p_in: float = 0.85, seed: int = 0):
    """(graph, planted labels): a kNN-like graph with planted clusters (default n // 500 of them), drawn without
    embeddings, cached."""
    n_clusters = n_clusters or max(1, n // 500)
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"planted_n{n}_c{n_clusters}_k{k}_p{p_in}_s{seed}.npz"
    if path.exists():
        z = np.load(path)
        return sp.csr_matrix((z["data"], z["indices"], z["indptr"]), shape=(n, n)), z["labels"]
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % n_clusters).astype(np.int32)
    order = np.argsort(labels, kind="stable")
    start = np.searchsorted(labels[order], np.arange(n_clusters + 1))
    rows = np.repeat(np.arange(n, dtype=np.int64), k)
    own = labels[rows]
    inside = rng.random(rows.size) < p_in
    pick = start[own] + (rng.random(rows.size) * (start[own + 1] - start[own])).astype(np.int64)
    cols = np.where(inside, order[pick], rng.integers(0, n, rows.size))
    w = np.where(inside, rng.uniform(0.6, 0.95, rows.size), rng.uniform(0.3, 0.6, rows.size)).astype(np.float32)
    keep = cols != rows
    a = sp.csr_matrix((w[keep], (rows[keep], cols[keep])), shape=(n, n))
    a.sum_duplicates()
    a.data = np.minimum(a.data, 1.0)
    g = a.maximum(a.T).tocsr()
    np.savez(path, data=g.data, indices=g.indices, indptr=g.indptr, labels=labels)
    return g, labels
