"""RBIC's budgeted, stratified selection (DESIGN §1.6) as a function of arrays.

Inputs are per-record arrays (domain, tier, contribution, tokens, ids, optional near-neighbour lists); the output
is a :class:`Selection` (keep mask, reason codes, priority order). The budget is cut exactly by
:func:`rbic_fast.budget.take_budget` from a priority order built as:

1. near-duplicates (cosine > ``dup_threshold`` to a higher-contribution record of the same domain) are set aside;
2. every non-empty domain × tier cell gets a quota ``q ∝ |cell|^λ · ω_tier`` (at least one per cell while the
   budget allows), in samples or in tokens;
3. the order lists each cell's best record first (coverage), then the quota picks, then the remaining
   non-duplicates by contribution (leftover fill), then the duplicates;
4. ties are broken by id, so the result is the same on every run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .budget import Budget, take_budget

#: reason codes of :attr:`Selection.reason`
#: (``kept_strategy``: kept by another strategy's priority order, ``rbic refine --strategy NAME``)
KEPT_COVER, KEPT_QUOTA, KEPT_FILL, DROP_DUPLICATE, DROP_BUDGET, DROP_EXCLUDED, KEPT_STRATEGY = range(7)
REASONS = (
    "kept_cell_best", "kept_quota", "kept_fill", "near_duplicate", "over_budget", "excluded", "kept_strategy"
)

DEFAULT_TIER_WEIGHTS = (0.25, 0.75, 1.0, 1.25, 0.75)


@dataclass(frozen=True)
class Selection:
    """Result of :func:`select_rbic`.

    :ivar keep: (n,) bool, the kept records.
    :ivar reason: (n,) int8 reason code, an index into :data:`REASONS`.
    :ivar order: the priority order (indices, best first) the budget was cut from.
    :ivar rank: (n,) int64 position in ``order`` (-1 for excluded records).
    :ivar duplicate_of: (n,) int64 index of the higher-contribution near-duplicate, -1 when none.
    :ivar quota: {(domain, tier): quota} in samples (or tokens for a token budget).
    """

    keep: np.ndarray
    reason: np.ndarray
    order: np.ndarray
    rank: np.ndarray
    duplicate_of: np.ndarray
    quota: dict

    def reason_names(self) -> np.ndarray:
        return np.asarray(REASONS, dtype=object)[self.reason]


def id_order_key(ids: Any) -> np.ndarray:
    """Integer key that sorts like the ids (numeric ids numerically, others as strings by code point, ties by
    position): the tie-breaker. Vectorised (pyarrow) for a :class:`~rbic_fast.columns.TextColumn` of ids.

    :param ids: a list or array of ids (str() of each is used), or a ``TextColumn``.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = ids.to_arrow() if hasattr(ids, "to_arrow") else pa.array([str(x) for x in ids], pa.large_string())
    n = len(arr)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    digits = pc.match_substring_regex(arr, r"^[0-9]+$")
    if pc.all(digits).as_py() and pc.max(pc.utf8_length(arr)).as_py() <= 18:
        keys = pc.cast(arr, pa.int64()).to_numpy()
        order = np.argsort(keys, kind="stable")
    elif pc.all(digits).as_py():  # too long for int64: numeric order is (length, text) without leading zeros
        arr = pc.utf8_ltrim(arr, characters="0")
        order = pc.sort_indices(pa.table({"l": pc.utf8_length(arr), "s": arr, "i": np.arange(n)}),
                                sort_keys=[("l", "ascending"), ("s", "ascending"), ("i", "ascending")]).to_numpy()
    else:
        order = pc.sort_indices(pa.table({"s": arr, "i": np.arange(n)}),
                                sort_keys=[("s", "ascending"), ("i", "ascending")]).to_numpy()
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    return rank


def near_duplicates(
    domain: np.ndarray,
    priority: np.ndarray,
    neighbors: np.ndarray,
    similarities: np.ndarray,
    threshold: float = 0.95,
) -> np.ndarray:
    """SemDeDup-style marking within each domain, keeping the higher-priority record of each duplicate group.

    Records are visited best first; a record is a duplicate when one of its listed neighbours in the same
    domain, with cosine > ``threshold``, was visited before it and is not itself a duplicate.

    :param domain: (n,) domain labels.
    :param priority: (n,) visiting order position (0 = best), e.g. the rank by contribution with id tie-break.
    :param neighbors: (n, k) neighbour indices (-1 for none), e.g. ``KnnGraph.indices``.
    :param similarities: (n, k) cosine similarities of those neighbours.
    :param threshold: cosine above which two records are near-duplicates.
    :return: (n,) int64, the index of the record each duplicate duplicates, -1 for non-duplicates.
    """
    n = domain.shape[0]
    dup_of = np.full(n, -1, dtype=np.int64)
    if n == 0 or neighbors.size == 0:
        return dup_of
    nb = np.asarray(neighbors, dtype=np.int64)
    valid = (nb >= 0) & (np.asarray(similarities) > threshold)
    safe = np.where(nb >= 0, nb, 0)
    valid &= domain[safe] == domain[:, None]
    valid &= safe != np.arange(n)[:, None]
    rows, cols = np.nonzero(valid)
    if rows.size == 0:
        return dup_of
    # undirected candidate pairs, visited in priority order of the later record
    a, b = rows, safe[rows, cols]
    later = np.where(priority[a] > priority[b], a, b)
    earlier = np.where(priority[a] > priority[b], b, a)
    cand: dict[int, list[int]] = {}
    for lt, er in zip(later.tolist(), earlier.tolist()):
        cand.setdefault(lt, []).append(er)
    for i in sorted(cand, key=lambda x: priority[x]):
        reps = sorted((j for j in cand[i] if dup_of[j] < 0), key=lambda x: priority[x])
        if reps:
            dup_of[i] = reps[0]
    return dup_of


