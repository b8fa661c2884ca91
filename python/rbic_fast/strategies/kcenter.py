"""Greedy k-center (farthest-first traversal) on embeddings: a coverage baseline (DeepCore's k-center)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import _core
from .._progress import ProgressArg, make_progress
from .._threads import threads_arg
from .base import StrategyInput, register, require


@dataclass(frozen=True)
class KCenterResult:
    """Greedy k-center picks.

    :param centres: (k,) int64 centre indices in pick order.
    :param radius: (k,) float32; ``radius[t]`` is the covering radius after ``t + 1`` centres.
    :param min_dist: (n,) float32 Euclidean distance of every point to its nearest centre.
    """

    centres: np.ndarray
    radius: np.ndarray
    min_dist: np.ndarray


def greedy_kcenter(
    x: np.ndarray, k: int, *, start: int = 0, threads: int | None = None, progress: ProgressArg = None
) -> KCenterResult:
    """Farthest-first traversal under Euclidean distance; the covering radius is within 2x of the optimum.

    :param x: (n, d) points; converted to C-contiguous float32 (a copy only if needed).
    :param k: number of centres, ``1 <= k <= n``.
    :param start: index of the first centre.
    :param threads: worker threads, None (or 0, as before) for all cores; the result does not depend on it.
    :param progress: None, True (tqdm) or a ``(done, total)`` callable.
    """
    nthreads = threads_arg(threads, zero_is_all=True)
    x = np.ascontiguousarray(x, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError(f"x must be a 2-D array (n, d), got shape {x.shape}")
    n = x.shape[0]
    if n == 0:
        raise ValueError("x has no rows")
    bad = ~np.isfinite(x).all(axis=1)
    if bad.any():
        raise ValueError(f"x has NaN/inf in rows {np.flatnonzero(bad)[:5].tolist()}; drop or fix them")
    if not 1 <= k <= n:
        raise ValueError(f"k must be in 1..{n} (the number of rows), got {k}")
    if not 0 <= start < n:
        raise ValueError(f"start must be in 0..{n - 1}, got {start}")
    cb, close = make_progress(progress, "k-center")
    try:
        centres, radius, min_dist = _core.greedy_kcenter(x, int(k), int(start), nthreads, cb)
    finally:
        close()
    return KCenterResult(centres=centres, radius=radius, min_dist=min_dist)


@register("kcenter")
def kcenter_order(
    inp: StrategyInput, *, seed: int = 0, limit: int | None = None, threads: int | None = None,
    progress: ProgressArg = None,
) -> np.ndarray:
    """Greedy k-center on the embeddings: the first ``limit`` rows are farthest-first centres (the first one
    drawn by ``seed``); the rest follow by decreasing distance to those centres (ties by row order).

    :param inp: the records (``embeddings`` required).
    :param seed: seed of the first centre.
    :param limit: number of greedy centres (``select`` passes the budget's size; default all rows, O(n^2 d)).
    :param threads: worker threads of the native kernel (None or 0: all cores).
    :param progress: None, True (tqdm) or a ``(done, total)`` callable.
    """
    e = require(inp, "embeddings", "kcenter")
    n = inp.n
    k = n if limit is None else max(1, min(int(limit), n))
    start = int(np.random.default_rng(np.random.SeedSequence([int(seed), 0xC3])).integers(n))
    res = greedy_kcenter(e, k, start=start, threads=threads, progress=progress)
    rest = np.ones(n, dtype=bool)
    rest[res.centres] = False
    others = np.flatnonzero(rest)
    others = others[np.argsort(-res.min_dist[others], kind="stable")]
    return np.concatenate([res.centres, others]).astype(np.int64)
