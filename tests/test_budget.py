import numpy as np
import pytest
from rbic_fast.budget import Budget, take_budget


def test_ratio_and_count_keep_exactly_the_head_of_the_order():
    order = np.array([5, 3, 9, 0, 1])
    keep = take_budget(order, Budget(count=3), 10)
    assert np.flatnonzero(keep).tolist() == [3, 5, 9]
    assert take_budget(order, Budget(ratio=0.2), 10).sum() == 2
    assert Budget(ratio=0.16).n_samples(1000) == 160


def test_token_budget_never_exceeds_and_skips_items_that_do_not_fit():
    tokens = np.array([50, 10, 30, 5, 40])
    keep = take_budget(np.array([0, 4, 2, 1, 3]), Budget(token_share=0.5), 5, tokens)  # allowance 67
    assert tokens[keep].sum() <= 67
    assert np.flatnonzero(keep).tolist() == [0, 1, 3]  # 50, then 40/30 do not fit, 10 and 5 do


@pytest.mark.parametrize(
    "kwargs, match",
    [({}, "exactly one"), ({"ratio": 0.1, "count": 3}, "exactly one"), ({"ratio": 1.5}, "ratio"),
     ({"count": 0}, "count"), ({"token_share": 0.0}, "token_share")],
)
def test_invalid_budgets(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Budget(**kwargs)


def test_count_larger_than_dataset_is_a_clear_error():
    with pytest.raises(ValueError, match="larger than the dataset"):
        take_budget(np.arange(5), Budget(count=6), 5)


def test_bad_orders():
    with pytest.raises(ValueError, match="outside"):
        take_budget(np.array([7]), Budget(count=1), 5)
    with pytest.raises(ValueError, match="repeats"):
        take_budget(np.array([1, 1]), Budget(count=1), 5)
    with pytest.raises(ValueError, match="token counts"):
        take_budget(np.array([1]), Budget(token_share=0.5), 5)
