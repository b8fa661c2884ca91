"""The strategy contract: one input record set, a priority order out, cut to a budget by :func:`select`."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..budget import Budget, take_budget

StrategyFn = Callable[..., np.ndarray]


@dataclass(frozen=True)
class StrategyInput:
    """Everything a selection strategy may look at, one entry per record (the pipeline builds it).

    :param ids: record ids (ties between equal scores are broken by row index, i.e. input order).
    :param question: question texts.
    :param reasoning: reasoning (CoT) texts.
    :param response: final response texts.
    :param tokens: (n,) int64 reasoning + response token counts.
    :param embeddings: (n, d) float32 L2-normalised embeddings, or None.
    :param domain: (n,) int32 domain ids, or None.
    :param accuracy: (n,) float32 measured accuracy of the student in [0, 1], NaN where unknown, or None.
    :param tier: (n,) int8 difficulty tier 0..4 (DESIGN §1.4), -1 where unknown, or None.
    :param features: rbic_fast.TraceFeatures of the reasoning traces (or a mapping of its columns, as the
        pipeline caches them), or None.
    """

    ids: list[str]
    question: list[str]
    reasoning: list[str]
    response: list[str]
    tokens: np.ndarray
    embeddings: np.ndarray | None = None
    domain: np.ndarray | None = None
    accuracy: np.ndarray | None = None
    tier: np.ndarray | None = None
    features: object | None = None

    def __post_init__(self) -> None:
        n = len(self.ids)
        for name in ("question", "reasoning", "response"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"StrategyInput.{name} has {len(getattr(self, name))} entries, ids has {n}")
        tokens = np.asarray(self.tokens)
        if tokens.shape != (n,) or not np.issubdtype(tokens.dtype, np.integer):
            raise ValueError(f"StrategyInput.tokens must be an integer array of shape ({n},), got "
                             f"{tokens.dtype} {tokens.shape}")
        if (tokens < 0).any():
            raise ValueError(f"StrategyInput.tokens is negative at rows {np.flatnonzero(tokens < 0)[:5].tolist()}")
        if self.embeddings is not None:
            e = np.asarray(self.embeddings)
            if e.ndim != 2 or e.shape[0] != n:
                raise ValueError(f"StrategyInput.embeddings must have shape ({n}, d), got {e.shape}")
            bad = ~np.isfinite(e).all(axis=1)
            if bad.any():
                raise ValueError(f"StrategyInput.embeddings has NaN/inf in rows {np.flatnonzero(bad)[:5].tolist()}")
        for name in ("domain", "accuracy", "tier"):
            a = getattr(self, name)
            if a is not None and np.asarray(a).shape != (n,):
                raise ValueError(f"StrategyInput.{name} must have shape ({n},), got {np.asarray(a).shape}")
        if self.accuracy is not None:
            acc = np.asarray(self.accuracy, dtype=np.float64)
            bad = ~np.isnan(acc) & ((acc < 0) | (acc > 1))
            if bad.any():
                raise ValueError(f"StrategyInput.accuracy must be in [0, 1] or NaN; rows "
                                 f"{np.flatnonzero(bad)[:5].tolist()} are not")

    @property
    def n(self) -> int:
        """Number of records."""
        return len(self.ids)


def require(inp: StrategyInput, field: str, strategy: str) -> np.ndarray:
    """Return ``inp.<field>`` as an array, or raise a ValueError telling which stage provides it."""
    value = getattr(inp, field)
    if value is None:
        hint = {
            "embeddings": "run the embedding stage (or pass embeddings=)",
            "accuracy": "run the accuracy stage (rollouts + answer checking) or pass accuracy=",
            "domain": "run the domain-graph stage (or pass domain=)",
        }.get(field, f"pass {field}=")
        raise ValueError(f"strategy {strategy!r} needs StrategyInput.{field}: {hint}")
    return np.asarray(value)


_REGISTRY: dict[str, StrategyFn] = {}


def register(name: str) -> Callable[[StrategyFn], StrategyFn]:
    """Decorator adding a strategy ``fn(inp, *, seed=0, **options) -> order`` to the registry under ``name``."""

    def deco(fn: StrategyFn) -> StrategyFn:
        if name in _REGISTRY:
            raise ValueError(f"strategy {name!r} registered twice")
        _REGISTRY[name] = fn
        return fn

    return deco


def get(name: str) -> StrategyFn:
    """The strategy function registered as ``name``.

    :param name: one of :func:`names`.
    """
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown strategy {name!r}; choose one of {', '.join(names())}") from None


def names() -> list[str]:
    """Names of the registered strategies, sorted."""
    return sorted(_REGISTRY)


def order_of(name: str, inp: StrategyInput, *, seed: int = 0, limit: int | None = None, **options: Any) -> np.ndarray:
    """Run a strategy and check its priority order.

    :param name: strategy name.
    :param inp: the records.
    :param seed: seed for the strategy's random choices.
    :param limit: how many rows the caller expects to take from the head of the order; passed to strategies
        whose cost grows with it (k-center computes that many greedy centres exactly and orders the rest by
        distance to them) and ignored by the others.
    :param options: strategy options.
    :return: int64 indices, best first, without repeats.
    """
    fn = get(name)
    if limit is not None and "limit" in inspect.signature(fn).parameters:
        options["limit"] = limit
    order = np.asarray(fn(inp, seed=seed, **options), dtype=np.int64)
    if order.ndim != 1 or (order.size and (order.min() < 0 or order.max() >= inp.n)):
        raise ValueError(f"strategy {name!r} returned an invalid order")
    return order


def _items_hint(tokens: np.ndarray, share: float) -> int:
    """How many records a token budget is likely to keep: twice the allowance over the mean length, capped by
    the most records that can fit at all (the shortest ones)."""
    total = int(tokens.sum())
    allowance = int(np.floor(share * total + 1e-9))
    most = int(np.searchsorted(np.cumsum(np.sort(tokens)), allowance, side="right"))
    typical = int(np.ceil(2 * allowance * len(tokens) / total)) if total else most
    return min(most, typical)


def ranked_select(
    name: str,
    inp: StrategyInput,
    budget: Budget,
    *,
    seed: int = 0,
    valid: np.ndarray | None = None,
    **options: Any,
) -> tuple[np.ndarray, np.ndarray]:
    """Run strategy ``name`` and cut its priority order to ``budget``; also return the order.

    :param name: strategy name (see :func:`names`).
    :param inp: the records.
    :param budget: ratio, count or token share (of all records).
    :param seed: seed for the strategy's random choices; the same seed gives the same mask.
    :param valid: (n,) bool; records where it is False are left out of the order and never kept.
    :param options: strategy options.
    :return: ``(order, keep)``: the priority order (valid records only, best first) and the boolean keep mask.
    """
    limit = budget.n_samples(inp.n)
    if limit is None:
        limit = _items_hint(np.asarray(inp.tokens, dtype=np.int64), budget.token_share)
    if valid is not None:
        valid = np.asarray(valid, dtype=bool)
        if valid.shape != (inp.n,):
            raise ValueError(f"valid must have shape ({inp.n},), got {valid.shape}")
        limit += int((~valid).sum())  # strategies that compute only a head of the order must reach past them
    order = order_of(name, inp, seed=seed, limit=max(min(limit, inp.n), 1), **options)
    if valid is not None:
        order = order[valid[order]]
    return order, take_budget(order, budget, inp.n, np.asarray(inp.tokens, dtype=np.int64))


def select(name: str, inp: StrategyInput, budget: Budget, *, seed: int = 0, **options: Any) -> np.ndarray:
    """Run strategy ``name`` and cut its priority order to ``budget``.

    :param name: strategy name (see :func:`names`).
    :param inp: the records.
    :param budget: ratio, count or token share.
    :param seed: seed for the strategy's random choices; the same seed gives the same mask.
    :param options: strategy options.
    :return: boolean keep mask of length ``inp.n``.
    """
    return ranked_select(name, inp, budget, seed=seed, **options)[1]
