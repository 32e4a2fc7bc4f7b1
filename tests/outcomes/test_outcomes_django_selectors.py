"""Outcomes selectors on a real database: cohort tables, filters, statistics, progress."""

from __future__ import annotations

import re
from datetime import date, timedelta

import numpy as np
import pytest

from anagen.interop.analysis import pseudonym
from anagen.monitoring.models import Measurement, Visit
from anagen.monitoring.services import add_measurement
from anagen.outcomes import cohort, selectors
from anagen.outcomes.stats import clopper_pearson
from anagen.treatments.models import TreatmentSession

pytestmark = pytest.mark.django_db


def analyse(clinic, deidentified=False, **filters):
    options = filters.pop("options", cohort.CohortOptions())
    return selectors.cohort_analysis(
        clinic, cohort.CohortFilters(**filters), options, deidentified=deidentified
    )


def test_cohort_analysis_on_a_simulated_cohort_gives_every_result(clinic_a, sim_cohort):
    view = analyse(clinic_a)
    r = view.result
    assert r.n_patients == 80
    assert 60 <= r.n_analysed <= 80
    assert set(r.arms) <= {"exosome", "prp", "minoxidil", "exosome+minoxidil", "none"}
    assert r.reference_arm == "none"
    for key in ("by_visit", "responders", "ancova", "mmrm"):
        s = r.sections[key]
        assert s.ok, (key, s.message)
        assert s.missing_data, key  # every result states its missing-data handling
    # The table equals a direct computation from the database (observed cases).
    row = next(
        x for x in r.sections["by_visit"].data["rows"] if x["arm"] == "prp" and x["week"] == 12
    )
    changes = []
    for pid in set(
        TreatmentSession.objects.filter(modality="prp").values_list("patient_id", flat=True)
    ):
        if TreatmentSession.objects.filter(patient_id=pid).exclude(modality="prp").exists():
            continue
        visits = list(Visit.objects.filter(patient_id=pid).order_by("visit_date"))
        base = next(v for v in visits if v.is_baseline)
        b = Measurement.objects.get(visit=base).density_per_cm2
        for v in visits:
            days = (v.visit_date - base.visit_date).days
            if abs(days - 84) <= 21 and not v.is_baseline:
                m = Measurement.objects.get(visit=v).density_per_cm2
                if m is not None and b is not None:
                    changes.append(m - b)
    assert row["n"] == len(changes)
    assert row["mean"] == pytest.approx(np.mean(changes))
    assert r.sections["mmrm"].data["df_method"].startswith("Kenward-Roger")
    json_ready = view.to_dict()
    assert json_ready["sections"]["mmrm"]["ok"] is True


@pytest.mark.parametrize(
    ("filters", "check"),
    [
        ({"sex": "female"}, lambda a: set(a["sex"]) == {"female"}),
        ({"modalities": ("exosome",)}, lambda a: all("exosome" in x for x in a["arm"])),
        ({"combination": "exosome+minoxidil"}, lambda a: set(a["arm"]) == {"exosome+minoxidil"}),
        # A bare "III" pooled Norwood III men with Ludwig III women (review).
        (
            {"stage": "Norwood–Hamilton III"},
            lambda a: set(a["stage"]) == {"Norwood–Hamilton III"} and set(a["sex"]) == {"male"},
        ),
        (
            {"stage": "Ludwig III"},
            lambda a: set(a["stage"]) == {"Ludwig III"} and set(a["sex"]) == {"female"},
        ),
        ({"diagnosis": "aga_female"}, lambda a: set(a["diagnosis"]) == {"aga_female"}),
        ({"age_band": "40-49"}, lambda a: set(a["age_band"]) == {"40-49"}),
        ({"protocol": "prp_standard"}, lambda a: all("prp" in x for x in a["arm"])),
    ],
)
def test_filters_select_the_right_patients(clinic_a, sim_cohort, filters, check):
    tables = selectors.analysis_tables(clinic_a)
    selected = cohort.apply_filters(
        tables.attributes, cohort.CohortFilters(**filters), tables.memberships
    )
    assert 0 < len(selected) < 80
    assert check(selected)
    view = analyse(clinic_a, **filters)
    assert view.result.n_patients == len(selected)


