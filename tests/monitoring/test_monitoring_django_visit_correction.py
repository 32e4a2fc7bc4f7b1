"""Correcting a visit's assessments or notes in place: with a reason, checked as when the
visit was recorded, the values before kept in its history, what someone else corrected
meanwhile kept. A visit could only be voided, which took its photos and measurements with
it to fix a slip in the pull test or the notes."""

from __future__ import annotations

import re
from datetime import date, timedelta
from html import unescape

import pytest

from anagen.accounts.roles import Role
from anagen.monitoring import services
from anagen.monitoring.models import Visit


@pytest.fixture
def nurse(clinic_a, make_user):
    return make_user(Role.NURSE, clinic_a, username="nina")


@pytest.fixture
def patient(clinic_a, nurse, make_patient):
    return make_patient(clinic_a, nurse, given_name="Cora", family_name="Correct")


@pytest.fixture
def visit(patient, nurse):
    return services.record_visit(
        patient,
        nurse,
        {
            "visit_date": date.today() - timedelta(days=1),
            "pull_test": "negative",
            "pull_test_hairs": 2,
            "hgq_growth": 1,
            "notes": "Scalp calm.",
        },
    )


def page_url(patient, visit):
    return f"/monitoring/{patient.pk}/visits/{visit.pk}/correct/"


def test_a_correction_changes_the_values_and_the_history_keeps_the_ones_before(visit, nurse):
    changed = services.amend_visit(
        visit, nurse, {"pull_test": "positive", "pull_test_hairs": 9}, "entered the wrong result"
    )
    assert changed
    visit.refresh_from_db()
    assert (visit.pull_test, visit.pull_test_hairs) == ("positive", 9)
    assert (visit.hgq_growth, visit.notes) == (1, "Scalp calm.")  # left out: kept
    newest, before = visit.history.order_by("-history_date", "-history_id")[:2]
    assert newest.history_change_reason == "corrected: entered the wrong result"
    assert (before.pull_test, before.pull_test_hairs) == ("negative", 2)


@pytest.mark.parametrize(
    ("data", "reason", "field"),
    [
        ({"notes": "x"}, "oops", "reason"),  # a reason of at least 5 characters
        ({"pull_test": "positive"}, "wrong result", "pull_test_hairs"),  # 2 hairs: negative
        ({"hgq_growth": 7}, "wrong answer", "hgq_growth"),
        ({"visit_date": "2020-01-01"}, "wrong date typed", "__all__"),  # not by correction
        ({"is_baseline": True}, "was the baseline", "__all__"),
    ],
)
def test_a_correction_is_checked_as_the_visit_was_and_a_refusal_changes_nothing(
    visit, nurse, data, reason, field
):
    before = visit.history.count()
    with pytest.raises(services.MonitoringError) as info:
        services.amend_visit(visit, nurse, data, reason)
    assert field in info.value.errors
    visit.refresh_from_db()
    assert (visit.pull_test, visit.hgq_growth, visit.notes) == ("negative", 1, "Scalp calm.")
    assert visit.history.count() == before


def test_a_baseline_visit_rates_no_change_when_corrected_either(patient, nurse):
    baseline = services.record_visit(
        patient, nurse, {"visit_date": date.today(), "is_baseline": True, "notes": "Start."}
    )
    with pytest.raises(services.MonitoringError) as info:
        services.amend_visit(baseline, nurse, {"global_assessment": 2}, "forgot the rating")
    assert "global_assessment" in info.value.errors


def test_a_voided_visit_is_not_corrected(visit, nurse, clinic_a, make_user):
    doctor = make_user(Role.CLINICIAN, clinic_a, username="doc")
    services.void_record(visit, doctor, "recorded for the wrong day")
    with pytest.raises(services.MonitoringError, match="voided"):
        services.amend_visit(visit, nurse, {"notes": "Scalp red."}, "notes were wrong")


