"""Cohort report: the outcomes cohort analysis as a de-identified PDF, with the same filters,
'not enough data' for empty selections, 400 for bad filters, and role checks."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.utils import timezone

from anagen.accounts.roles import Role
from anagen.reports import cohort, pdf

from .factory import course, make_lot
from .pdftext import assert_pdf, layout_text


@pytest.fixture
def cohort_patients(clinic_a, clinician, make_patient):
    lot = make_lot(clinic_a, clinician)
    patients = []
    # Five: the report shows no figure that rests on fewer than five patients.
    gains = [(110.0, 6.0), (125.0, 11.0), (131.0, 3.0), (118.0, 8.0), (122.0, 7.0)]
    for i, (d0, gain) in enumerate(gains):
        p = make_patient(
            clinic_a,
            clinician,
            sex_at_birth="male",
            given_name="Cohort",
            family_name=f"Member{i}",
            medical_record_number=f"COH-{i}",
        )
        course(
            p,
            clinician,
            lot=lot,
            photos=False,
            adverse_event=i == 0,
            densities=(d0, d0 + gain, d0 + 2 * gain),
            diameters=(55.0, 56.0, 57.5 + i),
        )
        patients.append(p)
    return patients


def _text(clinic, data=None) -> str:
    form = cohort.filter_form(clinic, data)
    context = cohort.report_context(clinic, form, generated_at=timezone.now())
    return " ".join(layout_text(pdf.render_html("reports/cohort.html", context)))


def test_cohort_report_shows_mean_change_with_ci_and_ae_incidence_without_identifiers(
    clinic_a, cohort_patients
):
    text = _text(clinic_a)
    assert "Cohort report" in text
    assert "5 patients match" in text and "5 analysed" in text
    assert "Mean change from baseline" in text
    # Week 12: changes 6, 11, 3, 8, 7 → mean +7.0 (t interval).
    assert "+7.0" in text
    assert "95% CI" in text and "small n" in text
    assert "Adverse events per 100 sessions" in text
    assert "1 / 15" in text  # one session of fifteen followed by an event
    assert "Patients with an event / patients" in text
    assert "1 / 5" in text  # and one patient of five
    assert "not shown" not in text
    for p in cohort_patients:
        assert p.family_name not in text and p.medical_record_number not in text
    assert "investigational / not approved" in text


def test_the_report_says_before_its_figures_that_change_is_not_a_treatment_effect(
    clinic_a, cohort_patients
):
    """A one-arm cohort read "+7.0 (95% CI ...)" on page 1 with nothing beside it but a note
    on differences between arms; "not evidence that a treatment works" came after the last
    table. Both now come before the first figure."""
    text = _text(clinic_a)
    first_figure = text.index("Mean change from baseline in")
    for said in (
        "not evidence that a treatment works",
        "An arm's change from baseline is not a treatment effect",
        "regression to the mean",
        "An interval that excludes zero does not show that a treatment works",
    ):
        assert -1 < text.find(said) < first_figure, said


def test_filters_with_no_patient_say_not_enough_data(clinic_a, cohort_patients):
    text = _text(clinic_a, {"outcome": "density_per_cm2", "sex": "female"})
    assert "0 patients match" in text
    assert "Not enough data" in text
    assert "no treatment session in the selection" in text


def test_a_single_patients_change_is_not_printed(clinic_a, clinician, make_patient):
    """Mean change of one patient is that patient's change: with sex, age band, diagnosis and
    arm it can point to a person, so the shareable PDF leaves it out and says why."""
    p = make_patient(clinic_a, clinician, sex_at_birth="male")
    course(p, clinician, photos=False, adverse_event=False)
    text = _text(clinic_a)
    assert "fewer than 5 patients match the filters; fewer than 5 patients have a" in text
    assert "1 patient" not in text
    assert "+8.0" not in text  # week 12: 120 → 128
    assert "fewer than 5: not shown" in text
    assert "on fewer than 5 patients and are not shown" in text
    # Nor do the notes under the tables name the count they hide.
    assert "has only 1 patient" not in text and "has only 1 session" not in text


@pytest.mark.parametrize(
    ("note", "shared"),
    [
        (
            "Small n: Topical minoxidil has only 4 patients; estimates are very imprecise.",
            "Small n: Topical minoxidil has fewer than 5 patients; estimates are very imprecise.",
        ),
        (
            "Small n: PRP has only 1 patient at week 12; read with care.",
            "Small n: PRP has fewer than 5 patients at week 12; read with care.",
        ),
        ("Small n: PRP has only 7 sessions; read.", "Small n: PRP has only 7 sessions; read."),
        (
            "3 sessions without a lot (PRP, minoxidil, transplant) are not in this table; "
            "0 of them were followed by an adverse event.",
            "fewer than 5 sessions without a lot (PRP, minoxidil, transplant) are not in this "
            "table.",
        ),
        ("0 patients match.", "0 patients match."),
    ],
)
def test_the_shared_notes_word_small_counts_as_fewer_than_five(note, shared):
    assert cohort.shareable_text(note, 5) == shared


@pytest.mark.parametrize(
    ("note", "shared"),
    [
        (
            "18 patients match the filters; 17 patients have a baseline hair density.",
            "15 to 19 patients match the filters; 15 to 19 patients have a baseline hair density.",
        ),
        ("The ANCOVA used 17 patients.", "The ANCOVA used 15 to 19 patients."),
        (
            "Complete-case ANCOVA at week 12: 17 subjects with a value there were analysed.",
            "Complete-case ANCOVA at week 12: 15 to 19 subjects with a value there were analysed.",
        ),
        ("1 patient matches the filters.", "fewer than 5 patients match the filters."),
        ("52 visits (18 of 52 patients).", "52 visits (15 to 19 of 50 to 54 patients)."),
        (
            "14 cells have fewer than 10 patients (marked).",
            "14 cells have fewer than 10 patients (marked).",
        ),
        ("0 patients match.", "0 patients match."),
        # With the visits per patient, exact visit totals gave the patients back (review).
        (
            "Observed-case summary: 52 of 52 analysed follow-up visits have both values.",
            "Observed-case summary: 50 to 54 of 50 to 54 analysed follow-up visits have both "
            "values.",
        ),
    ],
)
def test_with_a_cell_hidden_the_shared_totals_come_in_bands(note, shared):
    """18 patients in all and arms of 6 and 7 shown would give the hidden arms' 5 back."""
    assert cohort.shareable_text(note, 5, band=True) == shared


