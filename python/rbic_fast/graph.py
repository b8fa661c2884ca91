"""Knowledge domains on a similarity graph: Leiden communities, core samples and value propagation.

Every function takes ``graph``: a weighted undirected graph as a scipy.sparse matrix (csr, csc or coo; e.g.
``KnnGraph.to_csr()``), read as its adjacency matrix ``A``:

- ``A`` must be symmetric (``A[i, j] == A[j, i]`` up to a relative 1e-5); asymmetric input is an error,
  symmetrise it first with ``A.maximum(A.T)`` or ``(A + A.T) / 2``.
- Weights must be finite and >= 0 (negative or NaN entries raise ValueError naming the entry); explicit zero
  entries are dropped (a zero weight is no edge). Duplicate entries are summed, as scipy does.
- A diagonal entry ``A[i, i]`` is a self-loop and counts *once* in the weighted degree
  ``k_i = sum_j A[i, j]``; ``2m = A.sum()``. (networkx and igraph count a loop edge of weight ``w`` twice, so
  their loop ``w`` is our ``A[i, i] = 2w``.)

Conversion to the native layout (int64 offsets, int32 indices, float32 weights, sorted rows) is done
explicitly here and copies only what does not already match.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.sparse as sp

from . import _core
from ._progress import ProgressArg, make_progress
from ._threads import threads_arg

__all__ = ["Communities", "centrality", "communities", "modularity", "propagate"]


@dataclass(frozen=True)
class Communities:
    """Result of :func:`communities`.

    :param membership: (n,) int32 community labels ``0..c-1``; label 0 is the largest community, ties broken
        by the smallest member.
    :param modularity: Newman modularity of ``membership`` on the input graph at ``resolution`` (at 1.0 when
        the objective was CPM).
    :param sizes: (c,) int64 community sizes, non-increasing.
    :param levels: memberships from fine to coarse (same labelling rule): the partitions after the local
        moving phase on each aggregation level of the first Leiden iteration, then ``membership`` as the last
        element; consecutive duplicates are dropped. Levels get coarser but are not necessarily nested.
    :param resolution: the resolution used (differs from the argument when ``target_size=`` chose it).
    :param iterations: Leiden iterations run for that resolution.
    """

    membership: np.ndarray
    modularity: float
    sizes: np.ndarray
    levels: list[np.ndarray]
    resolution: float
    iterations: int

    @property
    def n_communities(self) -> int:
        """Number of communities ``c``."""
        return int(self.sizes.shape[0])


def _csr_arrays(graph: object) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate the container and return (indptr int64, indices int32, weights float32) of canonical CSR."""
    if not sp.issparse(graph):
        raise TypeError(
            f"graph must be a scipy.sparse matrix (csr/csc/coo), got {type(graph).__name__}; "
            "build one with scipy.sparse.csr_matrix((weights, (rows, cols)), shape=(n, n))"
        )
    if graph.ndim != 2 or graph.shape[0] != graph.shape[1]:
        raise ValueError(f"graph must be a square (n, n) adjacency matrix, got shape {graph.shape}")
    if graph.shape[0] >= 2**31 - 1:
        raise ValueError("graph: more than 2^31 - 2 nodes are not supported")
    csr = graph.tocsr() if graph.format != "csr" else graph
    if csr.dtype.kind not in "fiub":
        raise TypeError(f"graph weights must be real numbers, got dtype {csr.dtype}")
    if not csr.has_canonical_format:  # explicit copy: sort rows and sum duplicates
        csr = csr.copy() if csr is graph else csr
        csr.sum_duplicates()
    data = csr.data
    if data.size and not np.all(data):  # explicit copy: zero weights are not edges
        csr = csr.copy() if csr is graph else csr
        csr.eliminate_zeros()
    indptr = np.ascontiguousarray(csr.indptr, dtype=np.int64)
    indices = np.ascontiguousarray(csr.indices, dtype=np.int32)
    weights = np.ascontiguousarray(csr.data, dtype=np.float32)
    return indptr, indices, weights


def communities(
    graph: object,
    *,
    resolution: float = 1.0,
    objective: Literal["modularity", "cpm"] = "modularity",
    seed: int = 0,
    max_iterations: int = -1,
    target_size: float | None = None,
    threads: int | None = None,
    progress: ProgressArg = None,
) -> Communities:
    """Leiden communities (knowledge domains) of a weighted undirected graph.

    Leiden (Traag, Waltman & van Eck 2019): queue-based fast local moving, a greedy refinement that keeps every
    community connected, aggregation on the refined partition (the moved partition is the initial one), repeated
    until an iteration changes nothing (one whose first local-moving pass moves no node ends there when the
    previous iteration's aggregate levels changed nothing).
    The local moving runs in parallel yet is exactly the sequential algorithm, so the result is the same for a
    ``seed`` at any ``threads``. Isolated nodes are their own communities.

    :param graph: symmetric weighted adjacency matrix (see the module docstring for the input rules).
    :param resolution: gamma; larger gives more, smaller communities (modularity's resolution limit merges
        small clusters at gamma = 1 on large graphs).
    :param objective: ``"modularity"`` (default) or ``"cpm"`` (constant Potts model; resolution is then an
        edge-density threshold).
    :param seed: seed of the node visiting orders.
    :param max_iterations: Leiden iterations; -1 runs until the partition is stable (at most 100).
    :param target_size: if given, choose the resolution (starting from ``resolution``) so that the median size
        of the communities with >= 2 members is close to this, by bracketing and bisecting log(resolution)
        (about 10 runs). The chosen value is returned in ``.resolution``.
    :param threads: worker threads (None: all cores); never changes the result.
    :param progress: None/False, True (tqdm bar) or a callable ``(done, total)`` over Leiden iterations.
    :return: a :class:`Communities`.
    """
    indptr, indices, weights = _csr_arrays(graph)
    if target_size is not None and not target_size >= 1:
        raise ValueError(f"target_size must be >= 1 (a median community size) or None, got {target_size}")
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    callback, close = make_progress(progress, "communities")
    try:
        membership, levels, q, used, iterations = _core.leiden(
            indptr, indices, weights, float(resolution), str(objective), int(seed), int(max_iterations),
            float(target_size or 0.0), threads_arg(threads), callback,
        )
    finally:
        close()
    sizes = np.bincount(membership).astype(np.int64) if membership.size else np.zeros(0, np.int64)
    return Communities(membership, float(q), sizes, list(levels), float(used), int(iterations))