def test_product_and_lot_filters_and_ae_incidence_use_exact_intervals(clinic_a, sim_cohort):
    from anagen.products.models import Lot

    lot = Lot.objects.get(clinic=clinic_a)
    tables = selectors.analysis_tables(clinic_a)
    by_lot = cohort.apply_filters(
        tables.attributes, cohort.CohortFilters(lot=str(lot.pk)), tables.memberships
    )
    by_product = cohort.apply_filters(
        tables.attributes, cohort.CohortFilters(product=str(lot.product_id)), tables.memberships
    )
    assert len(by_lot) == len(by_product) > 0
    assert all("exosome" in a for a in by_lot["arm"])
    view = analyse(clinic_a)
    modality, product, lot_section = view.ae_sections
    assert modality.ok and product.ok and lot_section.ok
    assert modality.missing_data and "attributed" in modality.missing_data
    for r in modality.data["rows"]:
        ci = clopper_pearson(r["sessions_with_event"], r["sessions"])
        assert r["lower"] == pytest.approx(100 * ci.lower)
        assert r["upper"] == pytest.approx(100 * ci.upper)
    assert lot_section.data["rows"][0]["group"] == "SIM-LOT-1"
    n_exo = TreatmentSession.objects.filter(clinic=clinic_a, modality="exosome").count()
    assert lot_section.data["rows"][0]["sessions"] == n_exo


def test_researcher_listing_is_de_identified(clinic_a, sim_cohort):
    view = analyse(clinic_a, deidentified=True)
    assert len(view.roster) == 80
    listing = list(selectors.listing_page(clinic_a, view, 1, per_page=100))
    assert len(listing) == 80
    for item in listing:
        assert set(item) == {
            "study_id", "sex", "age_band", "arm", "diagnosis", "stage", "weeks",
            "sex_label", "arm_label", "diagnosis_label",  # the same in words
        }  # fmt: skip
        assert re.fullmatch(r"[0-9a-f]{16}", item["study_id"])
    clinician_view = analyse(clinic_a, deidentified=False)
    clinician_listing = list(selectors.listing_page(clinic_a, clinician_view, 1, per_page=100))
    assert {"name", "mrn", "patient_id"} <= set(clinician_listing[0])
    assert all(item["name"] and item["mrn"] for item in clinician_listing)
    ids = [x["study_id"] for x in listing]
    assert len(set(ids)) == len(ids)
    # The export's pseudo_id of the same patients: one pseudonym, so rows can be matched.
    exported = {pseudonym(clinic_a.pk, x["patient_id"]) for x in clinician_listing}
    assert set(ids) == exported
    assert selectors.pseudonym(clinic_a.pk, 1) == selectors.pseudonym(clinic_a.pk, 1)
    assert selectors.pseudonym(clinic_a.pk, 1) != selectors.pseudonym(clinic_a.pk + 1, 1)


def test_the_listing_pages_through_every_selected_patient_once(clinic_a, sim_cohort):
    """It showed the first 50 and said how many more there were, with no way to see them."""
    view = analyse(clinic_a, deidentified=False)
    pages = [selectors.listing_page(clinic_a, view, n, per_page=30) for n in (1, 2, 3)]
    assert [len(p) for p in pages] == [30, 30, 20]
    ids = [item["patient_id"] for p in pages for item in p]
    assert sorted(ids) == sorted(int(x) for x in view.roster["patient_id"])
    # Weeks with a value: those of the long table, per patient.
    first = pages[0][0]
    assert first["weeks"] == sorted(first["weeks"]) and first["weeks"]
    # A page past the end or one that cannot be read: the last or the first page.
    assert selectors.listing_page(clinic_a, view, 9, per_page=30).number == 3
    assert selectors.listing_page(clinic_a, view, "x", per_page=30).number == 1


def test_cohort_is_scoped_to_the_clinic(clinic_a, clinic_b, sim_cohort, make_user):
    from anagen.accounts.roles import Role
    from anagen.outcomes.demo import load_simulated_cohort

    other = make_user(Role.CLINICIAN, clinic_b, username="other-clin")
    load_simulated_cohort(clinic_b, other, 10, seed=9, mrn_prefix="OTHER")
    assert analyse(clinic_a).result.n_patients == 80
    assert analyse(clinic_b).result.n_patients == 10


