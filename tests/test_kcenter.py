"""Native greedy k-center: oracle picks, 2-approximation on an exhaustive case, determinism, contract."""

import itertools

import numpy as np
import pytest
from native_contract import assert_releases_gil
from rbic_fast import _core
from rbic_fast.strategies import greedy_kcenter
from rbic_fast.synthetic import clustered_embeddings


def reference_kcenter(x, k, start):
    """Farthest-first in numpy (float64), ties to the lowest index."""
    x = x.astype(np.float64)
    best = np.full(len(x), np.inf)
    centres, radius = [], []
    c = start
    for _ in range(k):
        centres.append(c)
        best = np.minimum(best, ((x - x[c]) ** 2).sum(axis=1))
        best[centres] = -1.0
        radius.append(np.sqrt(max(best.max(), 0.0)))
        c = int(np.argmax(best))
    return np.array(centres), np.array(radius)


def covering_radius(x, centres):
    d = np.sqrt(((x[:, None, :] - x[None, centres, :]) ** 2).sum(axis=2))
    return d.min(axis=1).max()


@pytest.mark.parametrize("seed", range(5))
def test_picks_match_the_numpy_reference(seed):
    x, _ = clustered_embeddings(300, 8, n_clusters=6, seed=seed)
    res = greedy_kcenter(x, 25, start=seed)
    centres, radius = reference_kcenter(x, 25, seed)
    np.testing.assert_array_equal(res.centres, centres)
    np.testing.assert_allclose(res.radius, radius, rtol=1e-5, atol=1e-6)
    assert np.all(np.diff(res.radius) <= 1e-7)
    brute = np.sqrt(((x[:, None, :].astype(np.float64) - x[None, res.centres, :]) ** 2).sum(axis=2)).min(axis=1)
    np.testing.assert_allclose(res.min_dist, brute, rtol=1e-5, atol=1e-6)
    assert res.radius[-1] == pytest.approx(brute.max(), rel=1e-5)


@pytest.mark.parametrize("seed", range(4))
def test_covering_radius_within_twice_the_exhaustive_optimum(seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((12, 2)).astype(np.float32)
    for k in (2, 3, 4):
        optimum = min(covering_radius(x, list(c)) for c in itertools.combinations(range(12), k))
        for start in range(12):
            res = greedy_kcenter(x, k, start=start)
            assert res.radius[-1] <= 2 * optimum + 1e-6
            assert res.radius[-1] == pytest.approx(covering_radius(x, res.centres), rel=1e-5)


def test_same_result_at_any_thread_count():
    x, _ = clustered_embeddings(5000, 16, n_clusters=40, seed=3)
    runs = [greedy_kcenter(x, 60, start=7, threads=t) for t in (1, 2, 3)]
    for r in runs[1:]:
        np.testing.assert_array_equal(r.centres, runs[0].centres)
        np.testing.assert_array_equal(r.min_dist, runs[0].min_dist)


def test_identical_points_give_distinct_centres():
    x = np.ones((5, 3), dtype=np.float32)
    res = greedy_kcenter(x, 5)
    assert sorted(res.centres.tolist()) == [0, 1, 2, 3, 4]
    assert np.all(res.radius == 0) and np.all(res.min_dist == 0)


def test_progress_reports_the_last_step():
    x, _ = clustered_embeddings(200, 4, n_clusters=5, seed=0)
    seen = []
    greedy_kcenter(x, 10, progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (10, 10)


def test_bad_input():
    x = np.zeros((4, 2), dtype=np.float32)
    with pytest.raises(ValueError, match="k must be in 1..4"):
        greedy_kcenter(x, 5)
    with pytest.raises(ValueError, match="start"):
        greedy_kcenter(x, 2, start=4)
    with pytest.raises(ValueError, match="no rows"):
        greedy_kcenter(np.zeros((0, 2)), 1)
    bad = x.copy()
    bad[2, 1] = np.nan
    with pytest.raises(ValueError, match=r"rows \[2\]"):
        greedy_kcenter(bad, 2)
    with pytest.raises(ValueError, match="2-D"):
        greedy_kcenter(np.zeros(4), 1)
    # The binding never converts: the wrapper's job.
    with pytest.raises(TypeError):
        _core.greedy_kcenter(x.astype(np.float64), 2)
    with pytest.raises(TypeError):
        _core.greedy_kcenter(np.zeros((4, 4), dtype=np.float32)[:, ::2], 2)
    with pytest.raises(ValueError, match="k must be"):
        _core.greedy_kcenter(x, 0)


def test_gil_is_released_during_the_call():
    x, _ = clustered_embeddings(20000, 64, n_clusters=50, seed=1)
    assert_releases_gil(lambda: greedy_kcenter(x, 600, threads=1))
