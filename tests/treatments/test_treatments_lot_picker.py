"""The lot picker of the session page.

Only usable lots are offered. A page opened before a lot became unusable (quarantined
again, expired, blocked, rejected) and posted afterwards is refused with the reason, not
with "Select a valid choice"; nothing is stored. Under the picker a short note lists the
clinic's lots with vials on hand that are not offered, and why, so that a nurse holding a
vial of one knows why it is missing.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from anagen.accounts.roles import Role
from anagen.core.demo import demo_clock
from anagen.products.models import Lot, VialDraw
from anagen.treatments import selectors
from anagen.treatments.models import TreatmentSession

from ..builders import exosome_plan, released_lot
from .conftest import make_lot
from .test_treatments_views_api import form_data


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"status": "quarantined"}, "Lot UC-2612-Q is quarantined (not released): do not use it."),
        (
            {"expiry_date": date.today() - timedelta(days=1)},
            f"Lot UC-2612-Q expired on {date.today() - timedelta(days=1):%Y-%m-%d}: do not use it.",
        ),
        (
            {"blocked": True, "block_reason": "cold-chain excursion"},
            "Lot UC-2612-Q is blocked (cold-chain excursion): do not use it.",
        ),
        ({"status": "rejected"}, "Lot UC-2612-Q is rejected: do not use it."),
    ],
)
def test_a_stale_form_posting_an_unusable_lot_is_told_why(
    client, clinician, ready, clinic_a, change, message
):
    patient, plan = ready
    lot = make_lot(clinic_a, clinician, number="UC-2612-Q")
    client.force_login(clinician)
    page = client.get(f"/sessions/{patient.pk}/new/")
    assert f'value="{lot.pk}"' in page.content.decode()  # offered when the page was opened
    Lot.objects.filter(pk=lot.pk).update(**change)
    response = client.post(f"/sessions/{patient.pk}/new/", form_data(plan, lot))
    assert response.status_code == 400
    assert response.context["form"].errors["vial_0_lot"] == [message]
    assert "is not one of the available choices" not in response.content.decode()
    assert not TreatmentSession.objects.exists() and not VialDraw.objects.exists()


def test_a_lot_of_another_clinic_is_no_such_lot(client, clinician, ready, clinic_b, make_user):
    patient, plan = ready
    other = make_lot(clinic_b, make_user(Role.QUALITY, clinic_b), number="B-1")
    client.force_login(clinician)
    response = client.post(f"/sessions/{patient.pk}/new/", form_data(plan, other))
    assert response.status_code == 400
    errors = response.context["form"].errors["vial_0_lot"]
    assert errors == ["No such lot: choose one from the list."]
    assert "B-1" not in " ".join(errors)


def test_the_page_lists_the_lots_on_hand_that_are_not_offered_and_why(
    client, clinician, ready, clinic_a
):
    patient, _ = ready
    make_lot(clinic_a, clinician, number="GOOD-1")
    make_lot(clinic_a, clinician, number="UC-2612-Q", status="quarantined")
    make_lot(clinic_a, clinician, number="EMPTY-1", vials=0)  # none on hand: not listed
    client.force_login(clinician)
    page = client.get(f"/sessions/{patient.pk}/new/").content.decode()
    note = page[page.index('id="lots-not-offered"') :]
    note = note[: note.index("</div>")]
    assert "UC-2612-Q" in note and "quarantined (not released)" in note
    assert "GOOD-1" not in note and "EMPTY-1" not in note


def test_the_note_stays_short(clinic_a, clinician):
    for i in range(selectors.HELD_BACK_NOTE_MAX + 3):
        make_lot(clinic_a, clinician, number=f"Q-{i}", status="quarantined")
    lots = selectors.session_lots(clinic_a, date.today())
    assert len(lots.held_back_shown) == selectors.HELD_BACK_NOTE_MAX
    assert lots.held_back_more == 3
    assert lots.offered == []


def test_a_session_entered_afterwards_may_draw_from_a_lot_usable_on_its_date(
    client, clinician, clinic_a, make_patient
):
    """The page offers the lots usable on the posted session date, and checks the
    pre-session checklist on it, as the service does; not only those usable today: a lot
    that expired since is still the lot used then."""
    day = date.today() - timedelta(days=2)
    patient = make_patient(clinic_a, clinician, sex_at_birth="male")
    with demo_clock(day - timedelta(days=7)):
        plan = exosome_plan(patient, clinician, on=day - timedelta(days=7))
    lot = released_lot(
        clinic_a, clinician, number="EXP-1", vials=5,
        expiry=date.today() - timedelta(days=1), received_days_ago=30,
    )  # fmt: skip
    client.force_login(clinician)
    page = client.get(f"/sessions/{patient.pk}/new/")
    assert lot not in page.context["lots"]  # not usable today
    response = client.post(
        f"/sessions/{patient.pk}/new/", form_data(plan, lot, performed_on=day.isoformat())
    )
    assert response.status_code == 302, response.context["form"].errors
    assert TreatmentSession.objects.get().performed_on == day
    assert VialDraw.objects.get().lot == lot
