from datetime import date, timedelta

import pytest

from anagen.accounts.roles import Role
from anagen.assessment import services as assessment
from anagen.products.models import LotStatus, VialDraw
from anagen.treatments import services
from anagen.treatments.models import InjectionMapEntry, TreatmentSession

from ..races import at_once
from .conftest import make_lot, prepare

MAP = [
    {"zone": "frontal", "points": 40, "volume_ml": 1.0, "spacing_mm": 10},
    {"zone": "vertex", "points": 40, "volume_ml": 1.0},
]


def record(clinic, user, plan, lot, *, quantity=1, entries=MAP, on=None, **data):
    return services.record_session(
        clinic,
        user,
        plan,
        {
            "modality": "exosome",
            "performed_on": on or date.today(),
            "needle_gauge": 30,
            "depth_mm": "1.5",
            **data,
        },
        map_entries=entries,
        vials=[services.VialRequest(lot, quantity)],
    )


def test_a_session_stores_the_map_totals_checklist_and_draws_the_vials(
    clinic_a, clinician, ready, lot
):
    patient, plan = ready
    session = record(clinic_a, clinician, plan, lot)
    assert session.total_points == 80 and float(session.total_volume_ml) == 2.0
    assert {e.zone for e in session.map_entries.all()} == {"frontal", "vertex"}
    assert session.checklist["blocked"] is False
    # Kept as it stood, with the lines the form showed beside it (they were left out).
    lines = {i["key"]: i["message"] for i in session.checklist["items"]}
    assert {"plan", "screening", "consent", "allergies", "lots"} <= set(lines)
    assert lines["lots"].startswith(f"Vials drawn from lot {lot.lot_number}: released")
    lot.refresh_from_db()
    assert lot.quantity_on_hand == 4
    draw = VialDraw.objects.get()
    assert draw.patient == patient and draw.session_ref == f"session:{session.pk}"
    assert session.history.first().history_user == clinician


def test_injecting_more_than_the_vials_hold_needs_a_confirmation_and_keeps_the_warning(
    clinic_a, clinician, ready, lot
):
    """It was saved at once with a warning beside "Session recorded." (a typing slip as often
    as a dilution); now it is refused, naming the volumes, until confirmed."""
    patient, plan = ready
    big = [{"zone": "frontal", "points": 60, "volume_ml": 3.5}]
    with pytest.raises(services.SessionError) as refused:
        record(clinic_a, clinician, plan, lot, entries=big)  # 1 vial = 2.0 mL
    first, how = refused.value.errors["confirm_limits"]
    assert first == (
        "Injected 3.5 mL is more than the 2 mL drawn from the vials; check the map or the "
        "vial record."
    )
    assert "tick the confirmation and save again" in how
    assert not TreatmentSession.objects.filter(patient=patient).exists()
    lot.refresh_from_db()
    assert lot.quantity_on_hand == 5  # no vial drawn for a refused session
    session = record(clinic_a, clinician, plan, lot, entries=big, confirm_limits=True)
    codes = [w["code"] for w in session.limit_warnings]
    assert codes == ["exceeds_vial"]


@pytest.mark.parametrize(
    ("entries", "field"),
    [
        ([{"zone": "frontal", "points": 10, "volume_ml": -1.0}], "map[0].volume_ml"),
        ([{"zone": "nose", "points": 10, "volume_ml": 1.0}], "map[0].zone"),
        ([{"zone": "frontal", "points": -3, "volume_ml": 1.0}], "map[0].points"),
        ([], "map"),
    ],
)
def test_impossible_maps_are_refused_and_nothing_is_stored(
    clinic_a, clinician, ready, lot, entries, field
):
    _, plan = ready
    with pytest.raises(services.SessionError) as exc:
        record(clinic_a, clinician, plan, lot, entries=entries)
    assert field in exc.value.errors
    lot.refresh_from_db()
    assert lot.quantity_on_hand == 5
    assert not TreatmentSession.objects.exists() and not InjectionMapEntry.objects.exists()