def opened_form(client, patient, visit) -> dict[str, str]:
    """The form as the browser would send it back unchanged: each field's value and the
    value it was opened with."""
    page = client.get(page_url(patient, visit))
    assert page.status_code == 200
    found = re.findall(r'name="(opened-[a-z_]+)" value="([^"]*)"', page.content.decode())
    sent = {name: unescape(value) for name, value in found}
    assert len(sent) == len(services.AMENDABLE_VISIT_FIELDS)
    form = page.context["form"]
    values = {n: "" if form[n].value() is None else str(form[n].value()) for n in form.fields}
    return {**values, **sent}


def test_the_page_saves_what_was_changed_and_keeps_what_another_corrected_meanwhile(
    client, visit, patient, nurse
):
    client.force_login(nurse)
    post = opened_form(client, patient, visit)
    # Someone else corrects the notes meanwhile.
    services.amend_visit(visit, nurse, {"notes": "Scalp red at the vertex."}, "notes incomplete")
    post.update(pull_test_hairs="3", reason="counted one more hair")
    response = client.post(page_url(patient, visit), post)
    assert response.status_code == 302, response.content.decode()[:3000]
    visit.refresh_from_db()
    assert visit.pull_test_hairs == 3
    assert visit.notes == "Scalp red at the vertex."  # not put back to what this page showed


def test_the_same_field_corrected_by_two_people_is_refused_naming_the_stored_value(
    client, visit, patient, nurse
):
    client.force_login(nurse)
    post = opened_form(client, patient, visit)
    services.amend_visit(visit, nurse, {"notes": "Scalp red at the vertex."}, "notes incomplete")
    post.update(notes="Scalp calm, slight flaking.", reason="notes were incomplete")
    response = client.post(page_url(patient, visit), post)
    assert response.status_code == 400
    assert "Changed by someone else" in " ".join(response.context["form"].errors["notes"])
    visit.refresh_from_db()
    assert visit.notes == "Scalp red at the vertex."


def test_a_page_that_changes_nothing_or_gives_no_reason_says_so(client, visit, patient, nurse):
    client.force_login(nurse)
    base = {"pull_test": "negative", "pull_test_hairs": "2", "hgq_growth": "1",
            "notes": "Scalp calm."}  # fmt: skip
    response = client.post(page_url(patient, visit), {**base, "reason": "no change at all"})
    assert response.status_code == 400
    assert "Nothing changed" in response.content.decode()
    response = client.post(page_url(patient, visit), {**base, "notes": "Scalp red."})
    assert response.status_code == 400
    assert response.context["form"].errors["reason"]
    visit.refresh_from_db()
    assert visit.notes == "Scalp calm."


def test_who_may_correct_a_visit(client, visit, patient, clinic_a, clinic_b, make_user):
    for role in (Role.FRONT_DESK, Role.RESEARCHER, Role.QUALITY):
        client.force_login(make_user(role, clinic_a, username=f"u-{role.value}"))
        assert client.get(page_url(patient, visit)).status_code == 403
    client.force_login(make_user(Role.CLINICIAN, clinic_b, username="elsewhere"))
    assert client.get(page_url(patient, visit)).status_code == 404
    doctor = make_user(Role.CLINICIAN, clinic_a, username="doc")
    client.force_login(doctor)
    page = client.get(f"/monitoring/{patient.pk}/visits/{visit.pk}/").content.decode()
    assert page_url(patient, visit) in page