def _allocate(
    weights: np.ndarray, floors: np.ndarray, caps: np.ndarray, total: float, integer: bool
) -> np.ndarray:
    """Split ``total`` in proportion to ``weights``, each share clamped to ``[floors, caps]``.

    Clamped cells are fixed at their bound and the rest is re-split among the others until no share violates
    its bounds; integer shares are then rounded by largest remainder within the caps.
    """
    m = weights.shape[0]
    alloc = np.zeros(m, dtype=np.float64)
    fixed = np.zeros(m, dtype=bool)
    caps = np.maximum(caps.astype(np.float64), floors)
    while not fixed.all():
        free = ~fixed
        left = total - alloc[fixed].sum()
        wsum = weights[free].sum()
        share = left * weights[free] / wsum if wsum > 0 else np.zeros(free.sum())
        lo = share < floors[free] - 1e-12
        hi = share > caps[free] + 1e-12
        if not lo.any() and not hi.any():
            alloc[free] = share
            break
        idx = np.flatnonzero(free)
        if lo.any():  # fix the cells below their floor first; the others' shares shrink
            alloc[idx[lo]] = floors[idx[lo]]
            fixed[idx[lo]] = True
        else:
            alloc[idx[hi]] = caps[idx[hi]]
            fixed[idx[hi]] = True
    if not integer:
        return alloc
    base = np.floor(alloc + 1e-9)
    left = round(total - base.sum())
    if left > 0:
        frac = np.where(base < caps, alloc - base, -1.0)
        for c in np.lexsort((np.arange(m), -frac))[:left]:
            if base[c] < caps[c]:
                base[c] += 1
    return base


