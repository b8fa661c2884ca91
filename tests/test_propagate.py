"""Propagation of node values over a graph (rbic_fast.propagate): closed forms and contracts."""

from __future__ import annotations

import numpy as np
import pytest
import rbic_fast
import scipy.sparse as sp


def path(n, w=None):
    w = np.ones(n - 1) if w is None else np.asarray(w, float)
    a = sp.diags([w, w], [-1, 1], shape=(n, n))
    return sp.csr_matrix(a)


def reference(a, values, known, alpha, iterations):
    """The documented Jacobi recursion in numpy (float64)."""
    a = a.toarray()
    deg = a.sum(1)
    mu = values[known].mean()
    f = np.where(known, values, mu).astype(float)
    for _ in range(iterations):
        avg = np.divide(a @ f, deg, out=np.full_like(f, mu), where=deg > 0)
        nxt = alpha * avg + (1 - alpha) * mu
        nxt[deg == 0] = mu
        f = np.where(known, f, nxt)
    return f


def test_path_alpha_one_is_linear_interpolation():
    n = 11
    values = np.zeros(n, np.float32)
    values[0] = 1.0
    known = np.zeros(n, bool)
    known[[0, -1]] = True
    f = rbic_fast.propagate(path(n), values, known, alpha=1.0, iterations=3000)
    np.testing.assert_allclose(f, np.linspace(1.0, 0.0, n), atol=1e-5)


def test_path_fixed_point_matches_linear_solve():
    n, alpha = 9, 0.8
    values = np.zeros(n, np.float32)
    values[2], values[7] = 1.0, 0.25
    known = np.zeros(n, bool)
    known[[2, 7]] = True
    a = path(n, np.linspace(0.5, 2.0, n - 1))
    f = rbic_fast.propagate(a, values, known, alpha=alpha, iterations=500)
    # f_U = alpha P_UU f_U + alpha P_UK y_K + (1 - alpha) mu  =>  solve (I - alpha P_UU) f_U = rhs
    dense = a.toarray()
    p = dense / dense.sum(1, keepdims=True)
    u, k = ~known, known
    mu = values[known].mean()
    rhs = alpha * p[np.ix_(u, k)] @ values[k] + (1 - alpha) * mu
    exact = np.linalg.solve(np.eye(u.sum()) - alpha * p[np.ix_(u, u)], rhs)
    np.testing.assert_allclose(f[u], exact, atol=1e-6)
    np.testing.assert_array_equal(f[k], values[k])


def test_two_cluster_closed_form():
    """Two disjoint s-cliques, one known node each: every unknown node of a clique takes
    x = (alpha y / (s - 1) + (1 - alpha) mu) / (1 - alpha (s - 2) / (s - 1))."""
    s, alpha = 6, 0.9
    clique = np.ones((s, s)) - np.eye(s)
    a = sp.csr_matrix(sp.block_diag([clique, clique]))
    values = np.zeros(2 * s, np.float32)
    values[0], values[s] = 1.0, 0.2
    known = np.zeros(2 * s, bool)
    known[[0, s]] = True
    mu = 0.6
    f = rbic_fast.propagate(a, values, known, alpha=alpha, iterations=400)
    for y, block in ((1.0, f[1:s]), (0.2, f[s + 1 :])):
        x = (alpha * y / (s - 1) + (1 - alpha) * mu) / (1 - alpha * (s - 2) / (s - 1))
        np.testing.assert_allclose(block, x, rtol=1e-6)


def test_each_sweep_matches_reference_and_threads():
    rng = np.random.default_rng(0)
    n = 3000
    i = rng.integers(0, n, 9000)
    j = (i + rng.integers(1, 40, 9000)) % n
    a = sp.csr_matrix((rng.uniform(0.1, 1, 9000), (i, j)), shape=(n, n))
    a = (a + a.T).tocsr()
    values = rng.random(n).astype(np.float32)
    known = rng.random(n) < 0.1
    values[~known] = np.nan  # unknown values are never read
    for iterations in (0, 1, 7):
        f = rbic_fast.propagate(a, values, known, alpha=0.7, iterations=iterations)
        np.testing.assert_allclose(f, reference(a, values, known, 0.7, iterations), rtol=1e-5, atol=1e-6)
    runs = [rbic_fast.propagate(a, values, known, threads=t) for t in (1, 2, 3)]
    for r in runs[1:]:
        np.testing.assert_array_equal(r, runs[0])


def test_isolated_unknown_gets_mean_of_known():
    a = sp.csr_matrix(sp.block_diag([path(3), sp.csr_matrix((1, 1))]))
    values = np.array([1.0, 0.0, 0.0, 0.0], np.float32)
    known = np.array([True, False, True, False])
    f = rbic_fast.propagate(a, values, known)
    assert f[3] == pytest.approx(0.5)
    assert f[1] == pytest.approx(0.5)  # symmetric between 1 and 0


def test_progress_and_errors():
    a = path(4)
    values = np.array([1, 0, 0, 0], np.float32)
    known = np.array([True, False, False, False])
    seen = []
    rbic_fast.propagate(a, values, known, iterations=5, progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (5, 5)
    with pytest.raises(ValueError, match="no node"):
        rbic_fast.propagate(a, values, np.zeros(4, bool))
    with pytest.raises(ValueError, match=r"values\[0\] is not finite"):
        rbic_fast.propagate(a, np.array([np.nan, 0, 0, 0], np.float32), known)
    with pytest.raises(ValueError, match="alpha"):
        rbic_fast.propagate(a, values, known, alpha=1.5)
    with pytest.raises(ValueError, match="iterations"):
        rbic_fast.propagate(a, values, known, iterations=-1)
    with pytest.raises(TypeError, match="boolean"):
        rbic_fast.propagate(a, values, known.astype(int))
    with pytest.raises(ValueError, match="shape"):
        rbic_fast.propagate(a, values[:3], known)
    with pytest.raises(ValueError, match="not symmetric"):
        rbic_fast.propagate(sp.csr_matrix(np.triu(np.ones((4, 4)), 1)), values, known)
