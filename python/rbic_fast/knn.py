"""Exact cosine k-nearest-neighbour graph over embedding rows (the knowledge-domain graph)."""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.sparse as sp

from . import _core
from ._progress import ProgressArg, make_progress

__all__ = ["KnnGraph", "KnnWarning", "knn_graph"]

# Testing/diagnostic knob: caps the instruction set of the native kernels ("auto", "avx512_bf16",
# "avx512_vnni", "avx512", "portable"), e.g. RBIC_KNN_ISA=avx512 exercises the bf16 and int8 fallbacks.
_ISA_ENV = "RBIC_KNN_ISA"
_PRECISIONS = ("fp32", "bf16", "int8")


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
    :param shortlist: mean number of candidates per row re-scored in fp32 (``k`` for the fp32 path).
    """

    indices: np.ndarray
    similarities: np.ndarray
    kernel: str = ""
    shortlist: float = 0.0

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
        rows = np.repeat(np.arange(n, dtype=np.int64), self.k)
        cols = self.indices.ravel().astype(np.int64)
        w = self.similarities.ravel()
        keep = rows != cols
        if min_similarity is not None:
            keep &= w >= np.float32(min_similarity)
        rows, cols, w = rows[keep], cols[keep], w[keep]
        if symmetrize != "none":
            rows, cols = np.concatenate([rows, cols]), np.concatenate([cols, rows])
            w = np.concatenate([w, w])
        key = rows * n + cols
        order = np.argsort(key, kind="stable")
        key, w = key[order], w[order]
        starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]]) if key.size else np.zeros(0, np.int64)
        ukey = key[starts]
        if symmetrize == "max":
            w = np.maximum.reduceat(w, starts) if key.size else w
        elif symmetrize == "mean":
            w = (np.add.reduceat(w, starts) / np.float32(2)) if key.size else w
        w = w.astype(np.float32, copy=False)
        urow, ucol = ukey // n, ukey % n
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(urow, minlength=n), out=indptr[1:])
        m = sp.csr_matrix((w, ucol, indptr), shape=(n, n))
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
    exclude_self: bool = True,
    normalize: bool = True,
    precision: Literal["fp32", "bf16", "int8"] = "fp32",
    threads: int | None = None,
    progress: ProgressArg = None,
) -> KnnGraph:
    """Exact top-``k`` cosine neighbours of every row against all rows.

    Rows are read block by block (float16 rows are converted per block), so an ``np.memmap`` or
    ``np.load(path, mmap_mode="r")`` array is never copied whole; the ``n x n`` matrix is never
    formed. Results are identical at any thread count.

    :param embeddings: ``(n, d)`` float32 or float16 array. Non-C-contiguous arrays (e.g. a transposed
        view) are copied once with ``np.ascontiguousarray``.
    :param k: neighbours per row. If ``k`` exceeds the ``n - 1`` other rows (``n`` with
        ``exclude_self=False``), it is clipped to that with a :class:`KnnWarning`.
    :param exclude_self: leave row ``i`` out of its own list.
    :param normalize: cosine similarity (rows divided by their norms; all-zero rows are an error).
        ``False`` ranks by the raw inner product (use it for already-normalised embeddings).
    :param precision: ``"fp32"``: exact. ``"bf16"``: bf16 dot products (AVX512_BF16) shortlist
        ``k + max(k, 16)`` candidates per row, which are re-scored in fp32, so returned similarities are
        the fp32 ones and the neighbour sets match fp32 up to rare near-ties at the shortlist edge. On a
        CPU without AVX512_BF16 this runs the fp32 kernel (``KnnGraph.kernel`` says which ran).
        ``"int8"``: int8 dot products (AVX512_VNNI) on per-row scaled int8 codes of the normalised rows,
        with a certified per-row error bound: every candidate that could be in the exact top-``k`` is kept
        and re-scored in fp32, so indices and similarities are identical to ``"fp32"`` (ties included).
        Costs ``n * d`` extra bytes for the codes; ``KnnGraph.shortlist`` is the mean number re-scored
        per row (large when many rows crowd near a row's ``k``-th similarity, e.g. a dense cluster).
        Falls back to the fp32 kernel on a CPU without AVX512_VNNI or for ``d > 65536``.
    :param threads: worker threads (default: all cores / ``OMP_NUM_THREADS``).
    :param progress: ``True`` for a tqdm bar, or a callable ``progress(done, total)`` called from the
        calling thread; ``None`` for no reporting.
    :return: :class:`KnnGraph`.
    :raises ValueError: NaN/Inf rows, all-zero rows (with ``normalize``), fewer than 2 rows (1 with
        ``exclude_self=False``), ``k <= 0``, bad ``precision``.
    :raises TypeError: not an ndarray, or a dtype other than float32/float16.
    """
    x = _as_rows(embeddings)
    n = x.shape[0]
    if precision not in _PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(map(repr, _PRECISIONS))}, got {precision!r}")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise TypeError(f"k must be an int, got {type(k).__name__}")
    if k <= 0:
        raise ValueError(f"k must be >= 1, got k={k}")
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
    if threads is not None and threads < 1:
        raise ValueError(f"threads must be >= 1 or None, got {threads}")
    xin = x.view(np.uint16) if x.dtype == np.float16 else x
    callback, close = make_progress(progress, "knn graph")
    try:
        indices, sims, kernel, shortlist, _ = _core.knn_graph(
            xin,
            int(k),
            bool(exclude_self),
            bool(normalize),
            precision,
            int(threads or 0),
            os.environ.get(_ISA_ENV, "auto"),
            0,
            callback,
        )
    finally:
        close()
    return KnnGraph(indices=indices, similarities=sims, kernel=kernel, shortlist=float(shortlist))
