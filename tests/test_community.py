"""Leiden communities, modularity and within-community centrality (rbic_fast.graph)."""

from __future__ import annotations

import random

import numpy as np
import pytest
import rbic_fast
import scipy.sparse as sp
from native_contract import assert_interruptible, assert_releases_gil
from rbic_fast import _core
from rbic_fast.synthetic import clustered_embeddings
from scipy.sparse.csgraph import connected_components


def sbm(sizes, p_in, p_out, seed=0, weighted=False):
    """Symmetric stochastic-block-model adjacency (no self-loops) and its planted labels."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(len(sizes)), sizes)
    n = labels.size
    p = np.where(labels[:, None] == labels[None, :], p_in, p_out)
    upper = np.triu(rng.random((n, n)) < p, 1)
    w = rng.uniform(0.5, 1.0, (n, n)) if weighted else np.ones((n, n))
    a = np.where(upper, w, 0.0)
    return sp.csr_matrix(a + a.T), labels


def knn_graph(x, k):
    """Symmetrised (max) cosine kNN graph by brute force."""
    s = x @ x.T
    np.fill_diagonal(s, -np.inf)
    idx = np.argpartition(-s, k, axis=1)[:, :k]
    n = x.shape[0]
    rows = np.repeat(np.arange(n), k)
    w = np.maximum(s[rows, idx.ravel()], 1e-3).astype(np.float32)
    a = sp.csr_matrix((w, (rows, idx.ravel())), shape=(n, n))
    return a.maximum(a.T).tocsr()


def ari(a, b):
    """Adjusted Rand index from the contingency table."""
    _, a = np.unique(a, return_inverse=True)
    _, b = np.unique(b, return_inverse=True)
    table = sp.coo_matrix((np.ones(a.size), (a, b))).toarray()

    def comb2(x):
        return (x * (x - 1) / 2).sum()

    index, rows, cols = comb2(table), comb2(table.sum(1)), comb2(table.sum(0))
    expected = rows * cols / comb2(np.array([a.size]))
    return (index - expected) / ((rows + cols) / 2 - expected)


def nx_graph(a):
    """networkx graph whose loops follow our adjacency convention (A[i, i] = 2 * loop weight)."""
    nx = pytest.importorskip("networkx")
    g = nx.Graph()
    g.add_nodes_from(range(a.shape[0]))
    c = sp.triu(a).tocoo()
    for i, j, w in zip(c.row, c.col, c.data):
        g.add_edge(int(i), int(j), weight=float(w) / 2 if i == j else float(w))
    return g


def nx_modularity(a, membership, resolution=1.0):
    nx = pytest.importorskip("networkx")
    groups = [set(np.flatnonzero(membership == c).tolist()) for c in np.unique(membership)]
    return nx.community.modularity(nx_graph(a), groups, resolution=resolution)


def assert_connected(a, membership):
    for c in np.unique(membership):
        nodes = np.flatnonzero(membership == c)
        n_cc, _ = connected_components(a[nodes][:, nodes], directed=False)
        assert n_cc == 1, f"community {c} ({nodes.size} nodes) has {n_cc} components"


@pytest.fixture(scope="module")
def clustered():
    x, labels = clustered_embeddings(3000, 32, n_clusters=30, spread=0.9, seed=3)
    return knn_graph(x, 12), labels


@pytest.fixture(scope="module")
def noisy():
    """A sparse random graph with weak structure: many moves, many levels, easy to break connectivity."""
    rng = np.random.default_rng(7)
    n, m = 4000, 12000
    i, j = rng.integers(0, n, m), rng.integers(0, n, m)
    j = np.where(rng.random(m) < 0.7, (i + rng.integers(1, 30, m)) % n, j)  # local bias: ring communities
    keep = i != j
    a = sp.csr_matrix((rng.uniform(0.1, 1.0, keep.sum()), (i[keep], j[keep])), shape=(n, n))
    return (a + a.T).tocsr()


def test_planted_partition_recovered_and_modularity_matches_networkx():
    a, labels = sbm([60, 50, 40, 30], 0.3, 0.01, seed=1, weighted=True)
    c = rbic_fast.communities(a)
    assert ari(labels, c.membership) > 0.99
    assert c.modularity == pytest.approx(nx_modularity(a, c.membership), abs=1e-9)
    assert c.modularity == pytest.approx(rbic_fast.modularity(a, c.membership), abs=1e-12)


def test_labels_ordered_by_size_and_sizes_consistent(clustered):
    a, _ = clustered
    c = rbic_fast.communities(a)
    assert c.membership.dtype == np.int32 and c.membership.shape == (a.shape[0],)
    np.testing.assert_array_equal(c.sizes, np.bincount(c.membership))
    assert np.all(np.diff(c.sizes) <= 0)
    firsts = [np.flatnonzero(c.membership == k)[0] for k in range(c.n_communities)]
    for k in range(c.n_communities - 1):
        if c.sizes[k] == c.sizes[k + 1]:
            assert firsts[k] < firsts[k + 1]


def test_clustered_knn_graph_matches_planted_clusters(clustered):
    a, labels = clustered
    c = rbic_fast.communities(a)
    assert ari(labels, c.membership) > 0.9
    assert_connected(a, c.membership)


def test_quality_matches_igraph_leiden(clustered, noisy):
    ig = pytest.importorskip("igraph")
    for a in (clustered[0], noisy):
        g = ig.Graph.Weighted_Adjacency(a, mode="undirected")
        random.seed(0)  # igraph draws from Python's random module
        best = max(
            g.modularity(g.community_leiden("modularity", weights="weight", n_iterations=-1).membership,
                         weights="weight")
            for _ in range(3)
        )
        c = rbic_fast.communities(a)
        assert c.modularity == pytest.approx(g.modularity(c.membership, weights="weight"), abs=1e-9)
        assert c.modularity >= best - 0.005


def test_every_community_connected_on_noisy_graph(noisy):
    for seed in range(3):
        c = rbic_fast.communities(noisy, seed=seed)
        assert_connected(noisy, c.membership)
        for level in c.levels:
            assert level.shape == (noisy.shape[0],)
        assert c.n_communities > 1


@pytest.mark.parametrize("objective", ["modularity", "cpm"])
def test_deterministic_across_threads_and_runs(noisy, objective):
    res = 0.05 if objective == "cpm" else 1.0
    runs = [rbic_fast.communities(noisy, objective=objective, resolution=res, seed=5, threads=t) for t in (1, 2, 3, 2)]
    for r in runs[1:]:
        np.testing.assert_array_equal(r.membership, runs[0].membership)
        assert r.modularity == runs[0].modularity
        assert len(r.levels) == len(runs[0].levels)
        for x, y in zip(r.levels, runs[0].levels):
            np.testing.assert_array_equal(x, y)


def test_deterministic_across_threads_on_parallel_sized_graph():
    # Large enough that local moving gathers, refinement and aggregation all run on the worker team
    # (>= 65536 edge visits per step); the small fixtures run most steps on the calling thread.
    rng = np.random.default_rng(11)
    n, k, size = 20_000, 16, 250
    labels = rng.permutation(np.arange(n) % (n // size))
    members = np.argsort(labels, kind="stable")
    rows = np.repeat(np.arange(n), k)
    inside = rng.random(rows.size) < 0.8
    pick = members[labels[rows] * size + rng.integers(0, size, rows.size)]
    cols = np.where(inside, pick, rng.integers(0, n, rows.size))
    keep = cols != rows
    a = sp.csr_matrix((rng.uniform(0.3, 1.0, keep.sum()).astype(np.float32), (rows[keep], cols[keep])), shape=(n, n))
    a = a.maximum(a.T).tocsr()
    runs = [rbic_fast.communities(a, seed=2, threads=t) for t in (1, 2, 3)]
    for r in runs[1:]:
        np.testing.assert_array_equal(r.membership, runs[0].membership)
        assert r.modularity == runs[0].modularity
    assert ari(labels, runs[0].membership) > 0.99
    assert_connected(a, runs[0].membership)


def test_seed_changes_visiting_order_not_quality(noisy):
    q = [rbic_fast.communities(noisy, seed=s).modularity for s in range(4)]
    assert max(q) - min(q) < 0.02


def test_levels_fine_to_coarse(noisy):
    c = rbic_fast.communities(noisy)
    np.testing.assert_array_equal(c.levels[-1], c.membership)
    counts = [int(level.max()) + 1 for level in c.levels]
    assert len(counts) >= 2
    assert counts[0] > counts[-1]


def test_resolution_monotonic(clustered):
    a, _ = clustered
    counts = [rbic_fast.communities(a, resolution=r).n_communities for r in (0.1, 0.3, 1.0, 3.0, 10.0, 30.0)]
    assert counts == sorted(counts), counts
    assert counts[-1] > counts[0]


def test_modularity_resolution_matches_networkx(noisy):
    c = rbic_fast.communities(noisy, resolution=2.0)
    assert c.resolution == 2.0
    assert c.modularity == pytest.approx(nx_modularity(noisy, c.membership, resolution=2.0), abs=1e-9)


def test_target_size_picks_resolution():
    x, _ = clustered_embeddings(2400, 32, n_clusters=48, spread=0.6, seed=2)
    a = knn_graph(x, 10)
    plain = rbic_fast.communities(a)
    c = rbic_fast.communities(a, target_size=12)
    median = np.median(c.sizes[c.sizes >= 2])
    assert 12 / 1.6 <= median <= 12 * 1.6, (median, c.resolution)
    assert np.median(plain.sizes) > 1.6 * 12  # the planted clusters (50): the target mattered
    assert c.resolution > 1.0
    same = rbic_fast.communities(a, resolution=c.resolution)
    np.testing.assert_array_equal(same.membership, c.membership)


def test_cpm_recovers_blocks():
    a, labels = sbm([40, 40, 40], 0.5, 0.02, seed=4)
    c = rbic_fast.communities(a, objective="cpm", resolution=0.2)
    assert ari(labels, c.membership) > 0.99
    singletons = rbic_fast.communities(a, objective="cpm", resolution=1.5)
    assert singletons.n_communities == a.shape[0]  # denser than any edge can pay for


def test_empty_and_edgeless_graphs():
    c = rbic_fast.communities(sp.csr_matrix((0, 0), dtype=np.float32))
    assert c.membership.shape == (0,) and c.n_communities == 0 and c.modularity == 0.0
    c = rbic_fast.communities(sp.csr_matrix((5, 5), dtype=np.float32))
    np.testing.assert_array_equal(c.membership, np.arange(5))
    assert c.modularity == 0.0


def test_isolated_nodes_and_components_are_own_communities():
    blocks = [np.ones((5, 5)) - np.eye(5)] * 4 + [np.zeros((1, 1))] * 3
    a = sp.csr_matrix(sp.block_diag(blocks))
    c = rbic_fast.communities(a)
    assert c.n_communities == 7
    np.testing.assert_array_equal(c.sizes, [5, 5, 5, 5, 1, 1, 1])
    np.testing.assert_array_equal(c.membership[-3:], [4, 5, 6])
    for k in range(4):
        np.testing.assert_array_equal(c.membership[5 * k : 5 * k + 5], k)


def test_mostly_isolated_nodes():
    # Nodes without edges have empty candidate ranges at the end of the moving pass's buffers (an address one past
    # the end, which the sanitizer build's checked containers reject when taken by indexing).
    for n in (3, 40, 300):
        a = sp.lil_matrix((n, n), dtype=np.float32)
        a[0, 1] = a[1, 0] = 1.0
        c = rbic_fast.communities(a.tocsr())
        assert c.n_communities == n - 1
        assert c.membership[0] == c.membership[1]
        assert len(set(c.membership[1:].tolist())) == n - 1


def test_self_loops_follow_adjacency_convention(noisy):
    rng = np.random.default_rng(0)
    loops = sp.diags(rng.uniform(0.0, 3.0, noisy.shape[0]) * (rng.random(noisy.shape[0]) < 0.3))
    a = (noisy + loops).tocsr()
    c = rbic_fast.communities(a)
    assert c.modularity == pytest.approx(nx_modularity(a, c.membership), abs=1e-9)
    assert_connected(noisy, c.membership)


def test_input_formats_and_zero_weights(noisy):
    ref = rbic_fast.communities(noisy).membership
    for fmt in (noisy.tocsc(), noisy.tocoo(), noisy.astype(np.float64)):
        np.testing.assert_array_equal(rbic_fast.communities(fmt).membership, ref)
    t = sp.triu(noisy, 1).tocoo()
    data = t.data.copy()
    data[::7] = 0.0  # explicit zeros, symmetric: a zero weight is no edge
    with_zeros = sp.csr_matrix(
        (np.concatenate([data, data]), (np.concatenate([t.row, t.col]), np.concatenate([t.col, t.row]))),
        shape=noisy.shape,
    )
    assert (with_zeros.data == 0).sum() > 100
    dropped = with_zeros.copy()
    dropped.eliminate_zeros()
    np.testing.assert_array_equal(
        rbic_fast.communities(with_zeros).membership, rbic_fast.communities(dropped).membership
    )
    with pytest.raises(TypeError, match="scipy.sparse"):
        rbic_fast.communities(noisy.toarray())


def test_asymmetric_input_rejected():
    a = sp.csr_matrix(np.array([[0, 1, 0], [1, 0, 2], [0, 0, 0]], dtype=np.float32))
    with pytest.raises(ValueError, match=r"not symmetric: entry \(row 1, col 2\).*A.maximum\(A.T\)"):
        rbic_fast.communities(a)


@pytest.mark.parametrize("bad", [np.nan, -0.5, np.inf])
def test_bad_weights_name_the_entry(bad):
    d = np.array([[0, 1, 1], [1, 0, bad], [1, bad, 0]], dtype=np.float32)
    with pytest.raises(ValueError, match=r"entry \(row 1, col 2\) has weight"):
        rbic_fast.communities(sp.csr_matrix(d))
    with pytest.raises(ValueError, match=r"entry \(row 1, col 2\)"):
        rbic_fast.centrality(sp.csr_matrix(d), np.zeros(3, np.int32))


def test_bad_arguments():
    a, _ = sbm([10, 10], 0.5, 0.05)
    with pytest.raises(ValueError, match="objective"):
        rbic_fast.communities(a, objective="surprise")
    with pytest.raises(ValueError, match="resolution"):
        rbic_fast.communities(a, resolution=0.0)
    with pytest.raises(ValueError, match="threads"):
        rbic_fast.communities(a, threads=0)
    with pytest.raises(ValueError, match="max_iterations"):
        rbic_fast.communities(a, max_iterations=0)
    with pytest.raises(ValueError, match="target_size"):
        rbic_fast.communities(a, target_size=0.5)
    with pytest.raises(ValueError, match="square"):
        rbic_fast.communities(sp.csr_matrix((3, 4)))
    with pytest.raises(ValueError, match="membership"):
        rbic_fast.modularity(a, np.zeros(5, np.int32))


def test_core_rejects_unconverted_arrays():
    a = sp.csr_matrix(np.array([[0, 1], [1, 0]], dtype=np.float32))
    with pytest.raises(TypeError):  # int32 indptr is not silently converted
        _core.leiden(a.indptr, a.indices, a.data, 1.0, "modularity", 0, -1, 0.0, 1)
    with pytest.raises(TypeError):  # float64 weights
        _core.leiden(a.indptr.astype(np.int64), a.indices, a.data.astype(np.float64), 1.0, "modularity", 0, -1, 0.0, 1)


def test_max_iterations_one_is_connected_and_close(noisy):
    one = rbic_fast.communities(noisy, max_iterations=1)
    full = rbic_fast.communities(noisy)
    assert one.iterations == 1 and full.iterations >= 1
    assert_connected(noisy, one.membership)
    assert full.modularity >= one.modularity - 1e-12


# --- native call behaviour: progress, GIL, Ctrl-C --------------------------------------------------------------


@pytest.fixture(scope="module")
def big():
    rng = np.random.default_rng(1)
    n, m = 200_000, 800_000
    i = rng.integers(0, n, m)
    j = (i + rng.integers(1, 50, m)) % n
    a = sp.csr_matrix((rng.uniform(0.1, 1.0, m).astype(np.float32), (i, j)), shape=(n, n))
    return (a + a.T).tocsr()


def test_progress_reports_iterations(noisy):
    seen = []
    c = rbic_fast.communities(noisy, progress=lambda done, total: seen.append((done, total)))
    assert seen and seen[-1][0] == seen[-1][1]
    assert sum(1 for d, t in seen if d < t or d == c.iterations) >= c.iterations


def test_gil_released(big):
    assert_releases_gil(lambda: rbic_fast.communities(big, threads=1), min_share=0.3)


def test_ctrl_c_interrupts(big):
    # ~10 Leiden runs: several seconds
    assert_interruptible(lambda: rbic_fast.communities(big, target_size=3, threads=2), within=2.0)


# --- centrality -----------------------------------------------------------------------------------------------


def star_in_community():
    """Nodes 0..5: a star centred on 0 (weights 1) plus a weak leaf-leaf edge; nodes 6..8: a triangle."""
    rows = [0, 0, 0, 0, 0, 1, 6, 6, 7]
    cols = [1, 2, 3, 4, 5, 2, 7, 8, 8]
    w = [1, 1, 1, 1, 1, 0.1, 1, 2, 1]
    a = sp.coo_matrix((w, (rows, cols)), shape=(10, 10))
    a = (a + a.T).tocsr()
    membership = np.array([0, 0, 0, 0, 0, 0, 1, 1, 1, 2], np.int32)  # node 9: isolated singleton
    return a, membership


@pytest.mark.parametrize("kind", ["degree", "pagerank"])
def test_centrality_star(kind):
    a, m = star_in_community()
    c = rbic_fast.centrality(a, m, kind)
    assert c.dtype == np.float32 and c.shape == (10,)
    assert np.all((c >= 0) & (c <= 1))
    assert c[0] == 1.0
    assert np.all(c[1:6] < 0.6)
    assert c[3] == pytest.approx(c[4]) and c[4] == pytest.approx(c[5])
    assert c[1] > c[3]  # the weak leaf-leaf edge lifts nodes 1 and 2
    for k in np.unique(m):
        assert c[m == k].max() == 1.0
    assert c[9] == 1.0
    assert c[6] == 1.0 and c[7] < 1.0  # node 6 has the heaviest internal degree (3)


def test_centrality_degree_ignores_other_communities():
    a, m = star_in_community()
    c = rbic_fast.centrality(a, m, "degree")
    np.testing.assert_allclose(c[6:9], np.array([3.0, 2.0, 3.0]) / 3.0)
    merged = rbic_fast.centrality(a, np.zeros(10, np.int32), "degree")
    assert merged[0] == pytest.approx(5.0 / 5.0) and merged[6] == pytest.approx(3.0 / 5.0)


def test_centrality_pagerank_matches_networkx(clustered):
    nx = pytest.importorskip("networkx")
    a, _ = clustered
    m = rbic_fast.communities(a).membership
    c = rbic_fast.centrality(a, m, "pagerank")
    g = nx_graph(a)
    for k in (0, m.max()):
        nodes = np.flatnonzero(m == k).tolist()
        pr = nx.pagerank(g.subgraph(nodes), alpha=0.85, weight="weight", tol=1e-12, max_iter=1000)
        ref = np.array([pr[v] for v in nodes])
        np.testing.assert_allclose(c[nodes], ref / ref.max(), rtol=1e-4, atol=1e-6)
    for t in (1, 3):
        np.testing.assert_array_equal(rbic_fast.centrality(a, m, "pagerank", threads=t), c)


def test_centrality_bad_kind():
    a, m = star_in_community()
    with pytest.raises(ValueError, match="kind"):
        rbic_fast.centrality(a, m, "betweenness")