def test_with_a_cell_hidden_the_models_sizes_come_in_bands():
    """ANCOVA "17 patients" less the arms shown (6 and 7) gave the hidden arm's 4."""
    from anagen.outcomes.cohort import Section

    sections = {
        "ancova": Section("ancova", "", True, data={"n_used": 17}),
        "mmrm": Section("mmrm", "", True, data={"n_subjects": 17, "n_observations": 47}),
    }
    assert cohort._model_sizes(sections, 5, True) == {
        "ancova_n_used": "15 to 19", "mmrm_n_subjects": "15 to 19",
        "mmrm_n_observations": "45 to 49",
    }  # fmt: skip
    assert cohort._model_sizes(sections, 5, False)["ancova_n_used"] == "17"


def test_notes_naming_a_hidden_row_are_left_out_and_a_split_table_is_withheld():
    """The lot UC-2605-H rests on 3 patients: its row is hidden, so the note "UC-2605-H has
    only 9 sessions" must not print its sessions, and the rows of the other lots would give
    it back from the product table above (product 1/24, other lot 0/12)."""
    from anagen.outcomes.cohort import Section
    from anagen.outcomes.selectors import small_cells_hidden

    product = Section(
        "ae_product",
        "",
        True,
        data={
            "rows": [
                {"group": "UC", "sessions": 24, "patients": 9},
            ]
        },
        warnings=["Limited n: UC has 24 sessions; read the confidence interval."],
    )
    lot = Section("ae_lot", "", True, data={"rows": [
        {"group": "UC-2510-H", "sessions": 12, "patients": 6},
        {"group": "UC-2605-H", "sessions": 9, "patients": 3},
    ]}, warnings=["Small n: UC-2605-H has only 9 sessions; estimates are very imprecise."],
        missing_data="Events are attributed to sessions. UC-2605-H had 1 event. Rates are "
        "lower bounds.")  # fmt: skip
    cells = small_cells_hidden({}, 5, [product, lot])
    withheld = cohort.withheld_tables(cells)
    assert withheld == {"ae_lot"}
    notes = cohort.shareable_notes(
        [product, lot], 5, cohort.hidden_names(cells), withheld, band=True
    )
    assert notes["ae_lot"]["warnings"] == []
    assert notes["ae_lot"]["missing_data"] == (
        "Events are attributed to sessions. Rates are lower bounds."
    )
    assert notes["ae_product"]["warnings"] == [
        "Limited n: UC has 20 to 24 sessions; read the confidence interval."
    ]