def test_measurement_choice_baseline_and_unscheduled_visits(
    clinic_a, clinician, make_patient, record_visit
):
    p = make_patient(clinic_a, clinician)
    base = record_visit(p, clinician, 0, baseline=True, density_per_cm2=100.0)
    v4 = record_visit(p, clinician, 30, density_per_cm2=110.0)
    # An image-analysis reading never overrides a manual one at the same visit.
    add_measurement(v4, clinician, {"density_per_cm2": 500.0}, source="imaging")
    record_visit(p, clinician, 60, density_per_cm2=140.0)  # week 8 window
    record_visit(p, clinician, 7, density_per_cm2=999.0)  # day 7: before the week-4 window
    tables = selectors.analysis_tables(clinic_a)
    long = cohort.build_long(tables.visits, tables.measurements, "density_per_cm2")
    rows = long.rows.sort_values("week")
    assert rows["week"].tolist() == [4.0, 8.0]
    assert rows["change"].tolist() == [10.0, 40.0]
    assert long.n_unscheduled_visits == 1
    assert long.baselines["baseline"].tolist() == [100.0]
    assert base.is_baseline


def test_the_analysis_tables_carry_each_counts_target_area(
    clinic_a, clinician, make_patient, record_visit
):
    p = make_patient(clinic_a, clinician)
    record_visit(p, clinician, 0, baseline=True, hair_count=106, density_per_cm2=106.0)
    record_visit(p, clinician, 30, hair_count=58, density_per_cm2=116.0, target_area_cm2=0.5)
    tables = selectors.analysis_tables(clinic_a)
    long = cohort.build_long(tables.visits, tables.measurements, "hair_count")
    assert np.isnan(long.rows["change"].iloc[0]) and long.area_mismatch_ids.tolist() == [p.pk]


def test_patient_progress_changes_photos_and_forecast(
    clinic_a, clinician, make_patient, record_visit
):
    from anagen.assessment.models import Diagnosis

    p = make_patient(clinic_a, clinician, sex_at_birth="male")
    Diagnosis.objects.create(
        clinic=clinic_a, patient=p, diagnosed_on="2025-01-01", diagnosed_by=clinician,
        condition="aga_male", label="AGA", stage="III",
    )  # fmt: skip
    record_visit(
        p, clinician, 0, baseline=True, density_per_cm2=120.0, mean_diameter_um=60.0,
        hair_count=120, photos=[("vertex", (200, 100, 100)), ("frontal", (10, 10, 10))],
    )  # fmt: skip
    v2 = record_visit(
        p, clinician, 84, density_per_cm2=132.0, mean_diameter_um=63.0, hair_count=130,
        global_assessment=1, hgq_growth=2, hgq_satisfaction=1,
        photos=[("vertex", (100, 200, 100))],
    )  # fmt: skip
    prog = selectors.patient_progress(p)
    assert len(prog.rows) == 2
    last = prog.rows[-1]
    assert last.week == 12 and last.study_day == 84
    assert last.cells["density_per_cm2"].change == pytest.approx(12.0)
    assert last.cells["density_per_cm2"].change_pct == pytest.approx(10.0)
    assert last.cells["cumulative_thickness_mm_per_cm2"].change == pytest.approx(
        132 * 63 / 1000 - 120 * 60 / 1000
    )
    assert last.hgq_mean == pytest.approx(1.5) and last.hgq_answered == 2
    assert [pp.view for pp in prog.photo_pairs] == ["vertex"]  # frontal has no later photo
    assert prog.photo_pairs[0].latest_photo_id == v2.photos.get().pk
    assert prog.forecast.ok and prog.forecast.rows
    assert "not a prediction" in prog.forecast.label
    d = prog.to_dict(dates=False)
    assert "visit_date" not in d["rows"][0]


def test_patient_progress_takes_change_within_one_measurement_source(
    clinic_a, clinician, make_patient, record_visit
):
    p = make_patient(clinic_a, clinician)
    record_visit(p, clinician, 0, baseline=True, density_per_cm2=103.0)  # hand count, 1 cm²
    later = record_visit(p, clinician, 28)  # only an engine's 0.18 cm² field
    add_measurement(
        later, clinician, {"density_per_cm2": 65.1, "target_area_cm2": 0.18}, source="imaging"
    )
    both = record_visit(p, clinician, 56, density_per_cm2=110.0)
    add_measurement(both, clinician, {"density_per_cm2": 500.0}, source="imaging")
    prog = selectors.patient_progress(p, with_forecast=False)
    week4, week8 = (r.cells["density_per_cm2"] for r in prog.rows[1:])
    assert (week4.value, week4.change, week4.change_pct) == (65.1, None, None)
    assert (week8.value, week8.change) == (110.0, 7.0)  # manual against manual
    assert any("baseline visit has no value by image analysis" in m for m in prog.messages)