@pytest.mark.parametrize(
    ("status", "expiry_days", "message"),
    [
        (LotStatus.QUARANTINED, 100, "not released"),
        (LotStatus.RELEASED, -1, "expired"),
    ],
)
def test_vials_from_an_unusable_lot_roll_back_the_whole_session(
    clinic_a, clinician, ready, status, expiry_days, message
):
    _, plan = ready
    bad = make_lot(
        clinic_a,
        clinician,
        status=status,
        expiry=date.today() + timedelta(days=expiry_days),
        number="BAD",
    )
    with pytest.raises(services.SessionError) as exc:
        record(clinic_a, clinician, plan, bad)
    # Under the row of the lot, so that the API and the page's row show it.
    assert message in " ".join(exc.value.errors["vials[0].lot"]).lower()
    assert "vials" not in exc.value.errors
    assert not TreatmentSession.objects.exists() and not VialDraw.objects.exists()


def test_drawing_more_vials_than_on_hand_is_refused(clinic_a, clinician, ready, lot):
    _, plan = ready
    with pytest.raises(services.SessionError) as exc:
        record(clinic_a, clinician, plan, lot, quantity=6)
    assert "Only 5 vial(s) left" in " ".join(exc.value.errors["vials[0].quantity"])
    assert "vials" not in exc.value.errors
    assert not TreatmentSession.objects.exists()


def test_no_session_without_consent(clinic_a, clinician, make_patient, lot):
    patient = make_patient(clinic_a, clinician, sex_at_birth="male")
    plan = prepare(patient, clinician, consent=False)
    with pytest.raises(services.SessionError) as exc:
        record(clinic_a, clinician, plan, lot)
    assert "consent" in " ".join(exc.value.errors["checklist"]).lower()
    assert not TreatmentSession.objects.exists()


def test_a_treatment_the_plan_lacks_is_said_first_with_the_field_errors(clinic_a, clinician, ready):
    """Not the missing PRP details alone, to be told once they are filled that the plan (an
    exosome plan) does not include PRP."""
    _, plan = ready
    with pytest.raises(services.SessionError) as exc:
        services.record_session(
            clinic_a, clinician, plan, {"modality": "prp", "performed_on": date.today()},
            map_entries=MAP, prp={},
        )  # fmt: skip
    errors = exc.value.errors
    assert list(errors)[0] == "checklist"
    assert "The active plan does not include platelet-rich plasma." in errors["checklist"]
    assert errors["prp.blood_volume_ml"] == ["Enter the blood volume drawn (mL)."]
    assert not TreatmentSession.objects.exists()


def test_a_new_block_since_the_plan_stops_the_session(clinic_a, clinician, ready, lot):
    patient, plan = ready
    assessment.record_history(patient, clinician, {"malignancy": "active"})
    assessment.run_screening(patient, clinician)
    with pytest.raises(services.SessionError) as exc:
        record(clinic_a, clinician, plan, lot)
    # Recording the history screens it at once: the new BLOCK shows before the session.
    assert "BLOCKS exosome / EV injections" in " ".join(exc.value.errors["checklist"])
    assert not TreatmentSession.objects.exists()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"needle_gauge": 7}, "needle_gauge"),
        ({"depth_mm": "-1"}, "depth_mm"),
        ({"on": date.today() + timedelta(days=3)}, "performed_on"),
    ],
)
def test_impossible_session_values_are_field_errors(clinic_a, clinician, ready, lot, change, field):
    _, plan = ready
    with pytest.raises(services.SessionError) as exc:
        record(clinic_a, clinician, plan, lot, **change)
    assert field in exc.value.errors
    assert not TreatmentSession.objects.exists()


