"""Side-by-side community detection on cached kNN graphs: prints one markdown table of ratios.

Every tool starts from the same CSR arrays (indptr, indices, data) and ends with a membership array; "build"
is its own graph construction, "algo" the algorithm alone. Modularity is computed one way for all
(rbic_fast.modularity, checked against networkx/igraph in tests/test_community.py), ARI against the planted
clusters, "disc." counts communities that are not connected.

Usage: PYTHONPATH=python python bench/compare_community.py [--n 100000] [--threads 2] [--repeat 3]
       [--skip networkx_louvain,leidenalg] [--graph clustered|planted]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rbic_fast
from community_data import clustered_knn_graph, planted_knn_graph, real_knn_graph


def ari(a: np.ndarray, b: np.ndarray) -> float:
    from sklearn.metrics import adjusted_rand_score

    return float(adjusted_rand_score(a, b))


def disconnected(g: sp.csr_matrix, m: np.ndarray) -> int:
    """Communities whose induced subgraph has more than one connected component."""
    coo = g.tocoo()
    keep = m[coo.row] == m[coo.col]
    inner = sp.csr_matrix((np.ones(keep.sum()), (coo.row[keep], coo.col[keep])), shape=g.shape)
    _, comp = connected_components(inner, directed=False)
    pairs = np.unique(np.stack([m, comp]), axis=1)
    return int(pairs.shape[1] - np.unique(m).size)


def upper(indptr, indices, data, n):
    g = sp.csr_matrix((data, indices, indptr), shape=(n, n))
    t = sp.triu(g, k=0).tocoo()
    return t.row, t.col, t.data


def run_rbic(indptr, indices, data, n, threads):
    t0 = time.perf_counter()
    g = sp.csr_matrix((data, indices, indptr), shape=(n, n))
    t1 = time.perf_counter()
    c = rbic_fast.communities(g, threads=threads)
    t2 = time.perf_counter()
    return c.membership, t1 - t0, t2 - t1


def run_nk(indptr, indices, data, n, threads, kind):
    import networkit as nk

    nk.setNumberOfThreads(threads)
    t0 = time.perf_counter()
    r, c, w = upper(indptr, indices, data, n)
    G = nk.GraphFromCoo((w.astype(np.float64), (r.astype(np.uint64), c.astype(np.uint64))), n=n, weighted=True, directed=False)
    t1 = time.perf_counter()
    if kind == "plm":
        algo = nk.community.PLM(G, refine=False, gamma=1.0, par="balanced")
    else:
        algo = nk.community.ParallelLeiden(G, iterations=3, randomize=True, gamma=1.0)
    algo.run()
    m = np.asarray(algo.getPartition().getVector(), dtype=np.int64)
    t2 = time.perf_counter()
    return m, t1 - t0, t2 - t1


def igraph_graph(indptr, indices, data, n):
    import igraph as ig

    r, c, w = upper(indptr, indices, data, n)
    G = ig.Graph(n=n, edges=np.column_stack([r, c]), directed=False)
    G.es["weight"] = w.astype(np.float64)
    return G


def run_igraph(indptr, indices, data, n, threads):
    t0 = time.perf_counter()
    G = igraph_graph(indptr, indices, data, n)
    t1 = time.perf_counter()
    p = G.community_leiden(objective_function="modularity", weights="weight", n_iterations=2)
    t2 = time.perf_counter()
    return np.asarray(p.membership), t1 - t0, t2 - t1


def run_leidenalg(indptr, indices, data, n, threads):
    import leidenalg as la

    t0 = time.perf_counter()
    G = igraph_graph(indptr, indices, data, n)
    t1 = time.perf_counter()
    p = la.find_partition(G, la.ModularityVertexPartition, weights="weight", seed=0)
    t2 = time.perf_counter()
    return np.asarray(p.membership), t1 - t0, t2 - t1


def run_networkx(indptr, indices, data, n, threads):
    import networkx as nx

    t0 = time.perf_counter()
    G = nx.from_scipy_sparse_array(sp.csr_matrix((data, indices, indptr), shape=(n, n)))
    t1 = time.perf_counter()
    parts = nx.community.louvain_communities(G, weight="weight", seed=0)
    t2 = time.perf_counter()
    m = np.empty(n, np.int64)
    for k, s in enumerate(parts):
        m[list(s)] = k
    return m, t1 - t0, t2 - t1


TOOLS = {
    "rbic_fast": (run_rbic, True),
    "nk_plm": (lambda *a: run_nk(*a, kind="plm"), True),
    "nk_parallel_leiden": (lambda *a: run_nk(*a, kind="leiden"), True),
    "igraph_leiden": (run_igraph, True),
    "leidenalg": (run_leidenalg, False),
    "networkx_louvain": (run_networkx, False),
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--skip", default="")
    ap.add_argument("--graph", default="clustered",
                    help="clustered (kNN graph of clustered embeddings), planted (the kNN-like generator) or "
                    "real:NAME (kNN graph of build/bench_cache/real_NAME.npy from bench/embed_shared_data.py)")
    args = ap.parse_args()
    if args.graph.startswith("real:"):
        g, labels = real_knn_graph(args.graph.split(":", 1)[1])
        args.n = g.shape[0]
    else:
        g, labels = {"clustered": clustered_knn_graph, "planted": planted_knn_graph}[args.graph](args.n)
    indptr, indices, data = g.indptr, g.indices, g.data
    skip = set(filter(None, args.skip.split(",")))
    rows = []
    for name, (fn, fast) in TOOLS.items():
        if name in skip:
            continue
        times = []
        for _ in range(args.repeat if fast else 1):
            m, build, algo = fn(indptr, indices, data, args.n, args.threads)
            times.append((build + algo, build, algo))
        total, build, algo = sorted(times)[len(times) // 2]  # median run by total
        q = rbic_fast.modularity(g, np.unique(m, return_inverse=True)[1].astype(np.int32))
        a = ari(labels, m) if labels is not None else float("nan")
        rows.append((name, total, build, algo, q, np.unique(m).size, a, disconnected(g, m)))
        print(f"# {name}: {total:.3f}s", file=sys.stderr, flush=True)
    ref = {r[0]: r for r in rows}["rbic_fast"]
    load = os.getloadavg()
    print(f"graph={args.graph} n={args.n} nnz={g.nnz} threads={args.threads} repeat={args.repeat} (median) "
          f"load={load[0]:.2f},{load[1]:.2f},{load[2]:.2f} cpu={os.cpu_count()}")
    print("| tool | total s | build s | algo s | total / rbic_fast | modularity | #comms | ARI | disc. |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, total, build, algo, q, c, a, d in rows:
        print(f"| {name} | {total:.3f} | {build:.3f} | {algo:.3f} | {total / ref[1]:.1f}x | {q:.4f} | {c} | {a:.3f} | {d} |")


if __name__ == "__main__":
    main()
