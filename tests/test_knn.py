"""rbic_fast.knn_graph: exact top-k cosine neighbours against a NumPy brute-force oracle."""


import numpy as np
import pytest
import rbic_fast
import scipy.sparse as sp
from knn_oracle import assert_true_pairs
from native_contract import assert_interruptible, assert_progress_well_formed, assert_releases_gil
from rbic_fast import _core
from rbic_fast.knn import KnnGraph, KnnWarning, knn_graph
from rbic_fast.synthetic import clustered_embeddings

HAS_BF16 = "avx512_bf16" in rbic_fast.build_info()["cpu_features"]
HAS_VNNI = "avx512_vnni" in rbic_fast.build_info()["cpu_features"]


def assert_exact_knn(g: KnnGraph, x: np.ndarray, k: int, exclude_self: bool = True, normalize: bool = True):
    """g is a correct top-k: right similarities, sorted, and no row misses a neighbour that beats
    its k-th by more than float32 rounding."""
    s = assert_true_pairs(g, x, k, exclude_self, normalize)
    if exclude_self:
        np.fill_diagonal(s, -np.inf)
    rows = np.arange(x.shape[0])[:, None]
    assert np.all(np.diff(g.similarities, axis=1) <= 0), "rows must be sorted by descending similarity"
    kth = -np.sort(-s, axis=1)[:, k - 1]
    assert np.all(s[rows, g.indices] >= kth[:, None] - 2e-5), "a returned neighbour is not in the top k"
    # With continuous data almost every row must match the oracle's order exactly.
    order = np.argsort(-s, axis=1, kind="stable")[:, :k]
    assert (order == g.indices).all(axis=1).mean() >= 0.98


def random_rows(n, d, seed=0, dtype=np.float32):
    return np.random.default_rng(seed).standard_normal((n, d)).astype(dtype)


@pytest.mark.parametrize(
    "n,d,k",
    [(2, 3, 1), (50, 8, 5), (333, 17, 7), (1001, 64, 16), (700, 384, 10), (97, 1030, 4)],
)
@pytest.mark.parametrize("precision", ["fp32", "bf16", "int8"])
def test_exact_random(n, d, k, precision):
    x = random_rows(n, d, seed=n + d)
    assert_exact_knn(knn_graph(x, k, precision=precision), x, k)


@pytest.mark.parametrize("n,d,k", [(1200, 48, 16), (801, 384, 12)])
@pytest.mark.parametrize("precision", ["fp32", "bf16", "int8"])
def test_exact_clustered(n, d, k, precision):
    x, _ = clustered_embeddings(n, d, n_clusters=20, seed=3)
    assert_exact_knn(knn_graph(x, k, precision=precision), x, k)


@pytest.mark.parametrize("normalize", [True, False])
def test_include_self_and_raw_inner_product(normalize):
    x = random_rows(300, 24, seed=5) * np.linspace(0.5, 2.0, 300, dtype=np.float32)[:, None]
    g = knn_graph(x, 6, exclude_self=False, normalize=normalize)
    assert_exact_knn(g, x, 6, exclude_self=False, normalize=normalize)
    if normalize:  # a row is its own best cosine neighbour
        assert np.array_equal(g.indices[:, 0], np.arange(300))


def test_small_blocks_give_identical_results():
    """Many odd-sized blocks (block_rows=50) and the default blocking agree bit for bit."""
    x = random_rows(777, 40, seed=11)
    a = _core.knn_graph(x, 9, True, True, "fp32", 2, "auto", 50, None)
    b = _core.knn_graph(x, 9, True, True, "fp32", 2, "auto", 0, None)
    assert a[4] == 50 and b[4] != 50
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])


@pytest.mark.parametrize("isa", ["portable", "avx512"])
def test_kernel_fallbacks_are_exact(isa, monkeypatch):
    monkeypatch.setenv("RBIC_KNN_ISA", isa)
    x = random_rows(500, 45, seed=2)
    g = knn_graph(x, 8, precision="bf16")
    expected = isa if "avx512" in rbic_fast.build_info()["cpu_features"] else "portable"
    assert g.kernel == expected  # bf16 falls back to the fp32 kernel
    assert_exact_knn(g, x, 8)