def test_cached_results_follow_every_change_of_the_data(
    clinic_a, clinician, make_patient, record_visit
):
    from anagen.monitoring.services import void_record

    a = make_patient(clinic_a, clinician)
    b = make_patient(clinic_a, clinician)
    for p, later in ((a, 110.0), (b, 130.0)):
        record_visit(p, clinician, 0, baseline=True, density_per_cm2=100.0)
        record_visit(p, clinician, 84, density_per_cm2=later)

    def mean_week_12():
        rows = analyse(clinic_a).result.sections["by_visit"].data["rows"]
        return next(r["mean"] for r in rows if r["week"] == 12)

    assert mean_week_12() == pytest.approx(20.0)
    assert mean_week_12() == pytest.approx(20.0)  # served from the cache
    # A new visit (new id) and a voided measurement (history entry) both give new numbers.
    c = make_patient(clinic_a, clinician)
    record_visit(c, clinician, 0, baseline=True, density_per_cm2=100.0)
    record_visit(c, clinician, 84, density_per_cm2=160.0)
    assert mean_week_12() == pytest.approx(100 / 3)
    m = Measurement.objects.get(visit__patient=c, visit__is_baseline=False)
    void_record(m, clinician, "entered on the wrong patient")
    assert mean_week_12() == pytest.approx(20.0)


def test_a_patient_whose_baseline_follows_the_first_session_is_flagged_and_not_compared(
    clinic_a, clinician, sim_cohort
):
    from anagen.monitoring.services import void_record
    from anagen.patients.models import Patient

    treated = TreatmentSession.objects.filter(clinic=clinic_a).values_list("patient_id", flat=True)
    patient = Patient.objects.filter(pk__in=treated).order_by("pk").first()
    options = cohort.CohortOptions()

    def analysed() -> set[int]:
        tables = selectors.analysis_tables(clinic_a, use_cache=False)
        courses = cohort.treatment_courses(tables.sessions)
        long = cohort.build_long(tables.visits, tables.measurements, options.outcome, courses)
        return set(long.rows["patient_id"].tolist())

    assert patient.pk in analysed()
    assert not any("after the first treatment" in m for m in selectors.patient_progress(
        patient, with_forecast=False).messages)  # fmt: skip
    # Voiding the baseline makes the week-4 visit, after treatment began, the earliest one.
    baseline = Visit.objects.get(patient=patient, is_baseline=True)
    void_record(baseline, clinician, "entered on the wrong patient")
    assert patient.pk not in analysed()
    messages = selectors.patient_progress(patient, with_forecast=False).messages
    assert any("came after the first treatment session" in m for m in messages)
    view = selectors.cohort_analysis(
        clinic_a, cohort.CohortFilters(), options, deidentified=False, use_cache=False
    )
    assert any("1 patient not analysed: the baseline visit came after" in n
               for n in view.result.notes)  # fmt: skip


def test_an_event_naming_a_lot_on_a_day_with_two_sessions_is_charged_to_that_lots_session(
    clinic_a, clinician, make_patient
):
    from ..reports.factory import course

    patient = make_patient(clinic_a, clinician)
    data = course(patient, clinician, photos=False)  # its event names session 2 and its lot
    exosome = data["sessions"][1]
    # A minoxidil course begun the same day, recorded after the exosome session.
    TreatmentSession.objects.create(
        clinic=clinic_a, patient=patient, plan=data["plan"], modality="minoxidil",
        performed_on=exosome.performed_on, clinician=clinician,
    )  # fmt: skip
    events = selectors.analysis_tables(clinic_a, use_cache=False).events
    assert events["related_lot"].tolist() == [str(data["lot"].pk)]
    modality, product, lot = analyse(clinic_a).ae_sections

    def with_event(section):
        return {r["group"]: (r["sessions_with_event"], r["sessions"]) for r in section.data["rows"]}

    assert with_event(modality) == {
        "Exosome / EV injections": (1, 3), "Topical minoxidil": (0, 1),
    }  # fmt: skip
    assert with_event(lot) == {data["lot"].lot_number: (1, 3)}


