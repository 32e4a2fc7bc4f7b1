"""The cohort and comparison filter forms: the chosen filters read in words."""

from __future__ import annotations

from anagen.outcomes.forms import CohortFilterForm, ComparisonFilterForm

CHOICES = {
    "modality": [("exosome", "Exosome"), ("prp", "Platelet-rich plasma")],
    "diagnosis": [("aga_female", "Androgenetic alopecia (female)")],
    "stage": [("III", "III")],
    "product": [],
    "lot": [],
    "protocol": [],
}


def test_filters_are_described_by_their_labels_not_their_codes():
    form = CohortFilterForm(
        {
            "modality": ["exosome", "prp"],
            "diagnosis": "aga_female",
            "sex": "female",
            "age_band": "40-49",
            "outcome": "hair_count",
        },  # fmt: skip
        choices=CHOICES,
        combinations=[],
    )
    assert form.is_valid(), form.errors
    assert form.described() == [
        "Modality includes Exosome and Platelet-rich plasma",
        "Diagnosis: Androgenetic alopecia (female)",
        "Sex: Female",
        "Age band: 40-49",
    ]  # the outcome is what is measured, not who


def test_no_filter_is_no_description():
    form = CohortFilterForm({"outcome": "density_per_cm2"}, choices=CHOICES, combinations=[])
    assert form.is_valid() and form.described() == []


def test_the_comparison_form_leaves_out_the_arm_filters_even_when_sent():
    form = ComparisonFilterForm(
        {"modality": ["exosome"], "reference": "prp", "diagnosis": "aga_female"},
        choices=CHOICES,
        combinations=[],
    )
    assert form.is_valid(), form.errors
    assert form.described() == ["Diagnosis: Androgenetic alopecia (female)"]
    assert form.filters().modalities == () and form.options().reference_arm == ""