def test_ties_broken_by_smaller_index():
    """Exact duplicates have bit-identical similarities; equal ones are ordered by index."""
    base = random_rows(10, 32, seed=4)
    x = np.repeat(base, 8, axis=0)[np.random.default_rng(0).permutation(80)]
    for precision in ("fp32", "bf16", "int8"):
        g = knn_graph(x, 3, precision=precision)
        for i in range(80):
            copies = [j for j in range(80) if j != i and np.array_equal(x[j], x[i])]
            assert g.indices[i].tolist() == copies[:3]
            assert len(set(g.similarities[i].tolist())) == 1
    g = knn_graph(x, 20)
    for i in range(80):
        sims, idx = g.similarities[i], g.indices[i]
        for a in range(19):
            assert sims[a] > sims[a + 1] or (sims[a] == sims[a + 1] and idx[a] < idx[a + 1])


@pytest.mark.parametrize("precision", ["fp32", "bf16", "int8"])
def test_deterministic_across_thread_counts(precision):
    x, _ = clustered_embeddings(1500, 64, n_clusters=30, seed=8)
    runs = [knn_graph(x, 10, threads=t, precision=precision) for t in (1, 2, 3)]
    for g in runs[1:]:
        assert np.array_equal(g.indices, runs[0].indices)
        assert np.array_equal(g.similarities, runs[0].similarities)


def spy_core(monkeypatch):
    """Record the array each _core.knn_graph call receives."""
    seen = []
    real = _core.knn_graph

    def spy(x, *args):
        seen.append(x)
        return real(x, *args)

    monkeypatch.setattr(_core, "knn_graph", spy)
    return seen


def test_memmap_input_is_not_copied(tmp_path, monkeypatch):
    x = random_rows(600, 33, seed=6)
    np.save(tmp_path / "emb.npy", x)
    mm = np.load(tmp_path / "emb.npy", mmap_mode="r")
    seen = spy_core(monkeypatch)
    g = knn_graph(mm, 7)
    assert np.shares_memory(seen[0], mm), "the memory-mapped matrix was copied"
    ref = knn_graph(x, 7)
    assert np.array_equal(g.indices, ref.indices) and np.array_equal(g.similarities, ref.similarities)


def test_float16_input_matches_float32_without_copy(monkeypatch):
    x16 = random_rows(400, 50, seed=7, dtype=np.float16)
    seen = spy_core(monkeypatch)
    g = knn_graph(x16, 5)
    assert seen[0].dtype == np.uint16 and np.shares_memory(seen[0], x16)
    ref = knn_graph(x16.astype(np.float32), 5)
    assert np.array_equal(g.indices, ref.indices) and np.array_equal(g.similarities, ref.similarities)
    assert_exact_knn(g, x16.astype(np.float32), 5)
    gb = knn_graph(x16, 5, precision="bf16")
    assert (gb.indices == g.indices).mean() >= 0.999


def test_non_contiguous_input_is_converted():
    x = random_rows(64, 200, seed=9)
    xt = np.asfortranarray(x)
    assert not xt.flags.c_contiguous
    ref = knn_graph(x, 4)
    g = knn_graph(xt, 4)
    assert np.array_equal(g.indices, ref.indices)
    strided = np.repeat(x, 2, axis=0)[::2]
    assert not strided.flags.c_contiguous
    assert np.array_equal(knn_graph(strided, 4).indices, ref.indices)


def test_core_rejects_what_the_wrapper_converts():
    x = random_rows(20, 4)
    with pytest.raises(TypeError):
        _core.knn_graph(np.asfortranarray(x), 3, True, True, "fp32")
    with pytest.raises(TypeError):
        _core.knn_graph(x.astype(np.float64), 3, True, True, "fp32")
    with pytest.raises(ValueError, match="precision"):
        _core.knn_graph(x, 3, True, True, "fp16")
    with pytest.raises(ValueError, match="isa"):
        _core.knn_graph(x, 3, True, True, "fp32", 1, "sse9")


