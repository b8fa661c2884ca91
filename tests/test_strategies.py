"""Baseline strategies and the registry: exact budgets, determinism, and each rule's defining property."""

import numpy as np
import pytest
from rbic_fast.budget import Budget, take_budget
from rbic_fast.strategies import StrategyInput, get, names, order_of, select
from rbic_fast.synthetic import clustered_embeddings

BASELINES = ["random", "length", "difficulty", "s1", "kcenter", "semdedup"]
N = 300


def make_input(n=N, seed=0, accuracy=True, domain=True):
    rng = np.random.default_rng(seed)
    emb, labels = clustered_embeddings(n, 16, n_clusters=6, seed=seed)
    acc = rng.choice([0.0, 0.125, 0.25, 0.5, 0.875, 1.0], size=n).astype(np.float32)
    acc[rng.choice(n, 10, replace=False)] = np.nan
    tier = np.select([acc == 1, acc >= 0.75, acc > 0.25, acc > 0, acc == 0], [0, 1, 2, 3, 4], -1).astype(np.int8)
    return StrategyInput(
        ids=[f"r{i}" for i in range(n)],
        question=[f"q{i}" for i in range(n)],
        reasoning=["step " * int(t) for t in rng.integers(1, 50, n)],
        response=["42"] * n,
        tokens=rng.integers(10, 2000, n).astype(np.int64),
        embeddings=emb,
        domain=labels if domain else None,
        accuracy=acc if accuracy else None,
        tier=tier if accuracy else None,
    )


@pytest.fixture(scope="module")
def inp():
    return make_input()


def test_registry_lists_every_strategy():
    assert set(names()) == set(BASELINES) | {"perplexity", "ifd", "influence"}
    with pytest.raises(ValueError, match="unknown strategy 'nope'; choose one of"):
        get("nope")


@pytest.mark.parametrize("name", BASELINES)
@pytest.mark.parametrize("budget", [Budget(count=37), Budget(ratio=0.2), Budget(token_share=0.15)])
def test_budget_is_met_exactly_and_the_mask_is_deterministic(inp, name, budget):
    mask = select(name, inp, budget, seed=3)
    assert mask.dtype == bool and mask.shape == (N,)
    if budget.token_share is None:
        assert mask.sum() == budget.n_samples(N)
    else:
        allowance = int(np.floor(budget.token_share * inp.tokens.sum()))
        assert inp.tokens[mask].sum() <= allowance
        # Greedy fill: nothing left out would still fit.
        assert inp.tokens[~mask].min() > allowance - inp.tokens[mask].sum()
    np.testing.assert_array_equal(select(name, inp, budget, seed=3), mask)


@pytest.mark.parametrize("name", BASELINES)
def test_orders_are_permutations(inp, name):
    order = order_of(name, inp, seed=1)
    assert sorted(order.tolist()) == list(range(N))


def test_seed_changes_random_choices(inp):
    a, b = (select("random", inp, Budget(count=50), seed=s) for s in (0, 1))
    assert (a != b).any()


def test_length_keeps_the_longest(inp):
    mask = select("length", inp, Budget(count=30))
    assert inp.tokens[mask].min() >= inp.tokens[~mask].max()


def test_difficulty_band_first(inp):
    order = order_of("difficulty", inp, seed=0)
    acc = inp.accuracy
    in_band = (acc > 0) & (acc <= 0.25)
    k = int(in_band.sum())
    assert in_band[order[:k]].all()
    assert np.isnan(acc[order[-10:]]).all()  # unknown accuracy last
    with_unsolved = order_of("difficulty", inp, include_unsolved=True)
    k2 = int((in_band | (acc == 0)).sum())
    assert (acc[with_unsolved[:k2]] <= 0.25).all()
    with pytest.raises(ValueError, match="low < high"):
        order_of("difficulty", inp, low=0.5, high=0.25)


def test_difficulty_falls_back_to_tiers():
    inp = make_input()
    tiers_only = StrategyInput(**{**inp.__dict__, "accuracy": None})
    order = order_of("difficulty", tiers_only)
    k = int((inp.tier == 3).sum())
    assert (inp.tier[order[:k]] == 3).all()