def test_a_session_that_used_two_lots_keeps_both_and_a_shared_lot_number_stays_matched(
    clinic_a, clinician, make_patient
):
    from decimal import Decimal

    from django.utils import timezone

    from anagen.products.models import Lot, Product, VialDraw

    from ..reports.factory import course

    patient = make_patient(clinic_a, clinician)
    data = course(patient, clinician, photos=False)  # its event names session 2 and its lot
    first_lot, session = data["lot"], data["sessions"][1]
    second_lot = Lot.objects.get(pk=first_lot.pk)
    second_lot.pk, second_lot.lot_number = None, "EXO-2402"
    second_lot.save()
    VialDraw.objects.create(
        clinic=clinic_a, lot=second_lot, patient=patient, quantity=1,
        dose_volume_ml=Decimal("2.5"), drawn_on=session.performed_on, drawn_at=timezone.now(),
        drawn_by=clinician, session_ref=f"session:{session.pk}",
    )  # fmt: skip
    # Another product's lot with the first lot's number, never given to this patient.
    other = Product.objects.get(pk=first_lot.product_id)
    other.pk, other.name = None, "Other exosome product"
    other.save()
    twin = Lot.objects.get(pk=first_lot.pk)
    twin.pk, twin.product = None, other
    twin.save()
    tables = selectors.analysis_tables(clinic_a, use_cache=False)
    lots_of = tables.sessions.groupby("session_id")["lot"].agg(sorted)
    assert lots_of[session.pk] == sorted([str(first_lot.pk), str(second_lot.pk)])
    assert tables.events["related_lot"].tolist() == [str(first_lot.pk)]
    modality, product, lot = analyse(clinic_a).ae_sections

    def with_event(section):
        return {r["group"]: (r["sessions_with_event"], r["sessions"]) for r in section.data["rows"]}

    assert with_event(modality) == {"Exosome / EV injections": (1, 3)}
    assert with_event(lot) == {"EXO-2401": (1, 3), "EXO-2402": (0, 1)}


def test_a_stopped_treatment_is_said_above_the_forecast(
    clinic_a, clinician, make_patient, record_visit
):
    """The forecast went on showing the course after the clinician had stopped it."""
    from anagen.monitoring.services import record_decision

    p = make_patient(clinic_a, clinician, sex_at_birth="male")
    record_visit(p, clinician, 0, baseline=True, density_per_cm2=120.0)
    later = record_visit(p, clinician, 84, density_per_cm2=121.0)
    assert not any("stopped" in m for m in selectors.patient_progress(p).messages)
    record_decision(
        later, clinician, decided="stop_non_response", sessions_done=3, sessions_planned=3,
        rationale="No change after the planned course.",
    )  # fmt: skip
    messages = selectors.patient_progress(p).messages
    assert any(
        m.startswith(f"Treatment was stopped at the visit of {later.visit_date} (“Stop (non-")
        for m in messages
    )
    stopped = next(m for m in messages if m.startswith("Treatment was stopped"))
    assert "the forecast below" in stopped
    # Without a forecast (the progress PDF) the message does not point at one.
    without = selectors.patient_progress(p, with_forecast=False).messages
    stopped = next(m for m in without if m.startswith("Treatment was stopped"))
    assert "forecast" not in stopped and stopped.endswith("”).")


def test_the_age_band_counts_completed_years_as_the_export_does(
    clinic_a, clinician, make_patient, record_visit
):
    """Age in completed years on the first visit's date, not days / 365.25: 30 years from
    1996-03-01 hold 7 leap days, so on the 30th birthday days / 365.25 was 29.999 and the
    cohort's age filter put a 30-year-old under <30 while the export said 30-39."""
    from anagen.interop.analysis import analysis_rows

    p = make_patient(clinic_a, clinician, date_of_birth=date(1996, 3, 1))
    first = date(2026, 3, 1)  # the 30th birthday
    start = date(2025, 1, 6)  # day 0 of the record_visit fixture (conftest.START)
    visit = record_visit(p, clinician, (first - start).days, baseline=True, density_per_cm2=100.0)
    assert visit.visit_date == first
    tables = selectors.analysis_tables(clinic_a, use_cache=False)
    band = tables.attributes.set_index("patient_id").loc[p.pk, "age_band"]
    assert band == "30-39"
    assert {r["age_band"] for r in analysis_rows(clinic_a)} == {"30-39"}
    thirties = cohort.apply_filters(tables.attributes, cohort.CohortFilters(age_band="30-39"))
    assert thirties["patient_id"].tolist() == [p.pk]