def test_nan_and_inf_rows_are_named():
    x = random_rows(100, 8)
    x[7, 2] = np.nan
    x[42, 0] = np.inf
    with pytest.raises(ValueError, match=r"2 row\(s\) containing NaN or Inf.*rows 7, 42\. Drop or re-embed"):
        knn_graph(x, 3)


def test_overflowing_rows_are_rejected():
    x = random_rows(30, 4)
    x[3] = 1e20  # finite, but x @ x overflows float32
    with pytest.raises(ValueError, match=r"float32 range\): rows 3\."):
        knn_graph(x, 2, normalize=False)


def test_zero_rows_are_named_and_capped():
    x = random_rows(100, 8)
    x[list(range(10, 23))] = 0.0
    with pytest.raises(
        ValueError, match=r"13 all-zero row\(s\): rows 10, 11, .*19, \.\.\. \(3 more\).*normalize=False"
    ):
        knn_graph(x, 3)
    g = knn_graph(x, 3, normalize=False)  # raw inner products are defined for zero rows
    assert_exact_knn(g, x, 3, normalize=False)


@pytest.mark.parametrize(
    "bad,exc,match",
    [
        (np.zeros(5, np.float32), ValueError, "2-D"),
        (np.zeros((2, 3, 4), np.float32), ValueError, "2-D"),
        (np.zeros((5, 3), np.float64), TypeError, "float32 or float16"),
        (np.zeros((5, 3), np.int32), TypeError, "float32 or float16"),
        ([[1.0, 2.0], [3.0, 4.0]], TypeError, "numpy array"),
        (np.zeros((0, 8), np.float32), ValueError, "at least 2 rows"),
        (np.ones((1, 8), np.float32), ValueError, "at least 2 rows"),
        (np.zeros((4, 0), np.float32), ValueError, "at least one column"),
    ],
)
def test_bad_inputs(bad, exc, match):
    with pytest.raises(exc, match=match):
        knn_graph(bad, 1)


@pytest.mark.parametrize("k", [0, -3])
def test_nonpositive_k(k):
    with pytest.raises(ValueError, match="k must be >= 1"):
        knn_graph(random_rows(10, 4), k)


def test_bad_precision_and_threads():
    with pytest.raises(ValueError, match="precision"):
        knn_graph(random_rows(10, 4), 2, precision="fp16")
    with pytest.raises(ValueError, match="threads"):
        knn_graph(random_rows(10, 4), 2, threads=0)
    with pytest.raises(TypeError, match="k must be an int"):
        knn_graph(random_rows(10, 4), 2.5)


def test_k_larger_than_n_is_clipped_with_warning():
    x = random_rows(6, 4)
    with pytest.warns(KnnWarning, match="using k=5"):
        g = knn_graph(x, 16)
    assert g.k == 5
    assert_exact_knn(g, x, 5)
    with pytest.warns(KnnWarning, match="using k=6"):
        g = knn_graph(x, 16, exclude_self=False)
    assert g.k == 6
    one = knn_graph(np.ones((1, 3), np.float32), 1, exclude_self=False)
    assert one.indices.tolist() == [[0]]


def test_gil_released_during_native_call():
    x = random_rows(8000, 384, seed=1)
    assert_releases_gil(lambda: knn_graph(x, 16, threads=1))


def test_ctrl_c_interrupts():
    x = random_rows(30000, 384, seed=2)  # tens of seconds on one thread
    assert_interruptible(lambda: knn_graph(x, 16, threads=1))


@pytest.mark.parametrize("precision", ["fp32", "bf16", "int8"])
def test_progress_callback(precision):
    x = random_rows(2000, 32, seed=3)
    seen = []
    knn_graph(x, 4, precision=precision, progress=lambda done, total: seen.append((done, total)))
    assert_progress_well_formed(seen)


def test_progress_exception_propagates():
    def boom(done, total):
        raise RuntimeError("progress failed")

    with pytest.raises(RuntimeError, match="progress failed"):
        knn_graph(random_rows(3000, 16), 4, progress=boom)


