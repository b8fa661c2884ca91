"""The threads= argument of every native wrapper: None is all cores, an int >= 1 a count, anything else an error."""

import numpy as np
import pytest
import rbic_fast
import scipy.sparse as sp
from rbic_fast._threads import threads_arg
from rbic_fast.strategies import greedy_kcenter


def test_threads_arg_values():
    assert threads_arg(None) == 0
    assert threads_arg(1) == 1
    assert threads_arg(np.int64(3)) == 3
    for bad in (0, -2):
        with pytest.raises(ValueError, match=">= 1"):
            threads_arg(bad)
    for bad in (True, False, 2.0, 1.5, "2"):
        with pytest.raises(TypeError, match="int >= 1"):
            threads_arg(bad)
    assert threads_arg(0, zero_is_all=True) == 0
    assert threads_arg(np.int64(0), zero_is_all=True) == 0
    with pytest.raises(ValueError, match=">= 0"):
        threads_arg(-1, zero_is_all=True)
    with pytest.raises(TypeError, match="int >= 1"):
        threads_arg(0.0, zero_is_all=True)


@pytest.mark.parametrize("bad, error", [(0, ValueError), (True, TypeError), ("2", TypeError)])
def test_every_wrapper_checks_threads(bad, error):
    x = np.random.default_rng(0).standard_normal((12, 4)).astype(np.float32)
    graph = sp.csr_matrix(np.ones((4, 4)) - np.eye(4))
    calls = [lambda: rbic_fast.parse_traces(["x = 1."], threads=bad),
             lambda: rbic_fast.knn_graph(x, 3, threads=bad),
             lambda: rbic_fast.communities(graph, threads=bad)]
    if bad != 0:  # (greedy_kcenter documented threads=0 as its default, and keeps it)
        calls.append(lambda: greedy_kcenter(x, 3, threads=bad))
    for call in calls:
        with pytest.raises(error, match="threads"):
            call()


def test_kcenter_threads_none_zero_and_counts_agree():
    x = np.random.default_rng(1).standard_normal((40, 5)).astype(np.float32)
    runs = [greedy_kcenter(x, 6, threads=t) for t in (None, 0, 1, 2)]
    for r in runs[1:]:
        np.testing.assert_array_equal(r.centres, runs[0].centres)
        np.testing.assert_array_equal(r.min_dist, runs[0].min_dist)
    with pytest.raises(ValueError, match="threads"):
        greedy_kcenter(x, 6, threads=-1)