def test_s1_takes_unsolved_first_and_samples_long_traces():
    inp = make_input()
    order = order_of("s1", inp, seed=0)
    k = int((inp.accuracy == 0).sum())
    assert (inp.accuracy[order[:k]] == 0).all()
    # Within one domain, rank r (longest first) is drawn with P ∝ 2^-r: the longest comes first about
    # 1 / (2 (1 - 2^-5)) = 0.516 of the time among 5 records.
    one = StrategyInput(ids=list("abcde"), question=list("abcde"), reasoning=list("abcde"), response=list("abcde"),
                        tokens=np.array([5, 50, 10, 40, 20]))
    firsts = np.array([order_of("s1", one, seed=s)[0] for s in range(1500)])
    assert abs((firsts == 1).mean() - 0.5 / (1 - 2 ** -5)) < 0.05
    assert abs((firsts == 3).mean() - 0.25 / (1 - 2 ** -5)) < 0.05


def test_s1_draws_across_domains():
    inp = make_input()
    order = order_of("s1", inp, seed=0)
    first = inp.domain[order[:30]]
    assert len(np.unique(first)) == 6


def test_kcenter_head_is_farthest_first(inp):
    from rbic_fast.strategies import greedy_kcenter

    order = order_of("kcenter", inp, seed=5, limit=20)
    start = order[0]
    np.testing.assert_array_equal(order[:20], greedy_kcenter(inp.embeddings, 20, start=int(start)).centres)


def test_semdedup_keeps_the_hardest_of_each_duplicate_group():
    base = make_input(n=120, seed=2)
    emb = base.embeddings.copy()
    acc = base.accuracy.copy()
    acc[np.isnan(acc)] = 0.5
    # Plant pairs: row j+60 duplicates row j (tiny noise); make the copy the easier one for even j.
    emb[60:] = emb[:60] + 1e-4
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    acc[60:] = np.where(np.arange(60) % 2 == 0, 1.0, 0.0)
    acc[:60] = np.where(np.arange(60) % 2 == 0, 0.0, 1.0)
    domain = np.concatenate([base.domain[:60], base.domain[:60]])
    inp = StrategyInput(**{**base.__dict__, "embeddings": emb.astype(np.float32), "accuracy": acc.astype(np.float32),
                           "tier": None, "domain": domain})
    order = order_of("semdedup", inp, seed=0, eps=0.01)
    survivors = set(order[:60].tolist())
    for j in range(60):
        harder = j if j % 2 == 0 else j + 60
        assert harder in survivors
    # Without domains it clusters with k-means and still removes the planted duplicates.
    no_domain = StrategyInput(**{**inp.__dict__, "domain": None})
    survivors = set(order_of("semdedup", no_domain, seed=0, eps=0.01)[:60].tolist())
    assert all((j in survivors) != (j + 60 in survivors) for j in range(60))


def test_missing_inputs_are_clear_errors():
    inp = make_input(accuracy=False)
    bare = StrategyInput(**{**inp.__dict__, "embeddings": None})
    with pytest.raises(ValueError, match="needs StrategyInput.embeddings"):
        select("kcenter", bare, Budget(count=3))
    with pytest.raises(ValueError, match="needs StrategyInput.accuracy"):
        select("difficulty", inp, Budget(count=3))
    with pytest.raises(ValueError, match="needs a causal LM"):
        select("perplexity", inp, Budget(count=3))
    with pytest.raises(ValueError, match="needs model="):
        select("influence", inp, Budget(count=3))


def test_strategy_input_validation():
    inp = make_input(n=10)
    with pytest.raises(ValueError, match="question has 9 entries"):
        StrategyInput(**{**inp.__dict__, "question": inp.question[:9]})
    with pytest.raises(ValueError, match="tokens is negative at rows"):
        StrategyInput(**{**inp.__dict__, "tokens": -inp.tokens})
    bad = inp.embeddings.copy()
    bad[4, 0] = np.nan
    with pytest.raises(ValueError, match=r"NaN/inf in rows \[4\]"):
        StrategyInput(**{**inp.__dict__, "embeddings": bad})
    with pytest.raises(ValueError, match="accuracy must be in"):
        StrategyInput(**{**inp.__dict__, "accuracy": np.full(10, 2.0, dtype=np.float32)})


def test_select_equals_take_budget_of_the_order(inp):
    for name in BASELINES:
        order = order_of(name, inp, seed=0, limit=N)
        mask = select(name, inp, Budget(token_share=0.3), seed=0)
        if name != "kcenter":  # k-center's greedy head length depends on the budget
            np.testing.assert_array_equal(mask, take_budget(order, Budget(token_share=0.3), N, inp.tokens))