def modularity(graph: object, membership: np.ndarray, *, resolution: float = 1.0, threads: int | None = None) -> float:
    """Newman modularity ``sum_c [in_c / 2m - resolution * (tot_c / 2m)^2]`` of a partition.

    ``in_c`` sums ``A[i, j]`` over ordered pairs inside community c (a diagonal entry once), ``tot_c`` the weighted
    degrees of its members, ``2m = A.sum()``. 0 for a graph without edges.

    :param graph: symmetric weighted adjacency matrix.
    :param membership: (n,) integer labels in ``[0, n)``.
    :param resolution: gamma.
    :param threads: worker threads (None: all cores); the value does not depend on it.
    :return: the modularity.
    """
    indptr, indices, weights = _csr_arrays(graph)
    labels = _labels(membership, indptr.shape[0] - 1)
    return float(_core.modularity(indptr, indices, weights, labels, float(resolution), threads_arg(threads)))


def _labels(membership: np.ndarray, n: int) -> np.ndarray:
    m = np.asarray(membership)
    if m.shape != (n,):
        raise ValueError(f"membership must have shape ({n},), one label per node; got {m.shape}")
    if m.dtype.kind not in "iu":
        raise TypeError(f"membership must hold integer labels, got dtype {m.dtype}")
    if n and (m.min() < 0 or m.max() >= n):
        raise ValueError(f"membership labels must lie in [0, {n}); got [{m.min()}, {m.max()}]")
    return np.ascontiguousarray(m, dtype=np.int32)


def centrality(
    graph: object,
    membership: np.ndarray,
    kind: Literal["degree", "pagerank"] = "degree",
    *,
    threads: int | None = None,
) -> np.ndarray:
    """Core-sample score of each node inside its community, in [0, 1] (1 = the community's most central node).

    ``"degree"``: weighted degree to the other members of its community (self-loops excluded);
    ``"pagerank"``: PageRank (damping 0.85, uniform teleport, dangling rank spread uniformly) of the subgraph
    induced by the community. Scores are divided by the community's maximum; members of a community without
    internal edges (e.g. a singleton) all get 1.

    :param graph: symmetric weighted adjacency matrix.
    :param membership: (n,) integer labels in ``[0, n)``, e.g. ``communities(graph).membership``.
    :param kind: ``"degree"`` or ``"pagerank"``.
    :param threads: worker threads (None: all cores); the result does not depend on it.
    :return: (n,) float32.
    """
    indptr, indices, weights = _csr_arrays(graph)
    labels = _labels(membership, indptr.shape[0] - 1)
    return _core.centrality(indptr, indices, weights, labels, str(kind), threads_arg(threads))


def propagate(
    graph: object,
    values: np.ndarray,
    known_mask: np.ndarray,
    *,
    alpha: float = 0.9,
    iterations: int = 30,
    threads: int | None = None,
    progress: ProgressArg = None,
) -> np.ndarray:
    """Spread a per-node value (e.g. measured accuracy) from the known nodes to the rest of the graph.

    With ``mu`` the mean of the known values, start from ``f = values`` on known nodes and ``mu`` elsewhere and
    run ``iterations`` Jacobi sweeps of, for every unknown node u,

        f[u] <- alpha * sum_j A[u, j] f[j] / k_u + (1 - alpha) * mu      (k_u = sum_j A[u, j]; mu if k_u = 0)

    keeping known nodes clamped. This converges (geometrically for alpha < 1) to the fixed point
    ``f_U = alpha P_UU f_U + alpha P_UK y_K + (1 - alpha) mu`` with ``P = D^-1 A``; at ``alpha = 1`` it is the
    harmonic interpolation of the known values (nodes not connected to any known node keep ``mu``).

    :param graph: symmetric weighted adjacency matrix.
    :param values: (n,) values; only entries where ``known_mask`` is set are read and must be finite.
    :param known_mask: (n,) bool, True where the value is known (at least one).
    :param alpha: weight of the neighbour average, in [0, 1].
    :param iterations: number of sweeps (>= 0).
    :param threads: worker threads (None: all cores); the result does not depend on it.
    :param progress: None/False, True (tqdm bar) or a callable ``(done, total)`` over sweeps.
    :return: (n,) float32; known nodes keep their values.
    """
    indptr, indices, weights = _csr_arrays(graph)
    n = indptr.shape[0] - 1
    vals = np.asarray(values)
    mask = np.asarray(known_mask)
    if vals.shape != (n,) or mask.shape != (n,):
        raise ValueError(f"values and known_mask must have shape ({n},); got {vals.shape} and {mask.shape}")
    if mask.dtype != np.bool_:
        raise TypeError(f"known_mask must be a boolean array, got dtype {mask.dtype}")
    vals = np.ascontiguousarray(vals, dtype=np.float32)
    known = np.ascontiguousarray(mask, dtype=np.uint8)
    callback, close = make_progress(progress, "propagate")
    try:
        return _core.propagate(
            indptr, indices, weights, vals, known, float(alpha), int(iterations), threads_arg(threads), callback
        )
    finally:
        close()
