"""rbic_fast.knn_graph(method="approx"): recall against the exact self-join, determinism, inputs."""


import numpy as np
import pytest
import rbic_fast
from knn_oracle import assert_true_pairs, recall
from native_contract import assert_interruptible, assert_progress_well_formed, assert_releases_gil
from rbic_fast import _core
from rbic_fast.knn import AUTO_APPROX_MIN_ROWS, KnnGraph, KnnWarning, knn_graph
from rbic_fast.synthetic import clustered_embeddings


def assert_valid_graph(g: KnnGraph, x: np.ndarray, k: int, exclude_self: bool = True, normalize: bool = True):
    """The pairs' true similarities, sorted rows (ties by the smaller index), no duplicates or self."""
    assert g.method == "approx"
    assert_true_pairs(g, x, k, exclude_self, normalize)
    sims, idx = g.similarities, g.indices
    ordered = (sims[:, :-1] > sims[:, 1:]) | ((sims[:, :-1] == sims[:, 1:]) & (idx[:, :-1] < idx[:, 1:]))
    assert ordered.all(), "rows must be sorted by descending similarity, ties by smaller index"


@pytest.fixture(scope="module")
def clustered_20k():
    x, _ = clustered_embeddings(20_000, 384, seed=11)
    return x, knn_graph(x, 16)


def test_recall_at_20k_and_its_estimate(clustered_20k):
    x, exact = clustered_20k
    g = knn_graph(x, 16, method="approx", seed=3, recall_sample=2000)
    true = recall(g, exact)
    assert true >= 0.95
    assert g.recall is not None and abs(g.recall - true) <= 0.02
    assert g.shortlist < x.shape[0] / 4, "the approximate join scored most of the pairs"
    # Every returned similarity is the exact path's value for that pair (same fp32 arithmetic).
    same = g.indices == exact.indices
    assert same.mean() > 0.9
    assert np.array_equal(g.similarities[same], exact.similarities[same])


HAS_VNNI = "avx512_vnni" in rbic_fast.build_info()["cpu_features"]


def test_int8_join_keeps_recall_and_returns_fp32_similarities(clustered_20k):
    x, exact = clustered_20k
    g32 = knn_graph(x, 16, method="approx", seed=3, recall_sample=2000)
    g8 = knn_graph(x, 16, method="approx", seed=3, recall_sample=2000, precision="int8")
    assert g8.kernel == ("avx512_vnni" if HAS_VNNI else g32.kernel)
    assert recall(g8, exact) >= recall(g32, exact) - 0.005
    assert abs(g8.recall - recall(g8, exact)) <= 0.02
    # Re-scored in fp32: a pair the exact graph also holds has its similarity bit for bit, and rows are sorted.
    same = g8.indices == exact.indices
    assert same.mean() > 0.9
    assert np.array_equal(g8.similarities[same], exact.similarities[same])
    sims, idx = g8.similarities, g8.indices
    assert ((sims[:, :-1] > sims[:, 1:]) | ((sims[:, :-1] == sims[:, 1:]) & (idx[:, :-1] < idx[:, 1:]))).all()
    assert not np.any(idx == np.arange(len(x))[:, None])


def test_int8_join_pairs_are_true_pairs():
    x, _ = clustered_embeddings(3000, 64, n_clusters=30, seed=4)
    assert_valid_graph(knn_graph(x, 12, method="approx", seed=2, precision="int8"), x, 12)
    assert_valid_graph(knn_graph(x, 5, method="approx", exclude_self=False, normalize=False, nlist=4, nprobe=4,
                                 precision="int8"), x, 5, exclude_self=False, normalize=False)


def test_int8_join_odd_width_float16_and_tiny_inputs():
    x, _ = clustered_embeddings(2000, 37, n_clusters=20, seed=6)  # codes padded to whole words
    assert_valid_graph(knn_graph(x, 7, method="approx", nlist=20, nprobe=4, precision="int8"), x, 7)
    g16 = knn_graph(x.astype(np.float16), 7, method="approx", nlist=20, nprobe=4, precision="int8")
    assert_valid_graph(g16, x.astype(np.float16).astype(np.float32), 7)
    tiny = x[:12]  # k + 8 exceeds the 11 other rows: every row keeps them all
    g = knn_graph(tiny, 5, method="approx", nlist=2, nprobe=2, precision="int8")
    assert_valid_graph(g, tiny, 5)
    assert np.array_equal(g.indices, knn_graph(tiny, 5).indices)