def test_only_the_rows_resting_on_fewer_than_five_patients_are_left_out():
    from anagen.outcomes.cohort import Section
    from anagen.outcomes.selectors import small_cells_hidden

    sections = {
        "by_visit": Section("by_visit", "", True, data={"rows": [
            {"arm": "exosome", "week": 12, "n": 6}, {"arm": "prp", "week": 12, "n": 5},
            {"arm": "exosome", "week": 24, "n": 5}, {"arm": "prp", "week": 24, "n": 2},
        ]}),
        "responders": Section("responders", "", True, data={"rows": [
            {"arm": "exosome", "n": 5}, {"arm": "prp", "n": 2},
            {"arm": "none", "n": 0, "message": "No patient of this arm has a value"},
        ]}),
        "ancova": Section("ancova", "", True, data={
            "arms": ["exosome", "prp", "none"], "n_per_arm": [6, 2, 9],
            "reference_arm": "none", "contrasts": [{"arm": "exosome"}, {"arm": "prp"}],
        }),
        "mmrm": Section("mmrm", "", True, data={"reference_arm": "exosome", "contrasts": [
            {"arm": "prp", "week": 12}, {"arm": "prp", "week": 24},
        ]}),
    }  # fmt: skip
    ae = [Section("ae_lot", "", True, data={"rows": [
        {"group": "LOT-1", "sessions": 3, "patients": 1},
        {"group": "LOT-2", "sessions": 12, "patients": 6},
        {"group": "LOT-3", "sessions": 9},  # a snapshot from before patients were counted
    ]})]  # fmt: skip
    before = repr(sections) + repr(ae)
    cells = small_cells_hidden(sections, 5, ae)
    assert [r["hidden"] for r in cells["by_visit"]] == [False, False, False, True]
    assert [r["hidden"] for r in cells["responders"]] == [False, True, False]
    assert [c["hidden"] for c in cells["ancova"]] == [False, True]
    assert [c["hidden"] for c in cells["mmrm"]] == [False, True]
    # A lot used on one patient tells whether that patient had an event.
    assert [r["hidden"] for r in cells["ae"]["ae_lot"]] == [True, False, False]
    assert cells["n_hidden"] == 5
    assert repr(sections) + repr(ae) == before  # the cached analysis is not changed


@pytest.mark.parametrize(
    ("role", "status"),
    [
        (Role.ADMIN, 200),
        (Role.CLINICIAN, 200),
        (Role.RESEARCHER, 200),
        (Role.NURSE, 403),
        (Role.FRONT_DESK, 403),
    ],
)
def test_cohort_pdf_roles(client, clinic_a, make_user, role, status):
    client.force_login(make_user(role, clinic_a))
    response = client.get("/reports/cohort.pdf")
    assert response.status_code == status
    if status == 200:
        assert response["Content-Type"] == "application/pdf"
        assert_pdf(response.content)
        index = client.get("/reports/").content.decode()
        assert ("/interop/export/" in index) is (role in (Role.ADMIN, Role.RESEARCHER))
        assert ("/interop/import/" in index) is (role in (Role.ADMIN, Role.CLINICIAN))


def test_researcher_downloads_a_filtered_report_and_bad_filters_are_400(
    client, clinic_a, make_user, cohort_patients, api_token
):
    researcher = make_user(Role.RESEARCHER, clinic_a)
    client.force_login(researcher)
    ok = client.get("/reports/cohort.pdf", {"outcome": "density_per_cm2", "modality": "exosome"})
    assert ok.status_code == 200
    assert_pdf(ok.content)
    if os.environ.get("ANAGEN_REPORTS_OUT"):  # for looking at it: render to PNG by hand
        out = Path(os.environ["ANAGEN_REPORTS_OUT"])
        out.mkdir(parents=True, exist_ok=True)
        (out / "cohort.pdf").write_bytes(ok.content)
    bad = client.get("/reports/cohort.pdf", {"lot": "999999", "outcome": "nonsense"})
    assert bad.status_code == 400
    assert "Select a valid choice" in bad.content.decode()
    headers = {"Authorization": f"Bearer {api_token(researcher, clinic_a)}"}
    api = client.get("/api/v1/reports/cohort.pdf?modality=exosome", headers=headers)
    assert api.status_code == 200 and api["Content-Type"] == "application/pdf"
    api_bad = client.get("/api/v1/reports/cohort.pdf?outcome=nonsense", headers=headers)
    assert api_bad.status_code == 422 and "outcome" in api_bad.content.decode()
    not_a_number = client.get("/api/v1/reports/cohort.pdf?threshold=nan", headers=headers)
    assert not_a_number.status_code == 422
    assert "finite" in not_a_number.content.decode()  # not "less than or equal to 1000"


def test_another_clinics_patients_are_not_in_the_report(
    clinic_a, clinic_b, make_user, make_patient
):
    admin_b = make_user(Role.ADMIN, clinic_b, username="admin-b")
    p = make_patient(clinic_b, admin_b, sex_at_birth="male")
    course(p, admin_b, photos=False)
    assert "0 patients match" in _text(clinic_a)


def test_with_an_arm_hidden_the_mmrm_table_leaves_its_degrees_of_freedom_out(clinic_a, clinician):
    """With complete data the df is n - 4: beside the arms shown it gave the hidden arm's
    size exactly (researcher review)."""
    from anagen.outcomes.demo import load_simulated_cohort

    load_simulated_cohort(clinic_a, clinician, 40, seed=5)
    form = cohort.filter_form(clinic_a, None)
    context = cohort.report_context(clinic_a, form, generated_at=timezone.now())
    html = pdf.render_html("reports/cohort.html", context)
    assert context["banded"], "the simulated cohort of 40 must leave a small arm out"
    assert "Degrees of freedom are left out" in html
    assert '<th class="num">df</th>' not in html
    context["banded"] = False
    assert '<th class="num">df</th>' in pdf.render_html("reports/cohort.html", context)