def test_post_care_sheet_uses_the_clinics_latest_version(clinic_a, clinician):
    text = services.postcare_text(clinic_a, "exosome")
    assert "Do not wash" in text.body and "default" in text.version and not text.reviewed
    services.save_postcare_template(clinic_a, clinician, "exosome", "Our own text: no washing.")
    services.save_postcare_template(clinic_a, clinician, "exosome", "Version two of our text.")
    text = services.postcare_text(clinic_a, "exosome")
    assert text.body == "Version two of our text." and text.version == "Clinic version 2"
    assert text.reviewed
    with pytest.raises(services.SessionError):
        services.save_postcare_template(clinic_a, clinician, "exosome", "short")


@pytest.mark.django_db(transaction=True)
def test_two_people_saving_the_post_care_text_at_once_make_versions_one_and_two(
    clinic_a, clinician
):
    """On PostgreSQL both took version 1 and the second save failed on the unique version."""
    from anagen.treatments.models import PostCareTemplate

    outcomes = at_once(
        [
            lambda: services.save_postcare_template(
                clinic_a, clinician, "exosome", "First desk: no washing for a day."
            ),
            lambda: services.save_postcare_template(
                clinic_a, clinician, "exosome", "Second desk: no washing for 24 h."
            ),
        ],
        services.SessionError,
    )
    assert outcomes == ["ok", "ok"]
    versions = PostCareTemplate.objects.filter(clinic=clinic_a, modality="exosome")
    assert sorted(versions.values_list("version", flat=True)) == [1, 2]


def test_the_post_care_sheet_gives_the_clinics_phone_or_a_line_to_write_it_in(
    client, clinic_a, clinician, make_user, ready, lot
):
    from anagen.accounts import services as accounts

    session = record(clinic_a, clinician, ready[1], lot)
    client.force_login(make_user(Role.NURSE, clinic_a))
    url = f"/sessions/{session.patient_id}/{session.pk}/post-care/"
    response = client.get(url)
    assert response.status_code == 200
    html = response.content.decode()
    assert "ask the clinic for the number to call" in html
    assert "An administrator can add it under Settings" in html
    accounts.set_contact_phone(make_user(Role.ADMIN, clinic_a), clinic_a, "+44 20 7946 0018")
    html = client.get(url).content.decode()
    assert "Clinic phone: +44 20 7946 0018" in html
    assert "no phone number" not in html


def test_the_printed_sheet_leaves_the_staffs_review_note_off(
    client, clinic_a, clinician, ready, lot
):
    session = record(clinic_a, clinician, ready[1], lot)
    client.force_login(clinician)
    url = f"/sessions/{session.patient_id}/{session.pk}/post-care/"
    html = client.get(url).content.decode()
    printable = html.split('<article class="card printable">')[1].split("</article>")[0]
    assert "not yet reviewed" not in printable  # it was printed on the patient's sheet
    assert 'class="no-print warning" role="status">These are Anagen' in html
    services.save_postcare_template(clinic_a, clinician, "exosome", "Our own text: no washing.")
    # The sheet given with the session stays the default; the clinic's text on request.
    printable = client.get(url + "?text=current").content.decode()
    printable = printable.split('<article class="card printable">')[1]
    assert "Instructions: Clinic version 1." in printable
    assert "These are Anagen" not in client.get(url + "?text=current").content.decode()