# ------------------------------------------------------------------------------------------- to_csr
def directed(g: KnnGraph, min_similarity=None) -> sp.csr_matrix:
    n, k = g.n, g.k
    rows = np.repeat(np.arange(n), k)
    a = sp.coo_matrix(
        (g.similarities.ravel().astype(np.float64), (rows, g.indices.ravel())), shape=(n, n)
    ).tocsr()
    a.setdiag(0)
    if min_similarity is not None:
        a.data[a.data < min_similarity] = 0
    a.eliminate_zeros()
    return a


@pytest.fixture(scope="module")
def clustered_graph() -> KnnGraph:
    x, _ = clustered_embeddings(600, 32, n_clusters=12, seed=1)
    g = knn_graph(x, 8, exclude_self=False)
    assert g.similarities.min() > 0  # positive weights: scipy's implicit zeros never win a max
    return g


@pytest.mark.parametrize("min_similarity", [None, 0.85])
def test_to_csr_matches_scipy(clustered_graph, min_similarity):
    g = clustered_graph
    a = directed(g, min_similarity)
    expected = {"none": a, "max": a.maximum(a.T), "mean": (a + a.T) / 2}
    for mode, ref in expected.items():
        m = g.to_csr(mode, min_similarity=min_similarity)
        assert isinstance(m, sp.csr_matrix) and m.dtype == np.float32 and m.has_sorted_indices
        assert m.diagonal().sum() == 0 and m.nnz == ref.nnz
        np.testing.assert_allclose(m.toarray(), ref.toarray(), rtol=1e-6)
        if mode != "none":
            assert (m != m.T).nnz == 0
    # Mutual pairs keep their similarity under "mean"; one-way pairs get half.
    mean, mx = g.to_csr("mean").toarray(), g.to_csr("max").toarray()
    a = a.toarray()
    mutual = (a > 0) & (a.T > 0)
    assert np.allclose(mean[mutual], mx[mutual]) and np.allclose(
        mean[(a > 0) & ~mutual], a[(a > 0) & ~mutual] / 2
    )


def test_to_csr_negative_weights_and_bad_mode():
    x = random_rows(40, 3, seed=12)
    g = knn_graph(x, 30)
    assert g.similarities.min() < 0
    m = g.to_csr("max").toarray()
    s = g.similarities
    # A negative similarity survives symmetrisation (scipy's .maximum would clip it at 0).
    i, j = np.unravel_index(np.argmin(s), s.shape)
    assert m[i, g.indices[i, j]] == s[i, j] == m[g.indices[i, j], i]
    with pytest.raises(ValueError, match="symmetrize"):
        g.to_csr("min")


def test_to_csr_names_a_neighbour_outside_the_graph():
    g = KnnGraph(np.array([[1], [5]], dtype=np.int32), np.array([[0.9], [0.8]], dtype=np.float32))
    with pytest.raises(ValueError, match=r"neighbour index 5 at row 1, column 0 is outside \[0, 2\)"):
        g.to_csr()
    m = KnnGraph(np.array([[1], [0]], dtype=np.int32), np.array([[0.9], [0.8]], dtype=np.float32)).to_csr()
    assert m.toarray().tolist() == [[0, pytest.approx(0.9)], [pytest.approx(0.9), 0]]


# --------------------------------------------------------------------------------------------- bf16
@pytest.mark.skipif(not HAS_BF16, reason="CPU lacks AVX512_BF16")
def test_bf16_recall_and_exact_rescoring(monkeypatch):
    monkeypatch.delenv("RBIC_KNN_ISA", raising=False)
    x, _ = clustered_embeddings(3000, 384, n_clusters=40, seed=5)
    exact = knn_graph(x, 16)
    g = knn_graph(x, 16, precision="bf16")
    assert g.kernel == "avx512_bf16"
    recall = np.mean([len(set(a) & set(b)) / 16 for a, b in zip(g.indices.tolist(), exact.indices.tolist())])
    assert recall >= 0.999
    same = g.indices == exact.indices
    # Re-scored similarities are the fp32 path's values bit for bit.
    assert np.array_equal(g.similarities[same], exact.similarities[same])