def test_int8_join_is_deterministic_at_any_thread_count():
    x, _ = clustered_embeddings(6000, 48, n_clusters=40, seed=5)
    runs = [knn_graph(x, 10, method="approx", seed=7, nlist=60, nprobe=3, threads=t, precision="int8")
            for t in (1, 2, 3)]
    for g in runs[1:]:
        assert np.array_equal(g.indices, runs[0].indices)
        assert np.array_equal(g.similarities, runs[0].similarities)


def test_int8_join_without_vnni_is_the_fp32_join(monkeypatch):
    x, _ = clustered_embeddings(3000, 40, n_clusters=20, seed=2)
    ref = knn_graph(x, 8, method="approx", seed=1, nlist=30, nprobe=3)
    monkeypatch.setenv("RBIC_KNN_ISA", "avx512")  # caps the kernels below VNNI
    g = knn_graph(x, 8, method="approx", seed=1, nlist=30, nprobe=3, precision="int8")
    assert g.kernel == ref.kernel and g.kernel != "avx512_vnni"
    assert np.array_equal(g.indices, ref.indices) and np.array_equal(g.similarities, ref.similarities)
    with pytest.raises(ValueError, match="fp32 or int8"):
        knn_graph(x, 8, method="approx", precision="bf16")


def test_recall_estimate_tracks_a_poor_graph(clustered_20k):
    # Few lists probed on many small lists: recall well below 1, and the estimate must see it.
    x, exact = clustered_20k
    g = knn_graph(x, 16, method="approx", nlist=1000, nprobe=1, recall_sample=2000)
    true = recall(g, exact)
    assert true < 0.9
    assert abs(g.recall - true) <= 0.03


def test_deterministic_for_a_seed_at_any_thread_count():
    x, _ = clustered_embeddings(6000, 48, n_clusters=40, seed=5)
    runs = [knn_graph(x, 10, method="approx", seed=7, nlist=60, nprobe=3, threads=t) for t in (1, 2, 3, 1)]
    for g in runs[1:]:
        assert np.array_equal(g.indices, runs[0].indices)
        assert np.array_equal(g.similarities, runs[0].similarities)
        assert g.recall == runs[0].recall
    others = [knn_graph(x, 10, method="approx", seed=s, nlist=60, nprobe=3) for s in (8, 9)]
    assert any(not np.array_equal(o.indices, runs[0].indices) for o in others), "the seed changes nothing"


def test_exact_method_unchanged_and_reports_it():
    x, _ = clustered_embeddings(500, 32, n_clusters=10, seed=1)
    g = knn_graph(x, 5)
    assert g.method == "exact" and g.recall is None
    assert np.array_equal(knn_graph(x, 5, method="exact").indices, g.indices)


def test_auto_picks_exact_for_small_n_and_approx_for_large(monkeypatch):
    x, _ = clustered_embeddings(300, 16, n_clusters=5, seed=2)
    assert AUTO_APPROX_MIN_ROWS > 300
    g = knn_graph(x, 4, method="auto")
    assert g.method == "exact" and g.recall is None
    monkeypatch.setattr("rbic_fast.knn.AUTO_APPROX_MIN_ROWS", 100)
    g = knn_graph(x, 4, method="auto")
    assert g.method == "approx"
    # bf16 is for the exact method: auto's approximate graph scores in fp32 (the same graph)
    g16 = knn_graph(x, 4, method="auto", precision="bf16")
    assert g16.method == "approx" and np.array_equal(g16.indices, g.indices)


@pytest.mark.parametrize(
    "n,d,k,nlist,nprobe",
    [
        (2, 3, 1, None, None),
        (37, 5, 1, 5, 1),
        (1001, 17, 7, 33, 2),
        (333, 130, 16, 300, 1),
        (90, 8, 40, 9, 1),
    ],
)
def test_odd_sizes_tiny_lists_and_k(n, d, k, nlist, nprobe):
    x = np.random.default_rng(n + d).standard_normal((n, d)).astype(np.float32)
    g = knn_graph(x, k, method="approx", nlist=nlist, nprobe=nprobe)
    assert_valid_graph(g, x, k)