def test_the_api_corrects_a_visit_with_a_reason(client, visit, patient, nurse, clinic_a, api_token):
    headers = {"Authorization": f"Bearer {api_token(nurse, clinic_a)}"}
    url = f"/api/v1/monitoring/patients/{patient.pk}/visits/{visit.pk}"

    def patch(body):
        return client.patch(url, body, content_type="application/json", headers=headers)

    response = patch({"hgq_growth": None, "notes": "Scalp calm; mild itch.",
                      "change_reason": "patient corrected the answer"})  # fmt: skip
    assert response.status_code == 200, response.content
    assert response.json()["notes"] == "Scalp calm; mild itch."
    visit.refresh_from_db()
    assert visit.hgq_growth is None and visit.pull_test_hairs == 2
    assert patch({"notes": "x"}).status_code in (400, 422)  # no reason
    refused = patch({"change_reason": "nothing sent"})
    assert refused.status_code == 400 and "Nothing to correct" in refused.json()["detail"]
    wrong = patch({"pull_test_hairs": 30, "change_reason": "counted again"})
    assert wrong.status_code == 400 and "pull_test_hairs" in wrong.json()["detail"]
    assert Visit.objects.get(pk=visit.pk).pull_test_hairs == 2


@pytest.fixture
def measured(patient, nurse):
    visit = services.record_visit(
        patient,
        nurse,
        {
            "visit_date": date.today() - timedelta(days=2),
            "target_area_cm2": 1,
            "density_per_cm2": 0,
            "mean_diameter_um": 61,
        },
    )
    return visit.measurements.get()


def measurement_url(patient, m):
    return f"/monitoring/{patient.pk}/measurements/{m.pk}/correct/"


def test_a_nurse_corrects_a_density_typed_in_error_and_the_history_keeps_it(
    client, measured, patient, nurse
):
    client.force_login(nurse)
    page = client.get(f"/monitoring/{patient.pk}/visits/{measured.visit_id}/").content.decode()
    assert measurement_url(patient, measured) in page
    found = re.findall(
        r'name="(opened-[a-z_0-9]+)" value="([^"]*)"',
        client.get(measurement_url(patient, measured)).content.decode(),
    )
    post = {
        "target_area_cm2": "1.0",
        "hair_count": "",
        "density_per_cm2": "162",
        "mean_diameter_um": "61.0",
        "terminal_pct": "",
        "vellus_pct": "",
        "anagen_pct": "",
        "reason": "density typed as 0",
        **{name: unescape(value) for name, value in found},
    }
    response = client.post(measurement_url(patient, measured), post)
    assert response.status_code == 302, response.content.decode()[:2000]
    measured.refresh_from_db()
    assert (measured.density_per_cm2, measured.mean_diameter_um) == (162, 61)
    newest, before = measured.history.order_by("-history_date", "-history_id")[:2]
    assert newest.history_change_reason == "corrected: density typed as 0"
    assert before.density_per_cm2 == 0


def test_a_measurement_correction_is_checked_and_a_refusal_changes_nothing(measured, nurse):
    with pytest.raises(services.MonitoringError) as info:
        services.correct_measurement(measured, nurse, {"mean_diameter_um": 900}, "diameter typo")
    assert "mean_diameter_um" in info.value.errors
    with pytest.raises(services.MonitoringError) as info:
        services.correct_measurement(measured, nurse, {"density_per_cm2": 150}, "no")
    assert "reason" in info.value.errors
    # Left-out fields keep their values; the count must still agree with the density.
    with pytest.raises(services.MonitoringError) as info:
        services.correct_measurement(measured, nurse, {"hair_count": 40}, "count was missing")
    assert "density_per_cm2" in info.value.errors
    measured.refresh_from_db()
    assert (measured.density_per_cm2, measured.hair_count) == (0, None)


def test_a_density_worked_out_from_the_count_follows_the_corrected_count(client, patient, nurse):
    """Only the count changed, the density (count ÷ area, never typed) was refused as no
    longer count ÷ area (review); it now follows the count, in the page and the service."""
    visit = services.record_visit(
        patient, nurse,
        {"visit_date": date.today() - timedelta(days=2), "target_area_cm2": 0.5, "hair_count": 90},
    )  # fmt: skip
    m = visit.measurements.get()
    assert m.density_per_cm2 == 180
    client.force_login(nurse)
    form = client.get(measurement_url(patient, m)).content.decode()
    found = re.findall(r'name="(opened-[a-z_0-9]+)" value="([^"]*)"', form)
    shown = dict(re.findall(r'name="([a-z_0-9]+)"[^>]*value="([^"]*)"', form))
    post = {**shown, **{n: unescape(v) for n, v in found}}
    post.update({"hair_count": "95", "reason": "count typed 90"})
    response = client.post(measurement_url(patient, m), post)
    assert response.status_code == 302, response.content.decode()[:3000]
    m.refresh_from_db()
    assert (m.hair_count, m.density_per_cm2) == (95, 190)
    # A density the person types with it is checked against the count as before.
    with pytest.raises(services.MonitoringError) as info:
        services.correct_measurement(
            m, nurse, {"hair_count": 100, "density_per_cm2": 150}, "typo in count"
        )
    assert "density_per_cm2" in info.value.errors