def test_the_sheet_reprints_the_text_given_with_the_session_not_a_later_edit(
    client, clinic_a, clinician, ready, lot
):
    """A reviewer: the sheet always printed the clinic's current text, so a reprint after
    an edit gave the patient instructions they never had with that session."""
    services.save_postcare_template(clinic_a, clinician, "exosome", "Version one: no washing.")
    session = record(clinic_a, clinician, ready[1], lot)
    services.save_postcare_template(clinic_a, clinician, "exosome", "Version two: wash gently.")
    client.force_login(clinician)
    url = f"/sessions/{session.patient_id}/{session.pk}/post-care/"

    def printable(html: str) -> str:
        return html.split('<article class="card printable">')[1].split("</article>")[0]

    html = client.get(url).content.decode()
    assert "Version one: no washing." in printable(html)
    assert "Instructions: Clinic version 1." in printable(html)
    assert "the clinic's text has changed since (Clinic version 2)" in html
    html = client.get(url + "?text=current").content.decode()
    assert "Version two: wash gently." in printable(html)
    assert "not the one given with this session (Clinic version 1)" in html
    # The sheet's own text, and a session after the edit gets the new one.
    assert services.session_postcare_text(session).body == "Version one: no washing."
    later = record(clinic_a, clinician, ready[1], lot, confirm_same_day=True)
    assert services.session_postcare_text(later).body == "Version two: wash gently."
    html = client.get(f"/sessions/{later.patient_id}/{later.pk}/post-care/").content.decode()
    assert "has changed since" not in html and "Version two: wash gently." in printable(html)


def test_an_exosome_sheet_prints_the_not_approved_notice_whatever_the_clinics_text(
    client, clinic_a, clinician, ready, lot
):
    """A review saved a post-care text without the notice: the printed sheet lost it."""
    services.save_postcare_template(clinic_a, clinician, "exosome", "Our own text: no washing.")
    session = record(clinic_a, clinician, ready[1], lot)
    client.force_login(clinician)
    html = client.get(f"/sessions/{session.patient_id}/{session.pk}/post-care/").content.decode()
    printable = html.split('<article class="card printable">')[1].split("</article>")[0]
    assert "It is not approved for hair loss in most jurisdictions." in printable
    assert "Our own text: no washing." in printable


def test_a_plan_without_treatment_offers_no_session_form(client, clinic_a, clinician, ready):
    """A referral plan gave "The active plan does not include ." and "OK for ." over a form
    preset to exosome (nurse review)."""
    from anagen.assessment.models import TreatmentPlan

    patient, plan = ready
    TreatmentPlan.objects.filter(pk=plan.pk).update(
        modalities=[], title="Refer to dermatology"
    )  # a referral: no treatment of its own
    client.force_login(clinician)
    page = client.get(f"/sessions/{patient.pk}/new/").content.decode()
    assert "(Refer to dermatology) includes no treatment to record a session of" in page
    assert 'name="performed_on"' not in page and "does not include ." not in page


def test_the_session_gives_the_labelled_particle_dose_of_its_vials(
    client, clinic_a, clinician, ready, lot, api_token
):
    # Two vials of a product labelled 1e10 particles per vial.
    session = record(clinic_a, clinician, ready[1], lot, quantity=2)
    client.force_login(clinician)
    html = client.get(f"/sessions/{session.patient_id}/{session.pk}/").content.decode()
    # Two 2 mL vials drawn, 2 mL injected: the label's count is of what was drawn (a review
    # read 3 vials' count beside 1 mL injected as the dose given).
    said = html.split("Labelled particles in the vials drawn: ")[1].split("</p>")[0]
    assert said.startswith("<strong>2 × 10¹⁰</strong> in 4.00 mL; 2.00 mL injected (part of")
    answer = client.get(
        f"/api/v1/sessions/{session.patient_id}/{session.pk}",
        headers={"Authorization": f"Bearer {api_token(clinician, clinic_a)}"},
    )
    assert answer.status_code == 200, answer.content
    assert answer.json()["vials"][0]["labelled_particles"] == 2e10


def test_nurses_record_but_front_desk_cannot(clinic_a, make_user, client, ready):
    patient, _ = ready
    client.force_login(make_user(Role.FRONT_DESK, clinic_a))
    assert client.get(f"/sessions/{patient.pk}/new/").status_code == 403
    client.force_login(make_user(Role.NURSE, clinic_a))
    assert client.get(f"/sessions/{patient.pk}/new/").status_code == 200