def test_many_lists_and_one_list_is_exact():
    x = np.random.default_rng(0).standard_normal((700, 24)).astype(np.float32)
    exact = knn_graph(x, 6)
    g = knn_graph(x, 6, method="approx", nlist=1)
    assert np.array_equal(g.indices, exact.indices) and np.array_equal(g.similarities, exact.similarities)
    g = knn_graph(x, 6, method="approx", nlist=20, nprobe=20)  # every list pair
    assert np.array_equal(g.indices, exact.indices)
    assert g.recall == 1.0


def test_include_self_and_raw_inner_product():
    x = np.random.default_rng(4).standard_normal((400, 12)).astype(np.float32)
    g = knn_graph(x, 5, method="approx", exclude_self=False, normalize=False, nlist=4, nprobe=4)
    assert_valid_graph(g, x, 5, exclude_self=False, normalize=False)
    assert np.array_equal(g.indices, knn_graph(x, 5, exclude_self=False, normalize=False).indices)
    g = knn_graph(x, 3, method="approx", exclude_self=False, nlist=4, nprobe=4)
    assert np.array_equal(g.indices[:, 0], np.arange(400)), "a row is its own nearest neighbour"


def test_duplicate_points_tie_by_smaller_index():
    base = np.random.default_rng(4).standard_normal((10, 32)).astype(np.float32)
    x = np.repeat(base, 8, axis=0)[np.random.default_rng(0).permutation(80)]
    g = knn_graph(x, 3, method="approx", nlist=10, nprobe=10)
    for i in range(80):
        copies = [j for j in range(80) if j != i and np.array_equal(x[j], x[i])]
        assert g.indices[i].tolist() == copies[:3]
    # All rows identical: k-means centroids collapse; the graph is still complete and valid.
    same = np.ones((50, 8), np.float32)
    g = knn_graph(same, 4, method="approx", nlist=7)
    assert g.indices.tolist() == [[j for j in range(50) if j != i][:4] for i in range(50)]


def test_float16_and_memmap_inputs(tmp_path, monkeypatch):
    x, _ = clustered_embeddings(3000, 40, n_clusters=20, seed=6)
    ref = knn_graph(x, 8, method="approx", seed=1)
    x16 = x.astype(np.float16)
    seen = []
    real = _core.knn_graph_approx

    def spy(xin, *args, **kwargs):
        seen.append(xin)
        return real(xin, *args, **kwargs)

    monkeypatch.setattr(_core, "knn_graph_approx", spy)
    g16 = knn_graph(x16, 8, method="approx", seed=1)
    assert seen[-1].dtype == np.uint16 and np.shares_memory(seen[-1], x16)
    assert np.array_equal(g16.indices, knn_graph(x16.astype(np.float32), 8, method="approx", seed=1).indices)
    np.save(tmp_path / "emb.npy", x)
    mm = np.load(tmp_path / "emb.npy", mmap_mode="r")
    g = knn_graph(mm, 8, method="approx", seed=1)
    assert np.shares_memory(seen[-1], mm), "the memory-mapped matrix was copied"
    assert np.array_equal(g.indices, ref.indices) and np.array_equal(g.similarities, ref.similarities)


def test_bad_rows_are_named_like_the_exact_path():
    x = np.random.default_rng(1).standard_normal((100, 8)).astype(np.float32)
    x[7, 2] = np.nan
    x[42, 0] = np.inf
    with pytest.raises(ValueError, match=r"2 row\(s\) containing NaN or Inf.*rows 7, 42\. Drop or re-embed"):
        knn_graph(x, 3, method="approx")
    x = np.random.default_rng(1).standard_normal((100, 8)).astype(np.float32)
    x[[10, 11]] = 0.0
    with pytest.raises(ValueError, match=r"2 all-zero row\(s\): rows 10, 11\..*normalize=False"):
        knn_graph(x, 3, method="approx")
    g = knn_graph(x, 3, method="approx", normalize=False, nlist=3, nprobe=3)
    assert_valid_graph(g, x, 3, normalize=False)