def test_an_image_analysis_measurement_is_corrected_on_its_analysis(measured, nurse):
    from anagen.monitoring.models import Measurement

    Measurement.objects.filter(pk=measured.pk).update(source=Measurement.Source.IMAGING)
    measured.refresh_from_db()
    with pytest.raises(services.MonitoringError, match="image analysis"):
        services.correct_measurement(measured, nurse, {"density_per_cm2": 150}, "wrong density")


def test_who_may_correct_a_measurement(client, measured, patient, clinic_a, clinic_b, make_user):
    client.force_login(make_user(Role.FRONT_DESK, clinic_a, username="desk"))
    assert client.get(measurement_url(patient, measured)).status_code == 403
    client.force_login(make_user(Role.CLINICIAN, clinic_b, username="elsewhere"))
    assert client.get(measurement_url(patient, measured)).status_code == 404


def test_the_api_corrects_a_manual_measurement(
    client, measured, patient, nurse, clinic_a, api_token
):
    headers = {"Authorization": f"Bearer {api_token(nurse, clinic_a)}"}
    url = f"/api/v1/monitoring/patients/{patient.pk}/measurements/{measured.pk}"

    def patch(body):
        return client.patch(url, body, content_type="application/json", headers=headers)

    response = patch({"density_per_cm2": 158.5, "change_reason": "density typed as 0"})
    assert response.status_code == 200, response.content
    assert response.json()["density_per_cm2"] == 158.5
    assert response.json()["mean_diameter_um"] == 61  # left out: kept
    assert patch({"density_per_cm2": 1}).status_code in (400, 422)  # no reason
    bad = patch({"mean_diameter_um": 900, "change_reason": "diameter typo"})
    assert bad.status_code == 400 and "mean_diameter_um" in bad.json()["detail"]
    measured.refresh_from_db()
    assert (measured.density_per_cm2, measured.mean_diameter_um) == (158.5, 61)


def _measurement_card(html: str) -> str:
    card = re.search(r'<section class="card" id="measurements".*?</section>', html, re.S)
    assert card, html[:2000]
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", card.group(0))))


def test_a_voided_visit_page_neither_calls_its_measurement_used_nor_offers_a_correction(
    client, measured, patient, nurse, clinic_a, make_user
):
    # A second manual reading: with two, the page labels the one the change uses.
    services.add_measurement(measured.visit, nurse, {"target_area_cm2": 1, "density_per_cm2": 150})
    url = f"/monitoring/{patient.pk}/visits/{measured.visit_id}/"
    client.force_login(nurse)
    before = client.get(url).content.decode()
    assert "used for the change from baseline" in _measurement_card(before)
    assert measurement_url(patient, measured) in before

    clinician = make_user(Role.CLINICIAN, clinic_a, username="vera")
    services.void_record(measured.visit, clinician, "visit of another patient")
    page = client.get(url).content.decode()
    card = _measurement_card(page)
    # Still shown for the record, but counted nowhere and closed to corrections, and why.
    assert "150.0 /cm²" in card
    assert "used for the change from baseline" not in card
    assert "use the manual measurement" not in card
    assert "/measurements/" not in re.search(r'id="measurements".*?</section>', page, re.S)[0]
    assert "Correct this measurement" not in page
    assert (
        "This visit is voided: its measurements are kept for the record; they count in no "
        "change from baseline and can no longer be corrected." in card
    )
    # The address typed by hand says the same, and changes nothing.
    response = client.get(measurement_url(patient, measured), follow=True)
    assert "This visit is voided: its measurements are kept" in unescape(response.content.decode())


