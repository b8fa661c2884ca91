"""Cosine k-nearest-neighbour graph over embedding rows (the knowledge-domain graph): exact, or approximate
for large ``n``."""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.sparse as sp

from . import _core
from ._progress import ProgressArg, make_progress
from ._threads import threads_arg

__all__ = ["AUTO_APPROX_MIN_ROWS", "KnnGraph", "KnnWarning", "knn_graph"]

# Testing/diagnostic knob: caps the instruction set of the native kernels ("auto", "avx512_bf16",
# "avx512_vnni", "avx512", "portable"), e.g. RBIC_KNN_ISA=avx512 exercises the bf16 and int8 fallbacks.
_ISA_ENV = "RBIC_KNN_ISA"
_PRECISIONS = ("fp32", "bf16", "int8")
_METHODS = ("exact", "approx", "auto")
# method="auto" runs the exact self-join below this many rows and the approximate one from it on: the
# measured crossover of the two on clustered d=384 data (bench/knn_approx_table.py, README section knn).
AUTO_APPROX_MIN_ROWS = 5_000
# Rows checked exactly for KnnGraph.recall when recall_sample is not given.
_DEFAULT_RECALL_SAMPLE = 256


class KnnWarning(UserWarning):
    """A kNN argument was adjusted (``k`` clipped to the number of available neighbours)."""


@dataclass(frozen=True, eq=False)  # array fields: identity equality, not an ambiguous elementwise ==
class KnnGraph:
    """Top-k neighbours of every row.

    :param indices: ``(n, k)`` int32, row ``i`` lists its neighbours by descending similarity, ties by
        ascending index.
    :param similarities: ``(n, k)`` float32 cosine similarities (inner products with
        ``normalize=False``) matching ``indices``.
    :param kernel: the native kernel that ran: ``"avx512_bf16"`` (bf16 shortlist re-scored in fp32),
        ``"avx512_vnni"`` (int8 shortlist re-scored in fp32), ``"avx512"`` or ``"portable"`` (fp32).
    :param shortlist: mean number of candidates per row re-scored in fp32 (``k`` for the fp32 path); for
        ``method="approx"`` the mean number of rows each row was scored against.
    :param method: what ran: ``"exact"`` or ``"approx"``.
    :param recall: ``method="approx"``: estimated recall@k (share of the exact top-``k`` found, averaged over a
        seeded random sample of rows whose exact lists were computed); ``None`` for the exact method or when
        ``recall_sample=0``.
    """

    indices: np.ndarray
    similarities: np.ndarray
    kernel: str = ""
    shortlist: float = 0.0
    method: str = "exact"
    recall: float | None = None

    @property
    def n(self) -> int:
        """Number of rows (nodes)."""
        return int(self.indices.shape[0])

    @property
    def k(self) -> int:
        """Neighbours per row."""
        return int(self.indices.shape[1])

    def to_csr(
        self,
        symmetrize: Literal["max", "mean", "none"] = "max",
        min_similarity: float | None = None,
    ) -> sp.csr_matrix:
        """The graph as an ``n x n`` sparse matrix with float32 similarity weights.

        Directed edges ``i -> indices[i, j]`` are kept when their similarity is ``>= min_similarity``
        (all when ``None``); self loops are dropped. Then, for each unordered pair with an edge in at
        least one direction, ``w_ij`` and ``w_ji`` are the directed weights (absent = missing):

        - ``"none"``: the directed graph, row ``i`` holds ``i``'s neighbours;
        - ``"max"``: both ``(i, j)`` and ``(j, i)`` get the largest present directed weight (the union
          of both directions; a pair's similarity is the same in both directions, so this is that
          similarity);
        - ``"mean"``: both get ``(w_ij + w_ji) / 2`` with a missing direction counting as 0, i.e.
          ``(A + A.T) / 2``: mutual neighbours keep their similarity, one-way edges get half of it.

        :param symmetrize: ``"max"``, ``"mean"`` or ``"none"``.
        :param min_similarity: drop directed edges below this similarity first.
        :return: ``scipy.sparse.csr_matrix`` (float32, sorted indices, no self loops).
        """
        if symmetrize not in ("max", "mean", "none"):
            raise ValueError(f"symmetrize must be 'max', 'mean' or 'none', got {symmetrize!r}")
        n = self.n
        indptr, indices, weights, nnz = _core.knn_to_csr(
            np.ascontiguousarray(self.indices, dtype=np.int32),
            np.ascontiguousarray(self.similarities, dtype=np.float32),
            symmetrize,
            None if min_similarity is None else float(min_similarity),
        )
        indices.resize(nnz, refcheck=False)  # in place: the arrays were sized for every directed edge twice
        weights.resize(nnz, refcheck=False)
        m = sp.csr_matrix((weights, indices, indptr), shape=(n, n))
        m.has_sorted_indices = True
        return m