def select_rbic(
    domain: np.ndarray,
    tier: np.ndarray,
    contribution: np.ndarray,
    tokens: np.ndarray,
    budget: Budget,
    *,
    ids: list | np.ndarray | None = None,
    embeddings: np.ndarray | None = None,
    neighbors: np.ndarray | None = None,
    similarities: np.ndarray | None = None,
    valid: np.ndarray | None = None,
    dup_threshold: float = 0.95,
    quota_lambda: float = 0.5,
    tier_weights: tuple[float, ...] = DEFAULT_TIER_WEIGHTS,
    min_per_cell: int = 1,
) -> Selection:
    """Budgeted selection stratified over domain × tier cells, highest contribution first.

    :param domain: (n,) int domain labels.
    :param tier: (n,) int tier labels 0..len(tier_weights)-1.
    :param contribution: (n,) float inference contribution (higher is better).
    :param tokens: (n,) int training tokens per record (used for token budgets and reporting).
    :param budget: the :class:`Budget`; it is met exactly (a count) or never exceeded (tokens).
    :param ids: record ids for deterministic tie-breaks (default: the index).
    :param embeddings: (n, d) embeddings; when ``neighbors`` is not given, the 16 nearest neighbours are found
        with :func:`rbic_fast.knn_graph` for duplicate suppression.
    :param neighbors: (n, k) near-neighbour indices for duplicate suppression (None and no embeddings: none).
    :param similarities: (n, k) their cosine similarities.
    :param valid: (n,) bool, records allowed at all (others get reason ``excluded``, e.g. below the quality gate).
    :param dup_threshold: cosine above which two records of one domain are near-duplicates.
    :param quota_lambda: exponent λ of the cell size in the quota.
    :param tier_weights: ω per tier.
    :param min_per_cell: records every non-empty cell gets first (while the budget allows).
    :return: a :class:`Selection`.
    """
    domain = np.asarray(domain, dtype=np.int64)
    n = domain.shape[0]
    tier = np.asarray(tier, dtype=np.int64)
    contribution = np.asarray(contribution, dtype=np.float64)
    tokens = np.asarray(tokens, dtype=np.int64)
    for name, arr in (("tier", tier), ("contribution", contribution), ("tokens", tokens)):
        if arr.shape != (n,):
            raise ValueError(f"{name} must have shape ({n},) like domain, got {arr.shape}")
    if np.isnan(contribution).any():
        raise ValueError(
            f"contribution has NaN at rows {np.flatnonzero(np.isnan(contribution))[:5].tolist()}"
        )
    if n and (tier.min() < 0 or tier.max() >= len(tier_weights)):
        raise ValueError(f"tier values must lie in 0..{len(tier_weights) - 1}")
    valid = np.ones(n, dtype=bool) if valid is None else np.asarray(valid, dtype=bool)
    if not valid.any():
        raise ValueError("no valid records to select from")
    id_key = id_order_key(ids if ids is not None else np.arange(n))
    # global priority: contribution descending, then id ascending
    by_ic = np.lexsort((id_key, -contribution))
    priority = np.empty(n, dtype=np.int64)
    priority[by_ic] = np.arange(n)

    if neighbors is None and embeddings is not None and n > 1:
        from .knn import knn_graph

        knn = knn_graph(np.ascontiguousarray(embeddings, dtype=np.float32), k=min(16, n - 1))
        neighbors, similarities = knn.indices, knn.similarities
    if neighbors is not None:
        if (
            similarities is None
            or np.shape(neighbors) != np.shape(similarities)
            or np.shape(neighbors)[0] != n
        ):
            raise ValueError("neighbors and similarities must both have shape (n, k)")
        dup_of = near_duplicates(
            np.where(valid, domain, -1 - np.arange(n)), priority, neighbors, similarities, dup_threshold
        )
    else:
        dup_of = np.full(n, -1, dtype=np.int64)
    is_dup = (dup_of >= 0) & valid
    cand = valid & ~is_dup

    # cells over candidates
    cell_key = domain * len(tier_weights) + tier
    cells, cell_of = np.unique(cell_key[cand], return_inverse=True)
    cand_idx = np.flatnonzero(cand)
    sizes = np.bincount(cell_of, minlength=cells.size).astype(np.float64)
    omega = np.asarray(tier_weights, dtype=np.float64)[cells % len(tier_weights)]
    weights = sizes**quota_lambda * omega
    # candidates of each cell in priority order
    members = cand_idx[np.lexsort((priority[cand_idx], cell_of))]
    cell_sorted = np.sort(cell_of)
    starts = np.searchsorted(cell_sorted, np.arange(cells.size))
    ends = np.searchsorted(cell_sorted, np.arange(cells.size), side="right")

    n_take = budget.n_samples(int(valid.sum()))
    if n_take is not None:
        # coverage first: one (min_per_cell) each, best-weighted cells first when the budget is smaller
        floor_q = np.minimum(sizes, min_per_cell)
        if floor_q.sum() > n_take:
            cover = np.lexsort((cells, -weights))[:n_take]
            floor_q = np.zeros_like(sizes)
            floor_q[cover] = 1
        quota_n = _allocate(weights, floor_q, sizes, float(min(n_take, sizes.sum())), integer=True).astype(
            np.int64
        )
        quota = {
            (int(c // len(tier_weights)), int(c % len(tier_weights))): int(q) for c, q in zip(cells, quota_n)
        }
        picks = [members[starts[c] : starts[c] + quota_n[c]] for c in range(cells.size)]
    else:
        total_tok = float(tokens[valid].sum())
        allowance = budget.token_share * total_tok
        cell_tok = np.array(
            [tokens[members[starts[c] : ends[c]]].sum() for c in range(cells.size)], dtype=np.float64
        )
        tok_quota = _allocate(
            weights, np.zeros_like(cell_tok), cell_tok, min(allowance, cell_tok.sum()), integer=False
        )
        quota = {
            (int(c // len(tier_weights)), int(c % len(tier_weights))): float(q)
            for c, q in zip(cells, tok_quota)
        }
        picks = []
        for c in range(cells.size):
            m = members[starts[c] : ends[c]]
            cum = np.cumsum(tokens[m])
            picks.append(m[: max(min_per_cell, int(np.searchsorted(cum, tok_quota[c] + 1e-9, side="right")))])

    firsts = np.array([p[0] for p in picks if p.size], dtype=np.int64)
    firsts = firsts[np.argsort(priority[firsts], kind="stable")] if firsts.size else firsts
    rest_q = np.concatenate([p[1:] for p in picks]) if picks else np.zeros(0, dtype=np.int64)
    rest_q = rest_q[np.argsort(priority[rest_q], kind="stable")]
    in_quota = np.zeros(n, dtype=bool)
    in_quota[firsts] = True
    in_quota[rest_q] = True
    fill = by_ic[cand[by_ic] & ~in_quota[by_ic]]
    dups = by_ic[is_dup[by_ic]]
    order = np.concatenate([firsts, rest_q, fill, dups]).astype(np.int64)

    cut = budget if n_take is None else Budget(count=n_take)
    keep = take_budget(order, cut, n, np.where(valid, tokens, 0))

    reason = np.full(n, DROP_BUDGET, dtype=np.int8)
    reason[~valid] = DROP_EXCLUDED
    reason[is_dup] = DROP_DUPLICATE
    reason[keep & in_quota] = KEPT_QUOTA
    reason[np.intersect1d(firsts, np.flatnonzero(keep))] = KEPT_COVER
    reason[keep & ~in_quota] = KEPT_FILL
    rank = np.full(n, -1, dtype=np.int64)
    rank[order] = np.arange(order.size)
    return Selection(
        keep=keep,
        reason=reason,
        order=order,
        rank=rank,
        duplicate_of=np.where(valid, dup_of, -1),
        quota=quota,
    )