@pytest.mark.parametrize(
    "change", [{"hair_count": 160}, {"mean_diameter_um": 62}, {"terminal_pct": 80}]
)
def test_correcting_a_count_taken_without_an_area_gives_it_no_density(patient, nurse, change):
    """The area was not given (stored as the default 1 cm², not measured): a correction of
    the count or of another value must not turn the count into a density per 1 cm²."""
    visit = services.record_visit(
        patient, nurse, {"visit_date": date.today() - timedelta(days=2), "hair_count": 152}
    )
    m = visit.measurements.get()
    services.correct_measurement(m, nurse, change, "typed in error")
    m.refresh_from_db()
    assert m.density_per_cm2 is None
    # The area given with the correction is measured: the density is worked out from it.
    services.correct_measurement(m, nurse, {"target_area_cm2": 0.5}, "area was measured")
    m.refresh_from_db()
    assert m.density_per_cm2 == m.hair_count / 0.5


def test_a_count_entered_without_an_area_is_not_given_an_area_anywhere(patient, nurse, client):
    """The area left out was stored as 1 cm², exported as a measured "Target area" and
    taken by the outcomes as a second area size beside the baseline's measured one."""
    from anagen.interop import fhir_export
    from anagen.outcomes import selectors as outcomes

    services.record_visit(
        patient, nurse,
        {"visit_date": date.today() - timedelta(days=90), "is_baseline": True,
         "hair_count": 200, "target_area_cm2": 2.0},
    )  # fmt: skip
    later = services.record_visit(
        patient, nurse, {"visit_date": date.today() - timedelta(days=2), "hair_count": 150}
    )
    m = later.measurements.get()
    assert m.target_area_cm2 is None and m.density_per_cm2 is None
    bundle = fhir_export.patient_bundle_dict(patient)
    areas = [
        e["resource"]["valueQuantity"]["value"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "Observation"
        and e["resource"]["code"]["coding"][0]["code"] == "target_area_cm2"
    ]
    assert areas == [2.0]  # the baseline's measured area only
    progress = outcomes.patient_progress(patient, with_forecast=False)
    assert progress.count_areas == [2.0]
    assert not any("1 cm²" in msg for msg in progress.messages)
    # Counts over a measured and an unknown area are not compared.
    assert progress.rows[-1].cells["hair_count"].change is None
    client.force_login(nurse)
    page = client.get(f"/monitoring/{patient.pk}/visits/{later.pk}/").content.decode()
    assert "<dt>Target area</dt><dd>not given</dd>" in page


def test_the_migration_blanks_only_areas_that_were_the_default_of_a_count(patient, nurse):
    from importlib import import_module

    from django.apps import apps

    from anagen.monitoring.models import Measurement

    migration = import_module("anagen.monitoring.migrations.0009_measurement_area_not_given")
    day = date.today() - timedelta(days=30)
    rows = {}
    for i, values in enumerate(
        (
            {"hair_count": 152},  # count without an area: the old 1 cm² default
            {"hair_count": 152, "target_area_cm2": 1.0},  # measured 1 cm², density derived
            {"density_per_cm2": 150},  # no count: cannot be told apart, kept
        )
    ):
        v = services.record_visit(patient, nurse, {"visit_date": day + timedelta(days=i), **values})
        rows[i] = v.measurements.get()
    Measurement.objects.filter(target_area_cm2__isnull=True).update(target_area_cm2=1.0)
    migration.blank_defaulted_areas(apps, None)
    areas = [Measurement.objects.get(pk=rows[i].pk).target_area_cm2 for i in range(3)]
    assert areas == [None, 1.0, 1.0]
