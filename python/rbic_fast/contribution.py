"""Logical complexity (LC) and inference contribution (IC) from trace features (DESIGN §1.5).

Every feature is turned into a percentile rank within the record's domain (so long math traces do not dominate a
chat domain); verification and backtracking counts are capped at their domain's 90th percentile before ranking
(more review is not better, arXiv 2509.19284); redundancy is a penalty. ``LC = Σ w_k r_k − w_red·redundancy``,
rescaled to [0, 1]; ``IC = α·LC + β·D + γ·C`` with D the tier-aware difficulty and C the centrality.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .steps import FEATURE_COLUMNS

#: the numeric TraceFeatures columns of the native parser (every feature but ``lang``)
FEATURE_NAMES: tuple[str, ...] = (*FEATURE_COLUMNS, "redundancy")


@dataclass(frozen=True)
class ContributionWeights:
    """Weights of LC (per feature) and IC (α, β, γ); defaults are DESIGN §1.5 [RECON].

    :param features: weight per feature name in LC.
    :param redundancy: ``w_red``, the redundancy penalty.
    :param capped: features capped at the domain's ``cap_quantile`` before ranking.
    :param cap_quantile: the cap quantile.
    :param alpha: weight of LC in IC. :param beta: weight of difficulty. :param gamma: weight of centrality.
    """

    features: Mapping[str, float] = field(
        default_factory=lambda: {
            "n_steps": 0.20,
            "dep_depth": 0.20,
            "n_equations": 0.15,
            "n_connectives": 0.15,
            "n_verify": 0.15,
            "n_backtrack": 0.10,
        }
    )
    redundancy: float = 0.05
    capped: tuple[str, ...] = ("n_verify", "n_backtrack")
    cap_quantile: float = 0.9
    alpha: float = 0.5
    beta: float = 0.3
    gamma: float = 0.2

    def __post_init__(self) -> None:
        unknown = sorted(set(self.features) - set(FEATURE_NAMES))
        if unknown:
            raise ValueError(f"unknown LC feature(s) {unknown}; choose from {', '.join(FEATURE_NAMES)}")
        for name in ("alpha", "beta", "gamma", "redundancy"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.alpha + self.beta + self.gamma <= 0:
            raise ValueError("alpha + beta + gamma must be > 0")


def feature_columns(features: Any) -> dict[str, np.ndarray]:
    """The numeric feature arrays of a ``TraceFeatures`` (or a mapping / DataFrame with those columns)."""
    out = {}
    for name in FEATURE_NAMES:
        value = (
            features[name]
            if isinstance(features, Mapping) or hasattr(features, "columns")
            else getattr(features, name)
        )
        out[name] = np.asarray(value)
    return out


def grouped_percentile(values: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Percentile rank in (0, 1) of each value within its group, ties averaged: ``(rank - 0.5) / size``.

    :param values: (n,) numbers.
    :param groups: (n,) group labels.
    """
    values = np.asarray(values, dtype=np.float64)
    groups = np.asarray(groups)
    n = values.shape[0]
    out = np.empty(n, dtype=np.float64)
    if n == 0:
        return out
    order = np.lexsort((values, groups))
    g, v = groups[order], values[order]
    new_group = np.r_[True, g[1:] != g[:-1]]
    new_run = new_group | np.r_[True, v[1:] != v[:-1]]
    pos = np.arange(n)
    group_start = np.maximum.accumulate(np.where(new_group, pos, 0))
    run_id = np.cumsum(new_run) - 1
    run_start = pos[new_run]
    run_end = np.r_[run_start[1:], n]
    mid_rank = (run_start + run_end - 1) / 2.0 + 1.0  # 1-based average rank of the tie run
    group_id = np.cumsum(new_group) - 1
    gsize = np.bincount(group_id)[group_id]
    out[order] = (mid_rank[run_id] - group_start - 0.5) / gsize
    return out


def _grouped_quantile(values: np.ndarray, groups: np.ndarray, q: float) -> np.ndarray:
    """Per-record value of its group's ``q`` quantile (lower interpolation)."""
    order = np.lexsort((values, groups))
    g = groups[order]
    starts = np.r_[0, np.flatnonzero(g[1:] != g[:-1]) + 1]
    ends = np.r_[starts[1:], g.size]
    qpos = starts + np.floor(q * (ends - starts - 1)).astype(np.int64)
    cap_sorted = np.repeat(values[order][qpos], ends - starts)
    out = np.empty_like(values)
    out[order] = cap_sorted
    return out


def logical_complexity(
    features: Any,
    domain: np.ndarray,
    weights: ContributionWeights = ContributionWeights(),
    mode: str = "weighted",
) -> np.ndarray:
    """LC per record in [0, 1] (DESIGN §1.5 steps 2–3).

    :param features: ``TraceFeatures`` or a mapping of the feature arrays.
    :param domain: (n,) domain labels (ranks are within the domain).
    :param weights: LC weights.
    :param mode: ``"weighted"`` (the weighted rank sum) or ``"pca"`` (first principal component of the ranks).
    """
    cols = feature_columns(features)
    domain = np.asarray(domain)
    n = domain.shape[0]
    names = list(weights.features)
    ranks = np.empty((n, len(names)), dtype=np.float64)
    for j, name in enumerate(names):
        x = cols[name].astype(np.float64)
        if name in weights.capped and n:
            x = np.minimum(x, _grouped_quantile(x, domain, weights.cap_quantile))
        ranks[:, j] = grouped_percentile(x, domain)
    red = np.clip(cols["redundancy"].astype(np.float64), 0.0, 1.0)
    if mode == "weighted":
        w = np.array([weights.features[k] for k in names], dtype=np.float64)
        lc = ranks @ w - weights.redundancy * red
        lo, hi = -weights.redundancy, float(w.sum())
    elif mode == "pca":
        centred = ranks - ranks.mean(axis=0) if n else ranks
        if n > 1 and np.any(centred):
            _, _, vt = np.linalg.svd(centred, full_matrices=False)
            pc = vt[0] * (1.0 if vt[0].sum() >= 0 else -1.0)
        else:
            pc = np.full(len(names), 1.0 / np.sqrt(len(names)))
        lc = ranks @ pc - weights.redundancy * red
        lo, hi = float(np.minimum(pc, 0).sum()) - weights.redundancy, float(np.maximum(pc, 0).sum())
    else:
        raise ValueError(f"mode must be 'weighted' or 'pca', got {mode!r}")
    return ((lc - lo) / (hi - lo)).astype(np.float32) if hi > lo else np.zeros(n, dtype=np.float32)


def inference_contribution(
    lc: np.ndarray,
    difficulty: np.ndarray,
    centrality: np.ndarray,
    weights: ContributionWeights = ContributionWeights(),
) -> np.ndarray:
    """``IC = (α·LC + β·D + γ·C) / (α + β + γ)`` in [0, 1] (DESIGN §1.5 step 4).

    :param lc: (n,) logical complexity in [0, 1].
    :param difficulty: (n,) tier-aware difficulty in [0, 1] (0 for trivial items).
    :param centrality: (n,) centrality in [0, 1] within the domain.
    """
    total = weights.alpha + weights.beta + weights.gamma
    ic = (
        weights.alpha * np.asarray(lc, np.float64)
        + weights.beta * np.asarray(difficulty, np.float64)
        + weights.gamma * np.asarray(centrality, np.float64)
    )
    return (ic / total).astype(np.float32)
