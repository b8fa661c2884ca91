import numpy as np
import pytest
from rbic_fast.budget import Budget
from rbic_fast.contribution import (
    ContributionWeights,
    grouped_percentile,
    inference_contribution,
    logical_complexity,
)
from rbic_fast.select import REASONS, near_duplicates, select_rbic
from rbic_fast.steps import FEATURE_COLUMNS
from scipy.stats import rankdata


def _pool(n=600, n_domains=7, seed=0):
    rng = np.random.default_rng(seed)
    domain = rng.choice(n_domains, size=n, p=np.r_[0.4, 0.2, 0.15, 0.1, 0.08, 0.05, 0.02])
    tier = rng.integers(0, 5, size=n)
    ic = rng.random(n).round(2)  # rounded: many ties, so the id tie-break matters
    tokens = rng.integers(50, 2000, size=n)
    ids = [f"r{i:05d}" for i in range(n)]
    return domain, tier, ic, tokens, ids


@pytest.mark.parametrize("budget", [Budget(count=97), Budget(ratio=0.16), Budget(count=1), Budget(ratio=1.0)])
def test_sample_budget_is_exact(budget):
    domain, tier, ic, tokens, ids = _pool()
    sel = select_rbic(domain, tier, ic, tokens, budget, ids=ids)
    assert sel.keep.sum() == budget.n_samples(len(ids))
    assert (sel.reason[sel.keep] <= 2).all() and (sel.reason[~sel.keep] > 2).all()


def test_token_budget_never_exceeded_and_nearly_filled():
    domain, tier, ic, tokens, ids = _pool()
    sel = select_rbic(domain, tier, ic, tokens, Budget(token_share=0.16), ids=ids)
    allowance = 0.16 * tokens.sum()
    assert tokens[sel.keep].sum() <= allowance
    assert tokens[sel.keep].sum() >= allowance - tokens.max()


def test_every_non_empty_cell_is_covered():
    domain, tier, ic, tokens, ids = _pool()
    cells = set(zip(domain.tolist(), tier.tolist()))
    sel = select_rbic(domain, tier, ic, tokens, Budget(count=len(cells) + 3), ids=ids)
    kept_cells = set(zip(domain[sel.keep].tolist(), tier[sel.keep].tolist()))
    assert kept_cells == cells
    # token budget: each cell's best record still gets in when it fits
    sel_t = select_rbic(domain, tier, ic, tokens, Budget(token_share=0.3), ids=ids)
    assert set(zip(domain[sel_t.keep].tolist(), tier[sel_t.keep].tolist())) == cells


def test_within_a_cell_higher_contribution_wins():
    domain, tier, ic, tokens, ids = _pool()
    sel = select_rbic(domain, tier, ic, tokens, Budget(ratio=0.2), ids=ids)
    for d, t in set(zip(domain.tolist(), tier.tolist())):
        m = (domain == d) & (tier == t)
        if sel.keep[m].any() and (~sel.keep[m]).any():
            assert ic[m & sel.keep].min() >= ic[m & ~sel.keep].max()


def test_quota_follows_sqrt_size_and_tier_weights():
    # two domains, one tier: 400 vs 100 records -> sqrt allocation 2:1, not 4:1
    domain = np.r_[np.zeros(400, int), np.ones(100, int)]
    tier = np.full(500, 2)
    ic = np.linspace(0, 1, 500)
    sel = select_rbic(domain, tier, ic, np.ones(500, int), Budget(count=60), ids=[str(i) for i in range(500)])
    assert sel.keep[domain == 0].sum() == 40 and sel.keep[domain == 1].sum() == 20
    # tier weights: T3 (1.25) gets 5x the quota of T0 (0.25) at equal size
    tier2 = np.r_[np.zeros(250, int), np.full(250, 3)]
    sel2 = select_rbic(np.zeros(500, int), tier2, ic, np.ones(500, int), Budget(count=60))
    assert sel2.keep[tier2 == 3].sum() == 50 and sel2.keep[tier2 == 0].sum() == 10


def test_deterministic_and_independent_of_input_order():
    domain, tier, ic, tokens, ids = _pool()
    a = select_rbic(domain, tier, ic, tokens, Budget(ratio=0.16), ids=ids)
    b = select_rbic(domain, tier, ic, tokens, Budget(ratio=0.16), ids=ids)
    assert np.array_equal(a.keep, b.keep) and np.array_equal(a.order, b.order)
    perm = np.random.default_rng(5).permutation(len(ids))
    c = select_rbic(
        domain[perm], tier[perm], ic[perm], tokens[perm], Budget(ratio=0.16), ids=[ids[i] for i in perm]
    )
    assert {ids[i] for i in np.flatnonzero(a.keep)} == {ids[perm[i]] for i in np.flatnonzero(c.keep)}


