"""Baseline selectors (DESIGN §1.8, §3): random, longest, LIMO-style difficulty band, s1, SemDeDup.

Every strategy returns a full priority order (a permutation of all rows): the records its rule selects come
first, the rest follow in a documented fallback order, so that any budget is met exactly by
:func:`rbic_fast.budget.take_budget`.
"""

from __future__ import annotations

import numpy as np

from .base import StrategyInput, register, require


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(seed), 0x5EED]))


@register("random")
def random_order(inp: StrategyInput, *, seed: int = 0) -> np.ndarray:
    """Uniform random order (the baseline DeepCore finds hard to beat).

    :param inp: the records.
    :param seed: seed of the permutation.
    """
    return _rng(seed).permutation(inp.n).astype(np.int64)


@register("length")
def length_order(inp: StrategyInput, *, seed: int = 0) -> np.ndarray:
    """Longest reasoning + response first (``tokens`` descending; ties by row order).

    :param inp: the records.
    :param seed: unused (the order is deterministic).
    """
    return np.argsort(-np.asarray(inp.tokens, dtype=np.int64), kind="stable").astype(np.int64)


def _difficulty_of(inp: StrategyInput, strategy: str) -> np.ndarray:
    """Measured accuracy, or the tier mapped to its band midpoint where accuracy is missing (NaN: unknown)."""
    acc = None if inp.accuracy is None else np.asarray(inp.accuracy, dtype=np.float64).copy()
    if inp.tier is not None:
        tier = np.asarray(inp.tier, dtype=np.int64)
        mid = np.array([1.0, 0.875, 0.5, 0.125, 0.0])  # T0..T4 of DESIGN §1.4
        from_tier = np.where((tier >= 0) & (tier <= 4), mid[np.clip(tier, 0, 4)], np.nan)
        acc = from_tier if acc is None else np.where(np.isnan(acc), from_tier, acc)
    if acc is None:
        require(inp, "accuracy", strategy)
    return acc


@register("difficulty")
def difficulty_order(
    inp: StrategyInput, *, seed: int = 0, low: float = 0.0, high: float = 0.25, include_unsolved: bool = False
) -> np.ndarray:
    """LIMO-style difficulty band: records the student solves rarely but not never come first.

    In band: ``low < accuracy <= high`` (DESIGN §1.4 tier T3; LIMO keeps 1–3 of 32), plus ``accuracy == 0``
    with ``include_unsolved`` (T3–T4, the "difficulty-only" row of §1.8). In-band records are in random order;
    then the others by distance to the band (closest first, random among equals); unknown accuracy last.
    Where accuracy is missing the tier stands in for it.

    :param inp: the records (``accuracy`` or ``tier`` required).
    :param seed: seed of the order within the band.
    :param low: exclusive lower bound of the band.
    :param high: inclusive upper bound of the band.
    :param include_unsolved: also put never-solved records (accuracy 0) in the band.
    """
    if not 0.0 <= low < high <= 1.0:
        raise ValueError(f"difficulty band needs 0 <= low < high <= 1, got low={low}, high={high}")
    acc = _difficulty_of(inp, "difficulty")
    in_band = (acc > low) & (acc <= high)
    if include_unsolved:
        in_band |= acc == 0.0
    unknown = np.isnan(acc)
    distance = np.where(in_band | unknown, 0.0, np.where(acc <= low, low - acc, acc - high))
    tiebreak = _rng(seed).permutation(inp.n)
    return np.lexsort((tiebreak, distance, ~in_band, unknown)).astype(np.int64)


def _truncated_geometric_rank(rng: np.random.Generator, m: int) -> int:
    """Draw r in 0..m-1 with P(r) ∝ 2^-r."""
    u = rng.random()
    return min(m - 1, int(np.floor(-np.log2(1.0 - u * (1.0 - 2.0 ** -m)))))


def _s1_draw(pool: np.ndarray, domain: np.ndarray, length: np.ndarray, rng: np.random.Generator) -> list[int]:
    """s1's diversity sampler over ``pool``: a uniform domain, then rank r (longest first) with P ∝ 2^-r."""
    groups: dict[int, np.ndarray] = {}
    for d in np.unique(domain[pool]):
        members = pool[domain[pool] == d]
        groups[int(d)] = members[np.argsort(-length[members], kind="stable")]
    taken = {d: np.zeros(len(m), dtype=bool) for d, m in groups.items()}
    head = {d: 0 for d in groups}
    left = {d: len(m) for d, m in groups.items()}
    out: list[int] = []
    live = sorted(groups)
    while live:
        d = live[int(rng.integers(len(live)))]
        r = _truncated_geometric_rank(rng, left[d])
        # Walk to the r-th record not yet taken; taken ones cluster at the head, so this stays short.
        pos, seen = head[d], -1
        while True:
            if not taken[d][pos]:
                seen += 1
                if seen == r:
                    break
            pos += 1
        taken[d][pos] = True
        out.append(int(groups[d][pos]))
        while head[d] < len(taken[d]) and taken[d][head[d]]:
            head[d] += 1
        left[d] -= 1
        if left[d] == 0:
            live.remove(d)
    return out


