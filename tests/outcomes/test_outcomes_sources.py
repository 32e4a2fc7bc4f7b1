"""Change from baseline within one measurement source: manual against manual, else image
analysis against image analysis; a value whose source the baseline lacks has no baseline."""

from anagen.outcomes.sources import same_source_pair


def test_manual_pair_wins_when_both_sources_pair():
    now = {"manual": 160.0, "imaging": 150.0}
    base = {"manual": 140.0, "imaging": 120.0}
    assert same_source_pair(now, base) == ("manual", 160.0, 140.0)


def test_image_analysis_pairs_when_the_baseline_has_no_manual_value():
    now = {"manual": 160.0, "imaging": 150.0}
    assert same_source_pair(now, {"imaging": 120.0}) == ("imaging", 150.0, 120.0)


def test_a_value_without_a_baseline_of_its_source_has_none():
    # A manual count at the visit is never compared with an image-analysis baseline.
    assert same_source_pair({"manual": 160.0}, {"imaging": 120.0}) == ("manual", 160.0, None)
    assert same_source_pair({"manual": None, "imaging": 150.0}, {"manual": 140.0}) == (
        "imaging",
        150.0,
        None,
    )


def test_nothing_measured_is_no_source():
    assert same_source_pair({}, {"manual": 140.0}) == ("", None, None)
    assert same_source_pair({"manual": None}, {}) == ("", None, None)


def test_an_extra_source_is_tried_last_in_the_given_order():
    order = ("manual", "imaging", "")
    assert same_source_pair({"": 150.0}, {"": 130.0}, order) == ("", 150.0, 130.0)
    assert same_source_pair({"": 150.0, "imaging": 149.0}, {"": 130.0}, order) == (
        "",
        150.0,
        130.0,
    )