# --------------------------------------------------------------------------------------------- int8
def assert_same_graph(g: KnnGraph, ref: KnnGraph):
    """Bit-identical neighbours and similarities (the int8 path must reproduce the fp32 path)."""
    assert np.array_equal(g.indices, ref.indices)
    assert np.array_equal(g.similarities, ref.similarities)


def near_tie_rows(n: int, d: int, seed: int) -> np.ndarray:
    """Adversarial for int8: rows a hair apart (cosines within ~1e-6 of each other, far below the int8
    quantisation error), plus a second tight group and random rows."""
    rng = np.random.default_rng(seed)
    base = rng.standard_normal(d)
    tight = base + 1e-3 * rng.standard_normal((n // 2, d))
    other = -base + 3e-2 * rng.standard_normal((n // 4, d))
    rest = rng.standard_normal((n - n // 2 - n // 4, d))
    return rng.permutation(np.vstack([tight, other, rest])).astype(np.float32)


INT8_CASES = {
    "random": lambda: random_rows(1203, 97, seed=21),
    "random_d384": lambda: random_rows(900, 384, seed=22),
    "clustered": lambda: clustered_embeddings(2500, 384, n_clusters=12, seed=23)[0],
    "duplicates": lambda: np.repeat(random_rows(60, 40, seed=24), 9, axis=0)[
        np.random.default_rng(1).permutation(540)
    ],
    "near_ties": lambda: near_tie_rows(700, 64, seed=25),
    "scaled_rows": lambda: random_rows(800, 33, seed=26) * np.logspace(-3, 3, 800, dtype=np.float32)[:, None],
}


@pytest.mark.parametrize("case", sorted(INT8_CASES))
@pytest.mark.parametrize("k", [1, 16])
def test_int8_identical_to_fp32(case, k, monkeypatch):
    """The certified shortlist never drops a true neighbour: int8 returns exactly the fp32 graph."""
    monkeypatch.delenv("RBIC_KNN_ISA", raising=False)
    x = INT8_CASES[case]()
    ref = knn_graph(x, k)
    g = knn_graph(x, k, precision="int8")
    assert g.kernel == ("avx512_vnni" if HAS_VNNI else ref.kernel)
    assert_same_graph(g, ref)
    assert k <= g.shortlist <= x.shape[0] - 1
    if case in ("random", "random_d384", "clustered"):
        assert_exact_knn(g, x, k)


@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("exclude_self", [True, False])
def test_int8_raw_inner_product_and_self(normalize, exclude_self):
    x = random_rows(400, 24, seed=27) * np.linspace(0.5, 2.0, 400, dtype=np.float32)[:, None]
    ref = knn_graph(x, 7, normalize=normalize, exclude_self=exclude_self)
    g = knn_graph(x, 7, normalize=normalize, exclude_self=exclude_self, precision="int8")
    assert_same_graph(g, ref)  # the fp32 raw inner products are oracle-checked above
    if normalize:
        assert_exact_knn(g, x, 7, exclude_self=exclude_self)


def test_int8_small_blocks_match_fp32():
    """Many odd-sized blocks (block_rows=50): probe pass and gates across block pairs."""
    x, _ = clustered_embeddings(1777, 72, n_clusters=25, seed=28)
    ref = _core.knn_graph(x, 11, True, True, "fp32", 2, "auto", 50, None)
    got = _core.knn_graph(x, 11, True, True, "int8", 2, "auto", 50, None)
    assert np.array_equal(got[0], ref[0]) and np.array_equal(got[1], ref[1])
    assert got[4] == 50 and got[3] >= 11


@pytest.mark.skipif(not HAS_VNNI, reason="CPU lacks AVX512_VNNI")
@pytest.mark.parametrize("exclude_self", [True, False])
def test_int8_crowded_block_pairs_give_the_fp32_graph(exclude_self, monkeypatch):
    """Hundreds of identical rows and a tight blob put whole block pairs inside the int8 gates (such block pairs
    are scored by the fp32 product instead of pair by pair): the same result, ties by index included."""
    monkeypatch.delenv("RBIC_KNN_ISA", raising=False)
    x, _ = clustered_embeddings(1500, 64, n_clusters=10, seed=31)
    x[:400] = x[0]
    x[400:700] = x[400] + 1e-4 * np.random.default_rng(32).standard_normal((300, 64)).astype(np.float32)
    ref = _core.knn_graph(x, 9, exclude_self, True, "fp32", 2, "auto", 50, None)
    got = _core.knn_graph(x, 9, exclude_self, True, "int8", 2, "auto", 50, None)
    assert got[2] == "avx512_vnni"
    assert np.array_equal(got[0], ref[0]) and np.array_equal(got[1], ref[1])
    assert got[3] >= 400 * 399 / 1500  # every identical row was scored in fp32 against all its copies
    # the identical rows' neighbours are the smallest other indices among them (ties by index)
    first = np.arange(10) if not exclude_self else np.arange(1, 10)
    assert list(got[0][0]) == list(first[:9])


@pytest.mark.skipif(not HAS_VNNI, reason="CPU lacks AVX512_VNNI")
def test_int8_shortlist_is_small_on_spread_data(monkeypatch):
    """On random data the certified bound keeps the fp32 work far below the n - 1 candidates of each row (block
    pairs crowded inside the gates are scored whole, which counts all their pairs; at most n - 1 per row)."""
    monkeypatch.delenv("RBIC_KNN_ISA", raising=False)
    x = random_rows(12000, 128, seed=29)
    g = knn_graph(x, 16, precision="int8")
    assert g.kernel == "avx512_vnni"
    assert 16 <= g.shortlist < 12000 / 40
    assert knn_graph(x, 16).shortlist == 16
    small = random_rows(1000, 384, seed=29)  # few blocks: most block pairs are crowded, but never more than n - 1
    assert knn_graph(small, 16, precision="int8").shortlist <= 999


@pytest.mark.parametrize("isa", ["portable", "avx512", "avx512_bf16"])
def test_int8_falls_back_without_vnni(isa, monkeypatch):
    monkeypatch.setenv("RBIC_KNN_ISA", isa)
    x = random_rows(500, 45, seed=30)
    g = knn_graph(x, 8, precision="int8")
    expected = (
        "portable"
        if isa == "portable" or "avx512" not in rbic_fast.build_info()["cpu_features"]
        else "avx512"
    )
    assert g.kernel == expected and g.shortlist == 8  # the fp32 kernel ran
    assert_exact_knn(g, x, 8)


def test_int8_isa_cap_keeps_vnni(monkeypatch):
    monkeypatch.setenv("RBIC_KNN_ISA", "avx512_vnni")
    x = random_rows(300, 40, seed=31)
    g = knn_graph(x, 5, precision="int8")
    fallback = "avx512" if "avx512" in rbic_fast.build_info()["cpu_features"] else "portable"
    assert g.kernel == ("avx512_vnni" if HAS_VNNI else fallback)
    assert_same_graph(g, knn_graph(x, 5))


def test_int8_memmap_and_float16_inputs(tmp_path, monkeypatch):
    x = random_rows(600, 33, seed=32)
    np.save(tmp_path / "emb.npy", x)
    mm = np.load(tmp_path / "emb.npy", mmap_mode="r")
    seen = spy_core(monkeypatch)
    g = knn_graph(mm, 7, precision="int8")
    assert np.shares_memory(seen[0], mm), "the memory-mapped matrix was copied"
    assert_same_graph(g, knn_graph(x, 7))
    x16 = random_rows(400, 50, seed=33, dtype=np.float16)
    g16 = knn_graph(x16, 5, precision="int8")
    assert seen[-1].dtype == np.uint16 and np.shares_memory(seen[-1], x16)
    assert_same_graph(g16, knn_graph(x16, 5))
    assert_same_graph(g16, knn_graph(x16.astype(np.float32), 5))


def test_unknown_precision_lists_the_options():
    with pytest.raises(ValueError, match="'fp32', 'bf16', 'int8'"):
        knn_graph(random_rows(10, 4), 2, precision="int4")
