"""Bad input never crashes and never shows a misleading number: empty filters, one patient,
all values missing, unbalanced visits, nonsense parameters (pages and API)."""

from __future__ import annotations

import pytest

from anagen.outcomes import cohort, selectors

pytestmark = pytest.mark.django_db


def analyse(clinic, **filters):
    return selectors.cohort_analysis(
        clinic, cohort.CohortFilters(**filters), cohort.CohortOptions(), deidentified=True
    ).result


def all_not_enough(result) -> None:
    for key, s in result.sections.items():
        assert not s.ok, key
        assert s.message.startswith("Not enough data"), (key, s.message)
        assert s.data is None


def test_clinic_without_any_data(client, clinic_a, clinician):
    all_not_enough(analyse(clinic_a))
    client.force_login(clinician)
    response = client.get("/outcomes/cohort/")
    assert response.status_code == 200
    assert "Not enough data: no patient matches the filters." in response.content.decode()
    assert client.get("/outcomes/comparison/").status_code == 200
    data = client.get("/api/v1/outcomes/cohort").json()
    assert data["n_patients"] == 0 and data["sections"]["mmrm"]["ok"] is False


def test_filter_matching_nobody(client, clinic_a, clinician, sim_cohort):
    r = analyse(clinic_a, stage="VII-does-not-exist")
    assert r.n_patients == 0
    all_not_enough(r)
    client.force_login(clinician)
    html = client.get(
        "/outcomes/cohort/",
        {"age_band": "<30", "stage": "Norwood–Hamilton VI", "combination": "none", "sex": "female"},
    ).content
    assert b"Not enough data" in html


def test_single_patient(clinic_a, clinician, make_patient, record_visit):
    p = make_patient(clinic_a, clinician)
    record_visit(p, clinician, 0, baseline=True, density_per_cm2=100.0)
    record_visit(p, clinician, 84, density_per_cm2=108.0)
    r = analyse(clinic_a)
    assert r.n_analysed == 1
    by_visit = r.sections["by_visit"]
    assert by_visit.ok
    row = by_visit.data["rows"][0]
    assert row["n"] == 1 and row["lower"] is None and row["upper"] is None and row["small_n"]
    assert any("Small n" in w for w in by_visit.warnings)
    assert not r.sections["ancova"].ok and "only one arm" in r.sections["ancova"].message
    # In words, as the shared PDF prints it: it read "only one arm (none)" (review).
    assert "only one arm (No session recorded) in" in r.sections["ancova"].message
    assert not r.sections["mmrm"].ok
    resp = r.sections["responders"]
    assert resp.ok and resp.data["rows"][0]["n"] == 1 and resp.data["rows"][0]["small_n"]


def test_all_values_missing(client, clinic_a, clinician, make_patient, record_visit):
    for _ in range(3):
        p = make_patient(clinic_a, clinician)
        # Counts without a measured target area: no density can be derived from them.
        record_visit(p, clinician, 0, baseline=True, global_assessment=None, hair_count=100,
                     target_area_cm2=None)  # fmt: skip
        record_visit(p, clinician, 84, hair_count=110, target_area_cm2=None)
    r = analyse(clinic_a)  # outcome density: never measured
    assert r.n_patients == 3 and r.n_with_baseline == 0
    all_not_enough(r)
    assert "no patient has both a baseline and a follow-up value" in r.sections["mmrm"].message
    client.force_login(clinician)
    html = client.get("/outcomes/cohort/").content.decode()
    assert "no patient has both a baseline and a follow-up value" in html
    html = client.get("/outcomes/cohort/", {"outcome": "hair_count"}).content.decode()
    assert "+10" in html


def test_unbalanced_visits_drop_visits_or_refuse(clinic_a, clinician, make_patient,
                                                  record_visit):  # fmt: skip
    from anagen.outcomes.demo import load_simulated_cohort

    load_simulated_cohort(
        clinic_a, clinician, 30, seed=4, visit_weeks=(0, 12), arms=("prp", "none"),
        arm_p=(0.5, 0.5), dropout_per_year=0.0,
    )  # fmt: skip
    # One extra untreated patient seen at week 4 only: week 4 has one arm with a single value.
    p = make_patient(clinic_a, clinician)
    record_visit(p, clinician, 0, baseline=True, density_per_cm2=120.0)
    record_visit(p, clinician, 28, density_per_cm2=119.0)
    r = analyse(clinic_a)
    mmrm = r.sections["mmrm"]
    assert mmrm.ok, mmrm.message
    assert mmrm.data["weeks"] == [12]
    assert "left out of the MMRM" in mmrm.missing_data and "week 4" in mmrm.missing_data
    # Only week 4 in the selection, one arm there: nothing to compare.
    r = analyse(clinic_a, combination="none")
    assert not r.sections["mmrm"].ok


def test_mmrm_refuses_when_no_visit_has_two_values_in_every_arm(
    clinic_a, clinician, make_patient, record_visit
):
    from anagen.outcomes.demo import load_simulated_cohort

    load_simulated_cohort(clinic_a, clinician, 6, seed=8, visit_weeks=(0, 4), arms=("prp",),
                          dropout_per_year=0.0)  # fmt: skip
    p = make_patient(clinic_a, clinician)
    record_visit(p, clinician, 0, baseline=True, density_per_cm2=120.0)
    record_visit(p, clinician, 84, density_per_cm2=119.0)
    r = analyse(clinic_a)
    assert not r.sections["mmrm"].ok
    assert "unbalanced visits" in r.sections["mmrm"].message
    assert not r.sections["ancova"].ok


@pytest.mark.parametrize(
    "params",
    [
        {"threshold": "abc"},
        {"threshold": "nan"},
        {"threshold": "1e9"},
        {"outcome": "weight"},
        {"landmark": "5"},
        {"modality": "teleportation"},
        {"product": "999999999999999999999"},
        {"sex": "<script>"},
    ],
)
def test_bad_parameters_give_field_errors_not_crashes(client, clinician, params):
    client.force_login(clinician)
    response = client.get("/outcomes/cohort/", params)
    assert response.status_code == 400
    assert 'class="error"' in response.content.decode()
    api = client.get("/api/v1/outcomes/cohort", params)
    # Refused as on the page: 422 for a wrong type, 400 for a value the form does not offer.
    assert api.status_code in (400, 422), api.content
    assert "detail" in api.json()
    # The cohort PDF takes the same filters and refuses them the same way.
    pdf = client.get("/api/v1/reports/cohort.pdf", params)
    assert (pdf.status_code, pdf.json()) == (api.status_code, api.json())


def test_api_rejects_bad_values_naming_the_field(client, clinician):
    client.force_login(clinician)
    r = client.get("/api/v1/outcomes/cohort", {"threshold": "inf"})
    assert r.status_code == 422 and "threshold" in r.json()["detail"]
    r = client.get("/api/v1/outcomes/cohort", {"landmark": "5"})
    assert r.status_code == 400 and r.json()["detail"].startswith("landmark:")
    r = client.get("/api/v1/outcomes/patients/99999999999999999999999/progress")
    assert r.status_code in (404, 422)