def test_saving_the_current_post_care_text_again_is_an_error_not_a_new_version(clinic_a, clinician):
    services.save_postcare_template(clinic_a, clinician, "exosome", "Our own text: no washing.")
    with pytest.raises(services.SessionError) as exc:
        services.save_postcare_template(
            clinic_a, clinician, "exosome", " Our own text: no washing. "
        )
    assert exc.value.errors == {"body": ["Nothing changed: this is the text of version 1."]}
    assert services.postcare_template(clinic_a, "exosome").version == 1


def test_a_product_component_the_patient_is_allergic_to_refuses_the_session(
    clinic_a, clinician, make_patient, lot
):
    """Screening matched product components only when someone typed them in: a patient with
    a recorded trehalose allergy was injected with a lyophilised product holding trehalose."""
    from anagen.products.models import Product

    Product.objects.filter(pk=lot.product_id).update(components=["Trehalose dihydrate"])
    lot.refresh_from_db()
    patient = make_patient(clinic_a, clinician, sex_at_birth="male")
    plan = prepare(patient, clinician, history={"allergies": ["trehalose", "lidocaine"]})
    with pytest.raises(services.SessionError) as exc:
        record(clinic_a, clinician, plan, lot, anaesthesia="topical lidocaine 5%")
    (product_error,) = exc.value.errors["vials[0].lot"]
    assert "contains Trehalose dihydrate" in product_error
    assert "records an allergy to trehalose" in product_error
    assert "allergy to lidocaine" in exc.value.errors["anaesthesia"][0]
    assert not TreatmentSession.objects.exists() and not VialDraw.objects.exists()
    # Without the allergen (another anaesthetic; no allergy to the product) it is recorded.
    Product.objects.filter(pk=lot.product_id).update(components=["mannitol"])
    lot.refresh_from_db()
    assert record(clinic_a, clinician, plan, lot, anaesthesia="none").pk


def test_the_session_form_shows_the_recorded_allergies(client, clinic_a, clinician, make_patient):
    patient = make_patient(clinic_a, clinician, sex_at_birth="male")
    prepare(patient, clinician, history={"allergies": ["trehalose", "latex"]})
    client.force_login(clinician)
    page = client.get(f"/sessions/{patient.pk}/new/").content.decode()
    assert "Recorded allergies: trehalose, latex." in page
    other = make_patient(clinic_a, clinician, sex_at_birth="male", given_name="Noa")
    prepare(other, clinician)
    assert (
        "No allergies recorded in the medical history."
        in client.get(f"/sessions/{other.pk}/new/").content.decode()
    )


@pytest.mark.parametrize(
    ("allergies", "anaesthesia", "components", "refused"),
    [
        (["none"], "none", ["trehalose"], set()),  # "none" is no allergy, not to "none"
        (["NKDA"], "topical lidocaine 5%", ["trehalose"], set()),
        (["local anaesthetic"], "Ring block, lidocaine 1 %", [], {"anaesthesia"}),
        (["Local anesthetics"], "Local tumescent anaesthesia", [], {"anaesthesia"}),
        (["albumin (anaphylaxis)"], "", ["human serum albumin"], {"vials[0].lot"}),
        (["penicillin"], "topical lidocaine 5%", ["trehalose"], set()),
        (["lidocaine"], "Xylocaine spray", [], {"anaesthesia"}),  # the brand (a review)
        (["lidocaine"], "EMLA cream under occlusion", [], {"anaesthesia"}),
        (["lidocaine"], "Marcaine ring block", [], set()),  # bupivacaine
    ],
)
def test_allergies_are_matched_by_name_class_and_without_the_reaction_noted(
    clinic_a, clinician, make_patient, lot, allergies, anaesthesia, components, refused
):
    from anagen.products.models import Product

    Product.objects.filter(pk=lot.product_id).update(components=components)
    lot.refresh_from_db()
    patient = make_patient(clinic_a, clinician, sex_at_birth="male")
    prepare(patient, clinician, history={"allergies": allergies})
    problems = services.allergy_problems(patient, {0: lot}, anaesthesia)
    assert set(problems) == refused


