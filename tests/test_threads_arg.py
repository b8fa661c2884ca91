"""The threads= argument of every native wrapper: None is all cores, an int >= 1 a count, anything else an error."""

import numpy as np
import pytest
import rbic_fast
import scipy.sparse as sp
from rbic_fast._threads import threads_arg


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


@pytest.mark.parametrize("bad, error", [(0, ValueError), (True, TypeError), ("2", TypeError)])
def test_every_wrapper_checks_threads(bad, error):
    x = np.random.default_rng(0).standard_normal((12, 4)).astype(np.float32)
    graph = sp.csr_matrix(np.ones((4, 4)) - np.eye(4))
    calls = [lambda: rbic_fast.parse_traces(["x = 1."], threads=bad),
             lambda: rbic_fast.knn_graph(x, 3, threads=bad),
             lambda: rbic_fast.communities(graph, threads=bad)]
    for call in calls:
        with pytest.raises(error, match="threads"):
            call()