def _as_rows(embeddings: np.ndarray) -> np.ndarray:
    """Validate dtype/ndim and return a C-contiguous float32 or float16 array (a copy only when the
    rows are not already contiguous, e.g. a transposed or strided view)."""
    if not isinstance(embeddings, np.ndarray):
        raise TypeError(
            f"embeddings must be a numpy array (np.memmap is fine), got {type(embeddings).__name__}; "
            "use np.asarray(embeddings, dtype=np.float32)"
        )
    if embeddings.ndim != 2:
        raise ValueError(f"embeddings must be 2-D (n_rows, dim), got shape {embeddings.shape}")
    if embeddings.dtype not in (np.float32, np.float16):
        raise TypeError(
            f"embeddings must be float32 or float16, got {embeddings.dtype}; convert with "
            "embeddings.astype(np.float32)"
        )
    # Memory-mapped and ordinary C-ordered arrays pass through untouched; other layouts are copied
    # once here, explicitly, because the native core reads whole rows.
    return np.ascontiguousarray(embeddings)


def knn_graph(
    embeddings: np.ndarray,
    k: int = 16,
    *,
    method: Literal["exact", "approx", "auto"] = "exact",
    seed: int = 0,
    exclude_self: bool = True,
    normalize: bool = True,
    precision: Literal["fp32", "bf16", "int8"] = "fp32",
    threads: int | None = None,
    progress: ProgressArg = None,
    nlist: int | None = None,
    nprobe: int | None = None,
    recall_sample: int | None = None,
    target_recall: float = 0.95,
) -> KnnGraph:
    """Top-``k`` cosine neighbours of every row against all rows: exact, or approximate for large ``n``.

    ``method="exact"`` (default) computes every pair once in a blocked self-join. ``method="approx"``
    partitions the rows into ``nlist`` inverted lists with a seeded spherical k-means and joins each list
    with its ``nprobe`` nearest lists (by centroid), one blocked product per list pair feeding both sides'
    top-``k``; returned similarities are still the exact fp32 ones of the returned pairs, but a true
    neighbour in a list that was not probed is missed. ``KnnGraph.recall`` estimates how many: the exact
    lists of ``recall_sample`` seeded random rows are computed and compared. ``method="auto"`` runs the
    exact method below :data:`AUTO_APPROX_MIN_ROWS` rows and the approximate one from there on.

    Rows are read block by block (float16 rows are converted per block), so an ``np.memmap`` or
    ``np.load(path, mmap_mode="r")`` array is never copied whole by the exact method; the approximate one
    keeps one float32 copy of the rows, reordered by list. The ``n x n`` matrix is never formed. Results
    are identical at any thread count (and, for ``"approx"``, fixed by ``seed``).

    :param embeddings: ``(n, d)`` float32 or float16 array. Non-C-contiguous arrays (e.g. a transposed
        view) are copied once with ``np.ascontiguousarray``.
    :param k: neighbours per row. If ``k`` exceeds the ``n - 1`` other rows (``n`` with
        ``exclude_self=False``), it is clipped to that with a :class:`KnnWarning`.
    :param method: ``"exact"``, ``"approx"`` or ``"auto"`` (see above).
    :param seed: seeds the approximate method's k-means sample and initial centroids and its recall sample.
    :param exclude_self: leave row ``i`` out of its own list.
    :param normalize: cosine similarity (rows divided by their norms; all-zero rows are an error).
        ``False`` ranks by the raw inner product (use it for already-normalised embeddings).
    :param precision: ``"fp32"``: exact. ``"bf16"``: bf16 dot products (AVX512_BF16)
        shortlist ``k + max(k, 16)`` candidates per row, which are re-scored in fp32, so returned similarities
        are the fp32 ones and the neighbour sets match fp32 up to rare near-ties at the shortlist edge. On a
        CPU without AVX512_BF16 this runs the fp32 kernel (``KnnGraph.kernel`` says which ran).
        ``"int8"``: int8 dot products (AVX512_VNNI) on per-row scaled int8 codes of the normalised rows,
        with a certified per-row error bound: every candidate that could be in the exact top-``k`` is kept
        and re-scored in fp32, so indices and similarities are identical to ``"fp32"`` (ties included).
        Costs ``n * d`` extra bytes for the codes; ``KnnGraph.shortlist`` is the mean number of candidates
        per row scored in fp32 (large when many rows crowd near a row's ``k``-th similarity, e.g. a dense
        cluster or duplicated rows; a block pair with too many such pairs is scored whole by the fp32 kernel,
        which bounds the int8 path's cost: 1.5x the fp32 path when two fifths of the rows are copies or near-copies).
        Falls back to the fp32 kernel on a CPU without AVX512_VNNI or for ``d > 65536``. With
        ``method="approx"`` (fp32 or int8; bf16 is an error), ``"int8"`` scores the list-pair join with the
        int8 codes (no bound: it is approximate anyway), keeps ``k + 8`` candidates per row and re-scores them
        in fp32: returned similarities are fp32 values, and the lists match the fp32 approximate graph up to
        near-ties (the ``recall`` estimate measures the result against the exact graph either way). With
        ``method="auto"``, bf16 applies when the exact method runs (the approximate one then scores in fp32).
    :param threads: worker threads (default: all cores / ``OMP_NUM_THREADS``).
    :param progress: ``True`` for a tqdm bar, or a callable ``progress(done, total)`` called from the
        calling thread; ``None`` for no reporting.
    :param nlist: approximate method: number of inverted lists (default ``round(sqrt(n))``).
    :param nprobe: approximate method: lists each list is joined with, itself included (more is
        slower and closer to exact). Grown for a list whose probed lists hold fewer than ``k + 1`` rows. Default:
        chosen for ``target_recall``.
    :param recall_sample: approximate method: rows checked exactly for ``KnnGraph.recall`` (default 256;
        ``0`` skips the estimate). Costs about ``recall_sample / n`` of an exact self-join.
    :param target_recall: approximate method without ``nprobe``: the exact neighbours of 256 seeded rows
        (apart from the recall sample) are computed after the partition, and ``nprobe`` is the smallest
        number of probed lists that joins at least this share of those rows' neighbour pairs (a pair is
        joined when either row's list probes the other's). The cost follows the data: clustered
        embeddings need few lists, diffuse ones many.
    :return: :class:`KnnGraph`.
    :raises ValueError: NaN/Inf rows, all-zero rows (with ``normalize``), fewer than 2 rows (1 with
        ``exclude_self=False``), ``k <= 0``, bad ``precision``/``method``/tuning values.
    :raises TypeError: not an ndarray, or a dtype other than float32/float16.
    """
    x = _as_rows(embeddings)
    n = x.shape[0]
    if precision not in _PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(map(repr, _PRECISIONS))}, got {precision!r}")
    if method not in _METHODS:
        raise ValueError(f"method must be one of {', '.join(map(repr, _METHODS))}, got {method!r}")
    if method == "approx" and precision == "bf16":
        raise ValueError("method='approx' scores in fp32 or int8; got precision='bf16' (use 'fp32' or 'int8')")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise TypeError(f"k must be an int, got {type(k).__name__}")
    if k <= 0:
        raise ValueError(f"k must be >= 1, got k={k}")
    if isinstance(target_recall, bool) or not isinstance(target_recall, (int, float)) or not 0 < target_recall <= 1:
        raise ValueError(f"target_recall must be in (0, 1], got {target_recall!r}")
    for name, value, low in (("nlist", nlist, 1), ("nprobe", nprobe, 1), ("recall_sample", recall_sample, 0)):
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low
        ):
            raise ValueError(f"{name} must be an int >= {low} or None, got {value!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be an int >= 0, got {seed!r}")
    available = n - 1 if exclude_self else n
    if available < 1:
        need = 2 if exclude_self else 1
        raise ValueError(
            f"need at least {need} rows to build a kNN graph{' with exclude_self=True' if exclude_self else ''}, "
            f"got n={n}"
        )
    if k > available:
        warnings.warn(
            f"k={k} exceeds the {available} available neighbours per row (n={n}, exclude_self={exclude_self}); "
            f"using k={available}",
            KnnWarning,
            stacklevel=2,
        )
        k = available
    nthreads = threads_arg(threads)
    if method == "auto":
        method = "approx" if n >= AUTO_APPROX_MIN_ROWS else "exact"
    xin = x.view(np.uint16) if x.dtype == np.float16 else x
    isa = os.environ.get(_ISA_ENV, "auto")
    callback, close = make_progress(progress, f"knn graph ({method})")
    try:
        if method == "approx":
            indices, sims, info = _core.knn_graph_approx(
                xin,
                int(k),
                bool(exclude_self),
                bool(normalize),
                threads=nthreads,
                seed=int(seed) & 0xFFFFFFFFFFFFFFFF,
                nlist=int(nlist or 0),
                nprobe=int(nprobe or 0),
                recall_sample=int(_DEFAULT_RECALL_SAMPLE if recall_sample is None else recall_sample),
                target_recall=float(target_recall),
                isa=isa,
                # bf16 reaches here only through method="auto": it applies when the exact method runs
                precision="fp32" if precision == "bf16" else precision,
                progress=callback,
            )
            return KnnGraph(
                indices=indices,
                similarities=sims,
                kernel=info["kernel"],
                shortlist=float(info["candidates"]),
                method="approx",
                recall=info["recall"],
            )
        indices, sims, kernel, shortlist, _ = _core.knn_graph(
            xin,
            int(k),
            bool(exclude_self),
            bool(normalize),
            precision,
            nthreads,
            isa,
            0,
            callback,
        )
    finally:
        close()
    return KnnGraph(indices=indices, similarities=sims, kernel=kernel, shortlist=float(shortlist))