def test_a_second_session_on_the_day_and_a_volume_over_the_vials_are_asked_together(
    clinic_a, clinician, ready, lot
):
    """They came one round after the other."""
    _, plan = ready
    record(clinic_a, clinician, plan, lot)
    big = [{"zone": "frontal", "points": 60, "volume_ml": 3.5}]
    with pytest.raises(services.SessionError) as refused:
        record(clinic_a, clinician, plan, lot, entries=big)
    assert set(refused.value.errors) == {"performed_on", "confirm_limits"}
    record(clinic_a, clinician, plan, lot, entries=big, confirm_same_day=True, confirm_limits=True)
    assert TreatmentSession.objects.count() == 2


def test_a_screening_warn_is_shown_with_its_reason_and_must_be_confirmed(
    clinic_a, clinician, make_patient, lot
):
    """The checklist said "WARN for exosome / EV injections" beside a tick, with no reason
    and nothing to acknowledge; now it names each finding and asks for a confirmation."""
    patient = make_patient(clinic_a, clinician, sex_at_birth="male")
    plan = prepare(patient, clinician, history={"malignancy": "past"})
    checklist = services.pre_session_checklist(plan, "exosome", date.today())
    [screening] = [i for i in checklist.items if i.key == "screening"]
    assert screening.ok and screening.caution
    assert "EXO-MALIGNANCY-PAST (WARN): Past cancer" in screening.message
    assert ".." not in screening.message  # each reason's own full stop is not doubled
    with pytest.raises(services.SessionError) as refused:
        record(clinic_a, clinician, plan, lot)
    assert "EXO-MALIGNANCY-PAST (WARN)" in refused.value.errors["confirm_screening"][0]
    assert not TreatmentSession.objects.exists()
    lot.refresh_from_db()
    assert lot.quantity_on_hand == 5

    session = record(clinic_a, clinician, plan, lot, confirm_screening=True)
    [kept] = [i for i in session.checklist["items"] if i["key"] == "screening"]
    assert kept["caution"] is True and "Past cancer" in kept["message"]
    assert (
        "screening findings confirmed as checked" in session.history.first().history_change_reason
    )


def test_a_clear_screening_needs_no_confirmation(clinic_a, clinician, ready, lot):
    patient, plan = ready
    checklist = services.pre_session_checklist(plan, "exosome", date.today())
    assert not any(i.caution for i in checklist.items)
    record(clinic_a, clinician, plan, lot)  # no confirm_screening


def test_the_session_form_shows_the_finding_and_offers_the_confirmation(
    client, clinic_a, clinician, make_patient
):
    patient = make_patient(clinic_a, clinician, sex_at_birth="male")
    prepare(patient, clinician, history={"malignancy": "past"})
    client.force_login(clinician)
    page = client.get(f"/sessions/{patient.pk}/new/").content.decode()
    assert 'aria-label="check first">!</span> Screening on' in page
    assert "EXO-MALIGNANCY-PAST (WARN): Past cancer" in page
    assert 'name="confirm_screening"' in page
    other = make_patient(clinic_a, clinician, sex_at_birth="male", given_name="Noa")
    prepare(other, clinician)
    assert (
        'name="confirm_screening"' not in client.get(f"/sessions/{other.pk}/new/").content.decode()
    )


def test_a_session_dated_before_the_screening_and_consent_says_so(clinician, ready):
    """It said "screen first" and "record consent first" though both were on record."""
    patient, plan = ready
    earlier = date.today() - timedelta(days=10)
    checklist = services.pre_session_checklist(plan, "exosome", earlier)
    assert checklist.blocked
    text = " ".join(i.message for i in checklist.items if not i.ok)
    assert f"The session date ({earlier}) is before the first screening ({date.today()})" in text
    assert f"is before the consent to exosome / EV injections signed on {date.today()}" in text
    assert "record consent first" not in text and "screen first" not in text


