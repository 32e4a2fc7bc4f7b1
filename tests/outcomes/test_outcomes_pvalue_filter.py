"""p-values on the cohort page and the shared PDF: never rounded across 0.05."""

from __future__ import annotations

import pytest

from anagen.outcomes.templatetags.outcomes_tags import pvalue


@pytest.mark.parametrize(
    ("p", "shown"),
    [
        (0.0496, "0.0496"),  # printed "0.050" with three decimals
        (0.05, "0.05"),
        (0.00123, "0.00123"),
        (0.0004, "<0.001"),
        (0.1234, "0.123"),
        (0.5, "0.500"),
        (None, "—"),
        ("not a number", "—"),
    ],
)
def test_pvalue_is_printed_on_its_own_side_of_0_05(p, shown):
    assert pvalue(p) == shown