def test_the_age_band_is_taken_at_the_baseline_visit_not_an_earlier_consultation(
    clinic_a, clinician, make_patient, record_visit
):
    """A consultation visit before the 30th birthday and the baseline after it: the cohort
    took the first visit (<30), the export the baseline (30-39)."""
    from anagen.interop.analysis import analysis_rows

    p = make_patient(clinic_a, clinician, date_of_birth=date(1996, 3, 1))
    start = date(2025, 1, 6)  # day 0 of the record_visit fixture (conftest.START)
    record_visit(p, clinician, (date(2026, 2, 20) - start).days, density_per_cm2=100.0)
    record_visit(
        p, clinician, (date(2026, 3, 5) - start).days, baseline=True, density_per_cm2=101.0
    )
    tables = selectors.analysis_tables(clinic_a, use_cache=False)
    assert tables.attributes.set_index("patient_id").loc[p.pk, "age_band"] == "30-39"
    assert {r["age_band"] for r in analysis_rows(clinic_a)} == {"30-39"}


def _imaged_visit(patient, user, day: int, site: str, density: float, *, baseline=False):
    """A visit measured only by the image analysis of a trichoscopy photo of ``site``."""
    from anagen.imaging.models import PhotoAnalysis
    from anagen.monitoring import services as monitoring_services

    from .conftest import START, jpeg

    image = jpeg((90, 60, 40 + day % 200), size=(320, 240))  # one image per visit
    upload = monitoring_services.PhotoUpload(image, "trichoscopy", "", site)
    visit = monitoring_services.record_visit(
        patient, user,
        {"visit_date": START + timedelta(days=day), "is_baseline": baseline},
        photos=[upload],
    )  # fmt: skip
    m = add_measurement(
        visit, user, {"density_per_cm2": density, "target_area_cm2": 0.18}, source="imaging"
    )
    # The upload queued the photo's analysis; it is taken as done and measuring the visit.
    PhotoAnalysis.objects.update_or_create(
        photo=visit.photos.get(),
        defaults={"clinic": patient.clinic, "patient": patient, "status": "done",
                  "um_per_px": 4.0, "measurement": m, "requested_by": user},
    )  # fmt: skip
    return visit


def test_patient_progress_does_not_compare_image_analyses_of_different_marked_sites(
    clinic_a, clinician, make_patient
):
    p = make_patient(clinic_a, clinician)
    _imaged_visit(p, clinician, 0, "Vertex tattoo", 150.0, baseline=True)
    _imaged_visit(p, clinician, 28, "vertex  TATTOO", 160.0)  # the same site, typed otherwise
    _imaged_visit(p, clinician, 56, "Frontal hairline", 90.0)  # another site
    prog = selectors.patient_progress(p, with_forecast=False)
    same, other = (r.cells["density_per_cm2"] for r in prog.rows[1:])
    assert (same.value, same.change) == (160.0, 10.0)
    assert (other.value, other.change, other.change_pct) == (90.0, None, None)
    assert any("frontal hairline" in m and "vertex tattoo" in m for m in prog.messages)


def test_the_cohort_does_not_compare_image_analyses_of_different_marked_sites(
    clinic_a, clinician, make_patient
):
    p = make_patient(clinic_a, clinician)
    _imaged_visit(p, clinician, 0, "Vertex tattoo", 150.0, baseline=True)
    _imaged_visit(p, clinician, 28, "vertex  TATTOO", 160.0)  # week 4, the same site
    _imaged_visit(p, clinician, 56, "Frontal hairline", 90.0)  # week 8, another site
    tables = selectors.analysis_tables(clinic_a)
    long = cohort.build_long(tables.visits, tables.measurements, "density_per_cm2")
    rows = long.rows.sort_values("week")
    assert rows["week"].tolist() == [4.0, 8.0]
    assert rows["change"].iloc[0] == 10.0 and np.isnan(rows["change"].iloc[1])
    assert long.site_mismatch_ids.tolist() == [p.pk]
    assert long.source_mismatch_ids.tolist() == []
