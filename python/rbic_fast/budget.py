"""Selection budgets: a share of samples, a count, or a share of reasoning tokens.

Every strategy (RBIC and the baselines) produces a priority order; :func:`take_budget` cuts that order to the
budget exactly, so all strategies are compared at the same cost.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Budget:
    """Exactly one of ``ratio`` (share of samples), ``count`` (samples) or ``token_share`` (share of tokens).

    :param ratio: keep ``round(ratio * n)`` samples, ``0 < ratio <= 1``.
    :param count: keep exactly ``count`` samples, ``1 <= count <= n``.
    :param token_share: keep samples whose tokens sum to at most ``token_share`` of all tokens, filling the
        allowance greedily in priority order (an item that does not fit is skipped, later smaller ones may fit).
    """

    ratio: float | None = None
    count: int | None = None
    token_share: float | None = None

    def __post_init__(self) -> None:
        given = [name for name in ("ratio", "count", "token_share") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of ratio=, count=, token_share= (got {given or 'none'})")
        if self.ratio is not None and not (0.0 < self.ratio <= 1.0):
            raise ValueError(f"ratio must be in (0, 1], got {self.ratio}")
        if self.token_share is not None and not (0.0 < self.token_share <= 1.0):
            raise ValueError(f"token_share must be in (0, 1], got {self.token_share}")
        if self.count is not None and (isinstance(self.count, bool) or int(self.count) != self.count or self.count < 1):
            raise ValueError(f"count must be a positive integer, got {self.count!r}")

    def n_samples(self, n: int) -> int | None:
        """The number of samples this budget keeps out of ``n`` (``None`` for a token budget)."""
        if self.count is not None:
            if self.count > n:
                raise ValueError(
                    f"budget count={self.count} is larger than the dataset ({n} records): "
                    f"use count <= {n} or ratio=1.0 to keep everything"
                )
            return int(self.count)
        if self.ratio is not None:
            return min(n, max(1, int(np.floor(self.ratio * n + 0.5)))) if n else 0
        return None

    def describe(self) -> str:
        if self.count is not None:
            return f"count={self.count}"
        if self.ratio is not None:
            return f"ratio={self.ratio:g}"
        return f"token_share={self.token_share:g}"


def take_budget(order: np.ndarray, budget: Budget, n: int, tokens: np.ndarray | None = None) -> np.ndarray:
    """Cut a priority order to the budget.

    :param order: indices into ``0..n-1``, best first, without repeats; indices absent from it are never kept.
    :param budget: the budget.
    :param n: number of records.
    :param tokens: per-record token counts (required for a token budget).
    :return: a boolean mask of length ``n`` of the kept records.
    """
    order = np.asarray(order, dtype=np.int64)
    if order.ndim != 1:
        raise ValueError(f"order must be 1-D, got shape {order.shape}")
    if order.size and (order.min() < 0 or order.max() >= n):
        raise ValueError(f"order holds indices outside 0..{n - 1}")
    if np.unique(order).size != order.size:
        raise ValueError("order repeats some indices")
    keep = np.zeros(n, dtype=bool)
    want = budget.n_samples(n)
    if want is not None:
        keep[order[:want]] = True
        return keep
    if tokens is None:
        raise ValueError("a token budget needs per-record token counts (tokens=)")
    tokens = np.asarray(tokens, dtype=np.int64)
    if tokens.shape != (n,):
        raise ValueError(f"tokens must have shape ({n},), got {tokens.shape}")
    if (tokens < 0).any():
        raise ValueError(f"negative token counts at rows {np.flatnonzero(tokens < 0)[:5].tolist()}")
    allowance = int(np.floor(budget.token_share * int(tokens.sum()) + 1e-9))
    cum = 0
    for i in order.tolist():
        t = int(tokens[i])
        if cum + t <= allowance:
            keep[i] = True
            cum += t
            if cum == allowance:
                break
    return keep