def test_near_duplicates_suppressed_keeping_the_higher_contribution():
    n = 40
    domain = np.repeat([0, 1], n // 2)
    ic = np.linspace(0.0, 1.0, n)
    # record 2i+1 duplicates record 2i (cosine 0.99); records 10 and 30 are similar across domains (not duplicates)
    neighbors = np.full((n, 2), -1)
    sims = np.zeros((n, 2), np.float32)
    for i in range(0, n, 2):
        neighbors[i, 0], neighbors[i + 1, 0] = i + 1, i
        sims[i, 0] = sims[i + 1, 0] = 0.99
    neighbors[10, 1], neighbors[30, 1], sims[10, 1], sims[30, 1] = 30, 10, 0.999, 0.999
    sel = select_rbic(
        domain, np.full(n, 2), ic, np.ones(n, int), Budget(count=20), neighbors=neighbors, similarities=sims
    )
    dup = sel.duplicate_of >= 0
    assert np.array_equal(np.flatnonzero(dup), np.arange(0, n, 2))  # the lower-IC member of each pair
    assert np.array_equal(sel.duplicate_of[dup], np.arange(1, n, 2))
    assert sel.keep.sum() == 20 and not sel.keep[dup].any()
    assert (sel.reason_names()[dup] == "near_duplicate").all()
    # below the threshold nothing is a duplicate
    sel2 = select_rbic(
        domain,
        np.full(n, 2),
        ic,
        np.ones(n, int),
        Budget(count=20),
        neighbors=neighbors,
        similarities=sims,
        dup_threshold=0.9999,
    )
    assert (sel2.duplicate_of < 0).all()


def test_duplicate_chains_keep_one_representative_per_group():
    # a group of 4 mutual duplicates: only the best survives
    nb = np.array([[1, 2, 3], [0, 2, 3], [0, 1, 3], [0, 1, 2]])
    dup = near_duplicates(np.zeros(4, int), np.array([3, 0, 2, 1]), nb, np.full((4, 3), 0.97), 0.95)
    assert dup.tolist() == [1, -1, 1, 1]


def test_invalid_records_never_selected_and_bad_arguments():
    domain, tier, ic, tokens, ids = _pool(100)
    valid = np.arange(100) % 3 != 0
    sel = select_rbic(domain, tier, ic, tokens, Budget(ratio=0.5), ids=ids, valid=valid)
    assert not sel.keep[~valid].any() and (sel.reason[~valid] == REASONS.index("excluded")).all()
    assert sel.keep.sum() == round(0.5 * valid.sum())
    with pytest.raises(ValueError, match="shape"):
        select_rbic(domain, tier[:5], ic, tokens, Budget(count=3))
    with pytest.raises(ValueError, match="tier"):
        select_rbic(domain, tier + 5, ic, tokens, Budget(count=3))
    with pytest.raises(ValueError, match="larger than the dataset"):
        select_rbic(domain, tier, ic, tokens, Budget(count=101))


def test_grouped_percentile_matches_scipy_rankdata_per_group():
    rng = np.random.default_rng(1)
    values = rng.integers(0, 6, size=300).astype(float)
    groups = rng.integers(0, 5, size=300)
    got = grouped_percentile(values, groups)
    for g in range(5):
        m = groups == g
        assert np.allclose(got[m], (rankdata(values[m]) - 0.5) / m.sum())


def test_logical_complexity_and_contribution():
    n = 200
    rng = np.random.default_rng(2)
    feats = {
        name: rng.integers(0, 30, n)
        for name in FEATURE_COLUMNS
    }
    feats["redundancy"] = rng.random(n).astype(np.float32)
    domain = rng.integers(0, 3, n)
    lc = logical_complexity(feats, domain)
    assert lc.shape == (n,) and lc.min() >= 0 and lc.max() <= 1
    # more of every weighted feature -> higher LC (same domain, same redundancy)
    richer = {k: (v + 100 if k != "redundancy" else v) for k, v in feats.items()}
    both = {k: np.r_[feats[k], richer[k][:1]] for k in feats}
    lc2 = logical_complexity(both, np.r_[domain, domain[:1]])
    assert lc2[-1] > lc2[0]
    # redundancy is a penalty
    red = {k: v.copy() for k, v in feats.items()}
    red["redundancy"][:] = 0.0
    red_hi = {k: v.copy() for k, v in red.items()}
    red_hi["redundancy"][:] = 1.0
    assert (logical_complexity(red_hi, domain) < logical_complexity(red, domain)).all()
    # with one latent factor behind the features, the first principal component agrees with the weighted sum
    latent = rng.integers(0, 30, n)
    corr = {k: (latent + rng.integers(0, 4, n) if k != "redundancy" else v) for k, v in feats.items()}
    pca = logical_complexity(corr, domain, mode="pca")
    assert pca.min() >= 0 and pca.max() <= 1
    assert np.corrcoef(pca, logical_complexity(corr, domain))[0, 1] > 0.9
    w = ContributionWeights(alpha=1.0, beta=0.0, gamma=0.0)
    assert np.allclose(inference_contribution(lc, np.ones(n), np.ones(n), w), lc)
    ic = inference_contribution(lc, np.zeros(n), np.zeros(n))
    assert np.allclose(ic, 0.5 * lc)
    with pytest.raises(ValueError, match="unknown LC feature"):
        ContributionWeights(features={"nope": 1.0})


def test_duplicates_found_from_embeddings():
    rng = np.random.default_rng(4)
    base = rng.standard_normal((30, 16)).astype(np.float32)
    emb = np.r_[base, base[:5] + 1e-4]  # records 30..34 nearly repeat 0..4
    ic = np.r_[np.zeros(30), np.ones(5)]  # the copies score higher, so the originals are the duplicates
    sel = select_rbic(
        np.zeros(35, int), np.full(35, 2), ic, np.ones(35, int), Budget(count=10), embeddings=emb
    )
    assert np.flatnonzero(sel.duplicate_of >= 0).tolist() == [0, 1, 2, 3, 4]
    assert sel.duplicate_of[:5].tolist() == [30, 31, 32, 33, 34]