@pytest.mark.parametrize(
    ("on", "message"),
    [
        (date(1900, 1, 1), "The session date is before the patient's date of birth ("),
        (date.today() + timedelta(days=1), "A session cannot be in the future."),
    ],
)
def test_an_impossible_session_date_is_refused_on_the_date_itself(
    clinic_a, clinician, ready, lot, on, message
):
    """A date before birth was refused only through the lot ("received after the session
    date"), which sent the nurse to the wrong field (a review found it)."""
    _, plan = ready
    with pytest.raises(services.SessionError) as refused:
        record(clinic_a, clinician, plan, lot, on=on)
    assert refused.value.errors["performed_on"][0].startswith(message)
    assert not TreatmentSession.objects.exists()


def test_a_session_before_the_plan_starts_is_refused(clinic_a, clinician, ready, lot):
    _, plan = ready
    plan.start_on = date.today()
    plan.save()
    with pytest.raises(services.SessionError) as refused:
        record(clinic_a, clinician, plan, lot, on=date.today() - timedelta(days=3))
    assert refused.value.errors["performed_on"] == [
        f"The plan starts on {date.today()}; the session cannot be earlier."
    ]


def test_the_session_page_says_when_its_lot_was_recalled_since(
    client, clinic_a, clinician, ready, lot, make_user
):
    from anagen.products import services as products

    session = record(clinic_a, clinician, ready[1], lot)
    client.force_login(clinician)
    url = f"/sessions/{session.patient_id}/{session.pk}/"
    assert "lot recalled since" not in client.get(url).content.decode()
    products.recall_lot(lot, make_user(Role.QUALITY, clinic_a, username="qa"), "supplier notice")
    assert "lot recalled since" in client.get(url).content.decode()


def test_a_session_entered_after_its_lots_recall_is_offered_the_lot_with_a_warning(
    client, clinic_a, clinician, ready, lot, make_user
):
    from django.utils import timezone

    from anagen.products import services as products
    from anagen.products.models import Lot, LotDecision

    patient, _ = ready
    earlier = timezone.now() - timedelta(days=9)
    # Released nine days ago (the builder sets the status alone; the rule reads decisions).
    LotDecision.objects.create(
        clinic=clinic_a, lot=lot, kind="release", decided_at=earlier, decided_by=clinician
    )
    Lot.objects.filter(pk=lot.pk).update(decided_at=earlier, received_at=earlier)
    products.recall_lot(lot, make_user(Role.QUALITY, clinic_a, username="qa"), "supplier notice")
    client.force_login(clinician)
    yesterday = (date.today() - timedelta(days=1)).isoformat()
    page = client.post(f"/sessions/{patient.pk}/new/", {"performed_on": yesterday}).content
    assert f"lot {lot.lot_number}" in page.decode()
    assert "recalled since: recording it puts the patient on the recall" in page.decode()


def test_a_session_after_the_consent_was_withdrawn_that_day_says_it_was_withdrawn(clinician, ready):
    """A withdrawal on the session's day stops a session entered after it; the checklist
    said "record consent first", as if a form were missing, not that the patient withdrew."""
    from anagen.assessment import services as assessment

    patient, plan = ready
    (consent,) = plan.consents.all()
    assessment.withdraw_consent(consent, clinician, "Does not want more injections.", date.today())
    checklist = services.pre_session_checklist(plan, "exosome", date.today())
    assert checklist.blocked
    (message,) = [i.message for i in checklist.items if i.key == "consent"]
    assert f"withdrew the consent to exosome / EV injections (signed on {date.today()})" in message
    assert f"on {date.today()}: no session on or after that day" in message
    assert "record consent first" not in message