@register("s1")
def s1_order(inp: StrategyInput, *, seed: int = 0, solved_above: float = 0.0) -> np.ndarray:
    """s1K's difficulty + diversity rule (DESIGN §3, s1 ``data/filter.ipynb``).

    Records the student never solves (``accuracy <= solved_above``; tier T4 where accuracy is missing) are
    eligible. Repeatedly: pick a domain uniformly among those with records left, then within it the record of
    length rank r (longest first) with probability ∝ 2^-r. s1's benchmark-weighted domain choice after 700
    picks needs benchmark labels and is not reproduced. The ineligible records follow, drawn the same way
    (without accuracy or tier every record is eligible and the rule is length + diversity only).

    :param inp: the records; ``domain`` is used when given (else one domain).
    :param seed: seed of the draws.
    :param solved_above: accuracy above which a record counts as solved (s1: solved by either model = dropped).
    """
    n = inp.n
    domain = np.zeros(n, dtype=np.int64) if inp.domain is None else np.asarray(inp.domain, dtype=np.int64)
    length = np.asarray(inp.tokens, dtype=np.int64)
    if inp.accuracy is None and inp.tier is None:
        eligible = np.ones(n, dtype=bool)
    else:
        acc = _difficulty_of(inp, "s1")
        eligible = acc <= solved_above  # NaN (unknown) is not eligible
    rng = _rng(seed)
    first = _s1_draw(np.flatnonzero(eligible), domain, length, rng)
    rest = _s1_draw(np.flatnonzero(~eligible), domain, length, rng)
    return np.asarray(first + rest, dtype=np.int64)


def _kmeans_labels(x: np.ndarray, k: int, seed: int) -> np.ndarray:
    from scipy.cluster.vq import kmeans2

    _, labels = kmeans2(x.astype(np.float64), k, minit="++", seed=np.random.default_rng(seed), iter=20)
    return labels.astype(np.int64)


def _max_sim_to_earlier(x: np.ndarray, block: int = 2048) -> np.ndarray:
    """For each row j, max_{i<j} x_i . x_j (-inf for row 0), in column blocks to bound memory."""
    m = len(x)
    out = np.full(m, -np.inf, dtype=np.float32)
    for a in range(1, m, block):
        b = min(m, a + block)
        sim = x[:b] @ x[a:b].T  # (b, b - a): rows i, columns j = a..b-1
        sim[np.arange(b)[:, None] >= np.arange(a, b)[None, :]] = -np.inf
        out[a:b] = sim.max(axis=0)
    return out


@register("semdedup")
def semdedup_order(
    inp: StrategyInput,
    *,
    seed: int = 0,
    eps: float = 0.05,
    n_clusters: int | None = None,
    keep: str = "hard",
    then: str = "random",
) -> np.ndarray:
    """SemDeDup (Abbas et al. 2023; ``semdedup.py``): near-duplicates within a cluster are dropped.

    Clusters are the ``domain`` ids when given, else k-means with K = round(sqrt(n/2)) (DESIGN §1.3). Inside a
    cluster, members are ranked by how much we want to keep them; a member is a duplicate when its cosine to
    any higher-ranked member exceeds ``1 - eps`` (SemDeDup's ``M > 1 - eps`` over the upper triangle). So of
    each group of near-duplicates the highest-ranked one survives. The order is: survivors (``then="random"``:
    random order, i.e. dedup then sample; ``"rank"``: by keep-rank), then duplicates in the same manner.

    :param inp: the records (``embeddings`` required).
    :param seed: seed of k-means and of the random order.
    :param eps: duplicate threshold: cosine > 1 - eps.
    :param n_clusters: k-means clusters when ``domain`` is absent (default round(sqrt(n/2))).
    :param keep: ``"hard"`` ranks by difficulty (1 - accuracy, then longer traces; SemDeDup keeps the hard
        example), ``"easy"`` the reverse, ``"centroid"`` by cosine to the cluster centre (most prototypical).
    :param then: ``"random"`` or ``"rank"``: order of the survivors (and of the duplicates after them).
    """
    e = require(inp, "embeddings", "semdedup").astype(np.float32, copy=False)
    if not 0.0 <= eps < 1.0:
        raise ValueError(f"eps must be in [0, 1), got {eps}")
    if keep not in ("hard", "easy", "centroid"):
        raise ValueError(f"keep must be 'hard', 'easy' or 'centroid', got {keep!r}")
    if then not in ("random", "rank"):
        raise ValueError(f"then must be 'random' or 'rank', got {then!r}")
    n = inp.n
    if inp.domain is not None:
        cluster = np.asarray(inp.domain, dtype=np.int64)
    else:
        k = n_clusters or max(1, round(np.sqrt(n / 2)))
        cluster = _kmeans_labels(e, min(k, n), seed) if n > 1 else np.zeros(n, dtype=np.int64)
    # Keep-rank score: higher is kept first. Ties by row order.
    if keep == "centroid":
        score = np.zeros(n)
        for c in np.unique(cluster):
            m = np.flatnonzero(cluster == c)
            centre = e[m].mean(axis=0)
            score[m] = e[m] @ (centre / max(np.linalg.norm(centre), 1e-12))
        primary = score
    else:
        hardness = np.zeros(n)
        if inp.accuracy is not None or inp.tier is not None:
            acc = _difficulty_of(inp, "semdedup")
            hardness = np.where(np.isnan(acc), 0.5, 1.0 - acc)
        sign = 1.0 if keep == "hard" else -1.0
        primary = sign * hardness
    secondary = np.asarray(inp.tokens, dtype=np.float64) * (1.0 if keep != "easy" else -1.0)
    rank = np.lexsort((np.arange(n), -secondary, -primary))  # best first
    position = np.empty(n, dtype=np.int64)
    position[rank] = np.arange(n)
    duplicate = np.zeros(n, dtype=bool)
    for c in np.unique(cluster):
        members = np.flatnonzero(cluster == c)
        members = members[np.argsort(position[members], kind="stable")]
        if len(members) < 2:
            continue
        duplicate[members] = _max_sim_to_earlier(e[members]) > 1.0 - eps
    key = _rng(seed).permutation(n) if then == "random" else position
    return np.lexsort((key, duplicate)).astype(np.int64)