@pytest.fixture(scope="module")
def diffuse_20k():
    """Rows spread over a 24-dimensional subspace (no clusters): neighbours lie in many lists."""
    rng = np.random.default_rng(5)
    basis = np.linalg.qr(rng.standard_normal((384, 24)))[0].T.astype(np.float32)
    x = rng.standard_normal((20_000, 24)).astype(np.float32) @ basis
    x += 0.05 * rng.standard_normal((20_000, 384)).astype(np.float32) + 0.3 * basis[0]
    return x, knn_graph(x, 16)


def test_nprobe_follows_the_target_recall_on_diffuse_data(diffuse_20k):
    x, exact = diffuse_20k
    fixed = knn_graph(x, 16, method="approx", nprobe=4, recall_sample=1000)
    assert recall(fixed, exact) < 0.5  # four lists are far too few here
    graphs = {
        t: knn_graph(x, 16, method="approx", target_recall=t, recall_sample=1000) for t in (0.8, 0.95, 0.99)
    }
    for t, g in graphs.items():
        true = recall(g, exact)
        assert t - 0.02 <= true <= min(1.0, t + 0.05), (t, true)  # tuned on 256 rows, checked on all
        assert abs(g.recall - true) <= 0.03
    assert graphs[0.8].shortlist < graphs[0.95].shortlist < graphs[0.99].shortlist < x.shape[0]


def test_clustered_data_needs_few_lists(clustered_20k):
    x, exact = clustered_20k
    g = knn_graph(x, 16, method="approx", target_recall=0.95, recall_sample=1000)
    assert recall(g, exact) >= 0.95
    assert g.shortlist < 0.1 * x.shape[0]


@pytest.mark.parametrize(
    "kwargs,exc,match",
    [
        ({"method": "fast"}, ValueError, "method must be one of"),
        ({"method": "approx", "precision": "bf16"}, ValueError, "scores in fp32"),
        ({"method": "approx", "nlist": 0}, ValueError, "nlist must be an int >= 1"),
        ({"method": "approx", "nprobe": -1}, ValueError, "nprobe must be an int >= 1"),
        ({"method": "approx", "recall_sample": 2.5}, ValueError, "recall_sample must be an int >= 0"),
        ({"method": "approx", "seed": -1}, ValueError, "seed must be an int >= 0"),
        ({"method": "approx", "target_recall": 0}, ValueError, "target_recall must be in"),
        ({"method": "approx", "target_recall": 1.5}, ValueError, "target_recall must be in"),
        ({"method": "approx", "threads": 0}, ValueError, "threads"),
    ],
)
def test_bad_arguments(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        knn_graph(np.random.default_rng(0).standard_normal((20, 4)).astype(np.float32), 2, **kwargs)


def test_bad_shapes_and_k():
    with pytest.raises(ValueError, match="at least 2 rows"):
        knn_graph(np.ones((1, 8), np.float32), 1, method="approx")
    with pytest.raises(ValueError, match="k must be >= 1"):
        knn_graph(np.ones((5, 8), np.float32), 0, method="approx")
    x = np.random.default_rng(0).standard_normal((6, 4)).astype(np.float32)
    with pytest.warns(KnnWarning, match="using k=5"):
        g = knn_graph(x, 16, method="approx")
    assert g.k == 5
    with pytest.raises(TypeError):
        _core.knn_graph_approx(np.asfortranarray(x), 2, True, True)
    with pytest.raises(ValueError, match="k must be in"):
        _core.knn_graph_approx(x, 6, True, True)


def test_recall_sample_zero_skips_the_estimate():
    x, _ = clustered_embeddings(2000, 16, n_clusters=10, seed=3)
    assert knn_graph(x, 4, method="approx", recall_sample=0).recall is None


def test_progress_is_monotone_with_one_total():
    x, _ = clustered_embeddings(4000, 32, n_clusters=20, seed=3)
    seen = []
    knn_graph(x, 4, method="approx", progress=lambda done, total: seen.append((done, total)))
    assert_progress_well_formed(seen)


def test_gil_released_and_interruptible():
    x, _ = clustered_embeddings(30_000, 384, seed=2)
    assert_releases_gil(lambda: knn_graph(x, 16, method="approx", threads=1, recall_sample=0))
    # nlist=1: one list, i.e. the whole exact self-join (tens of seconds on one thread).
    assert_interruptible(lambda: knn_graph(x, 16, method="approx", nlist=1, threads=1))
