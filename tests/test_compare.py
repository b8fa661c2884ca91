"""Comparison metrics against direct computations."""

import numpy as np
import pytest
from rbic_fast.budget import Budget
from rbic_fast.compare import compare_selections, plot_comparison, run_strategies, to_frame
from rbic_fast.contribution import FEATURE_NAMES, logical_complexity
from rbic_fast.strategies import StrategyInput


def make_features(n=5):
    """Feature columns growing with the row index (row 4 is the most complex of its domain)."""
    return {name: np.arange(n, dtype=np.float32) for name in FEATURE_NAMES if name != "redundancy"} | {
        "redundancy": np.zeros(n, dtype=np.float32)}


def make_input():
    e = np.array([[1, 0], [1, 0], [0, 1], [0.6, 0.8], [-1, 0]], dtype=np.float32)
    return StrategyInput(
        ids=list("abcde"), question=list("abcde"), reasoning=list("abcde"), response=list("abcde"),
        tokens=np.array([10, 20, 30, 40, 100]), embeddings=e, domain=np.array([0, 0, 1, 1, 2], dtype=np.int32),
        accuracy=np.array([0.0, 0.5, 1.0, np.nan, 0.25], dtype=np.float32),
        tier=np.array([4, 2, 0, -1, 3], dtype=np.int8), features=make_features(),
    )


def test_metrics_match_a_direct_computation():
    inp = make_input()
    keep = np.array([True, True, True, False, False])
    [row] = compare_selections(inp, {"x": (keep, 1.5)})
    assert (row.kept, row.tokens, row.seconds) == (3, 60, 1.5)
    assert row.token_share == pytest.approx(60 / 200)
    assert row.domain_coverage == pytest.approx(2 / 3)
    assert row.tier_coverage == pytest.approx(3 / 4)  # tiers 4, 2, 0 of present 4, 2, 0, 3
    assert row.cell_coverage == pytest.approx(3 / 4)
    # Kept 0, 1, 2: max cosine to another kept row is 1, 1, 0.
    assert row.redundancy == pytest.approx(2 / 3)
    # All rows' best cosine to the kept set: 1, 1, 1, 0.8, 0 (row 4 = -e0, best is e2 at 0).
    assert row.representativeness == pytest.approx((1 + 1 + 1 + 0.8 + 0) / 5, rel=1e-6)
    assert row.mean_accuracy == pytest.approx(0.5)
    # complexity is RBIC's LC: within-domain percentile ranks of the features (rows 0, 1 | 2, 3 | 4)
    lc = logical_complexity(inp.features, inp.domain)
    assert row.mean_complexity == pytest.approx(float(lc[:3].mean()))
    assert lc[1] > lc[0] and lc[3] > lc[2]  # the later row of each domain has the larger features


def test_sampled_evaluation_is_close_and_missing_inputs_are_nan():
    from rbic_fast.synthetic import clustered_embeddings

    e, _ = clustered_embeddings(3000, 16, n_clusters=20, seed=0)
    inp = StrategyInput(ids=[str(i) for i in range(3000)], question=[""] * 3000, reasoning=[""] * 3000,
                        response=[""] * 3000, tokens=np.full(3000, 5), embeddings=e)
    keep = np.zeros(3000, dtype=bool)
    keep[::7] = True
    full = compare_selections(inp, {"x": keep}, max_eval_rows=None)[0]
    sampled = compare_selections(inp, {"x": keep}, max_eval_rows=1000)[0]
    assert sampled.representativeness == pytest.approx(full.representativeness, abs=0.02)
    assert sampled.redundancy == pytest.approx(full.redundancy, abs=0.02)
    assert np.isnan(full.domain_coverage) and np.isnan(full.tier_coverage) and np.isnan(full.mean_accuracy)


def test_run_strategies_table_and_plot(tmp_path):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("matplotlib")
    inp = make_input()
    runs = run_strategies(inp, ["random", "length", "kcenter"], Budget(count=2), seed=0)
    assert all(m.sum() == 2 and s >= 0 for m, s in runs.values())
    frame = to_frame(compare_selections(inp, runs))
    assert isinstance(frame, pd.DataFrame) and list(frame.index) == ["random", "length", "kcenter"]
    assert frame.loc["length", "tokens"] == 140
    plot_comparison(compare_selections(inp, runs), str(tmp_path / "cmp.png"))
    assert (tmp_path / "cmp.png").stat().st_size > 1000


def test_bad_mask_shape():
    with pytest.raises(ValueError, match="shape"):
        compare_selections(make_input(), {"x": np.ones(3, dtype=bool)})
