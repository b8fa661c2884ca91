import numpy as np
import pytest
from rbic_fast.synthetic import clustered_embeddings


def test_seeded_and_shaped():
    a, la = clustered_embeddings(1000, 64, n_clusters=10, seed=3)
    b, lb = clustered_embeddings(1000, 64, n_clusters=10, seed=3)
    c, _ = clustered_embeddings(1000, 64, n_clusters=10, seed=4)
    assert a.shape == (1000, 64) and a.dtype == np.float32
    assert np.array_equal(a, b) and np.array_equal(la, lb) and not np.array_equal(a, c)
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, rtol=1e-5)
    assert np.bincount(la).tolist() == [100] * 10


def test_clusters_are_tighter_than_background():
    x, lab = clustered_embeddings(2000, 128, n_clusters=20, seed=0)
    sims = x[:200] @ x.T
    same = lab[:200, None] == lab[None, :]
    assert sims[same].mean() > 0.6
    assert abs(sims[~same].mean()) < 0.1


def test_bad_arguments():
    with pytest.raises(ValueError, match="n_clusters"):
        clustered_embeddings(10, 8, n_clusters=0)
