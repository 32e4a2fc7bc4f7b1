"""A session's volume shared among the lots it drew from (pure): shares rounded to 0.01 mL
that add up to the volume, however the rounding falls."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from anagen.products.numbers import split_in_proportion

D = Decimal


def test_three_equal_shares_of_one_ml_add_up_to_one_ml():
    assert split_in_proportion(D("1.00"), [D(1), D(1), D(1)]) == [D("0.34"), D("0.33"), D("0.33")]


def test_an_exact_split_is_kept_as_it_is():
    assert split_in_proportion(D("1.50"), [D("2.0"), D("1.0")]) == [D("1.00"), D("0.50")]
    assert split_in_proportion(D("2.00"), [D("1.0")]) == [D("2.00")]


def test_the_left_over_hundredth_goes_to_the_largest_remainder_not_the_first():
    # 0.10 mL in 2:1:3 is 0.0333…, 0.0166…, 0.05: the second is furthest from its floor.
    assert split_in_proportion(D("0.10"), [D(2), D(1), D(3)]) == [D("0.03"), D("0.02"), D("0.05")]


@given(
    st.integers(min_value=0, max_value=100_000).map(lambda n: D(n) / 100),
    st.lists(st.integers(min_value=1, max_value=50).map(D), min_size=1, max_size=8),
)
def test_the_shares_always_add_up_and_none_is_off_by_more_than_a_hundredth(total, weights):
    shares = split_in_proportion(total, weights)
    assert sum(shares) == total
    whole = sum(weights)
    for share, weight in zip(shares, weights, strict=True):
        assert abs(share - total * weight / whole) < D("0.01")
