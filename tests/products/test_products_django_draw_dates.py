# ruff: noqa: F811 — pytest fixtures imported from the support module are redefined as arguments.
"""No vial is drawn on a date before its lot was received, or before it was released."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from anagen.accounts.roles import Role
from anagen.products import selectors, services
from anagen.products.models import VialDraw

from .test_products_django_support import good_results, make_lot, product, quality

pytestmark = pytest.mark.django_db


def test_support_names_are_used():
    assert good_results and make_lot and product and quality


@pytest.fixture
def patient(clinic_a, nurse, make_patient):
    return make_patient(clinic_a, nurse)


def test_a_draw_dated_before_the_lot_was_received_is_refused(make_lot, nurse, patient, clinic_a):
    lot = make_lot(released=True, received_at=timezone.now() - timedelta(days=3))
    received = timezone.localdate(lot.received_at)
    before = received - timedelta(days=1)
    with pytest.raises(services.NotUsable) as err:
        services.draw_vials(lot, patient, 1, nurse, on_date=before)
    [message] = err.value.errors["lot"]
    assert message == (
        f"Lot {lot.lot_number} was received on {received:%Y-%m-%d}, after the session date "
        f"({before:%Y-%m-%d})."
    )
    assert not VialDraw.objects.exists()
    assert lot not in selectors.usable_lots(clinic_a, before)
    assert services.not_usable_message(lot, before) == (
        f"Lot {lot.lot_number} was received on {received:%Y-%m-%d}, after {before:%Y-%m-%d}: "
        "do not use it."
    )


def test_a_draw_dated_before_the_lot_was_released_is_refused(make_lot, nurse, patient, clinic_a):
    lot = make_lot(results=good_results(), received_at=timezone.now() - timedelta(days=10))
    lot = services.release_lot(lot, lot.received_by)
    released = timezone.localdate(lot.decided_at)
    before = released - timedelta(days=2)
    with pytest.raises(services.NotUsable, match=f"was released on {released:%Y-%m-%d}"):
        services.draw_vials(lot, patient, 1, nurse, on_date=before)
    assert lot not in selectors.usable_lots(clinic_a, before)


def test_a_draw_on_the_day_of_receipt_and_release_is_allowed(make_lot, nurse, patient, clinic_a):
    lot = make_lot(released=True)
    today = timezone.localdate()
    services.draw_vials(lot, patient, 1, nurse, on_date=today)
    assert lot in selectors.usable_lots(clinic_a, today)


def test_a_back_dated_treatment_session_cannot_draw_from_a_lot_received_later(
    client, clinic_a, make_user, make_patient, api_token
):
    """The reviewer's case: POST /api/v1/sessions/{patient} dated before the lot arrived."""
    from datetime import date

    from anagen.core.demo import demo_clock

    from ..builders import exosome_plan, released_lot

    clinician = make_user(Role.CLINICIAN, clinic_a)
    day = date.today() - timedelta(days=2)
    patient = make_patient(clinic_a, clinician, sex_at_birth="male")
    with demo_clock(day - timedelta(days=7)):
        plan = exosome_plan(patient, clinician, on=day - timedelta(days=7))
    lot = released_lot(clinic_a, clinician, number="LATE-1", vials=5)  # received today
    response = client.post(
        f"/api/v1/sessions/{patient.pk}",
        {
            "plan_id": plan.pk,
            "modality": "exosome",
            "performed_on": day.isoformat(),
            "map": [{"zone": "frontal", "points": 20, "volume_ml": 0.5}],
            "vials": [{"lot_id": lot.pk, "quantity": 1}],
        },
        content_type="application/json",
        headers={"Authorization": f"Bearer {api_token(clinician, clinic_a)}"},
    )
    assert response.status_code == 400, response.content
    assert "LATE-1 was received on" in response.json()["detail"]
    assert "Lot LATE-1: Lot LATE-1" not in response.json()["detail"]  # named once
    assert not VialDraw.objects.exists()


def test_a_session_before_its_lots_recall_is_recorded_afterwards_and_the_recall_reaches_it(
    make_lot, nurse, patient, clinic_a, quality
):
    """A review recalled a lot and could then not record a session given the day before
    from it: the exposure could not be recorded, and the recall missed the patient."""
    from anagen.products.models import LotDecision

    lot = make_lot(results=good_results(), received_at=timezone.now() - timedelta(days=10))
    lot = services.release_lot(lot, quality)
    ten_days_ago = timezone.now() - timedelta(days=9)
    LotDecision.objects.filter(lot=lot).update(decided_at=ten_days_ago)
    type(lot).objects.filter(pk=lot.pk).update(decided_at=ten_days_ago)
    services.recall_lot(lot, quality, "supplier recall notice 12")
    lot.refresh_from_db()
    today = timezone.localdate()
    yesterday = today - timedelta(days=1)
    assert lot in selectors.usable_lots(clinic_a, yesterday)
    assert lot not in selectors.usable_lots(clinic_a, today)
    services.draw_vials(lot, patient, 1, nurse, on_date=yesterday)
    assert [r["patient"] for r in selectors.affected_patients(lot)] == [patient]
    with pytest.raises(services.NotUsable, match="recalled"):
        services.draw_vials(lot, patient, 1, nurse, on_date=today)


def test_a_lot_rejected_before_its_recall_is_not_drawn_from_for_the_days_between(
    make_lot, nurse, patient, quality
):
    from anagen.products.models import LotDecision

    lot = make_lot(results=good_results(), received_at=timezone.now() - timedelta(days=10))
    lot = services.release_lot(lot, quality)
    LotDecision.objects.filter(lot=lot).update(decided_at=timezone.now() - timedelta(days=9))
    services.reject_lot(lot, quality, "particle count out of trend")
    LotDecision.objects.filter(lot=lot, kind="reject").update(
        decided_at=timezone.now() - timedelta(days=5)
    )
    services.recall_lot(lot, quality, "supplier recall notice 12")
    lot.refresh_from_db()
    assert not selectors.recalled_after(lot, timezone.localdate() - timedelta(days=2))
    assert selectors.recalled_after(lot, timezone.localdate() - timedelta(days=7))


class TestACold_chainBlockOnTheSessionDate:
    """A session entered afterwards may draw from a lot recalled after its date: the lot's
    state on that date counts. Its cold-chain block on that date was ignored: a lot blocked
    by an excursion (awaiting quality's decision) then recalled took a draw dated in the
    block, which the point of care refused on the day."""

    @pytest.fixture
    def lot(self, make_lot, quality):
        from anagen.products.models import Excursion, LotDecision

        location = services.create_location(quality.memberships.first().clinic, quality, "F9")
        lot = make_lot(
            results=good_results(), received_at=timezone.now() - timedelta(days=10),
            storage_location=location,
        )  # fmt: skip
        lot = services.release_lot(lot, quality)
        nine_days_ago = timezone.now() - timedelta(days=9)
        LotDecision.objects.filter(lot=lot).update(decided_at=nine_days_ago)
        type(lot).objects.filter(pk=lot.pk).update(decided_at=nine_days_ago)
        six_days_ago = timezone.now() - timedelta(days=6)
        for minutes, temperature in ((0, -80), (30, -20), (60, -80)):
            services.record_reading(
                location, quality, temperature_c=temperature,
                recorded_at=six_days_ago + timedelta(minutes=minutes),
            )  # fmt: skip
        Excursion.objects.filter(lot=lot).update(detected_at=six_days_ago)
        lot.refresh_from_db()
        assert lot.blocked
        return lot

    def recall(self, lot, quality):
        services.recall_lot(lot, quality, "supplier recall notice 12")
        lot.refresh_from_db()
        return lot

    def test_a_session_dated_in_the_block_is_refused_naming_it(
        self, lot, quality, nurse, patient, clinic_a
    ):
        lot = self.recall(lot, quality)
        in_block = timezone.localdate() - timedelta(days=4)
        with pytest.raises(services.NotUsable) as err:
            services.draw_vials(lot, patient, 1, nurse, on_date=in_block)
        [message] = err.value.errors["lot"]
        detected = timezone.localdate() - timedelta(days=6)
        assert message.startswith(
            f"Lot {lot.lot_number} was blocked on {in_block:%Y-%m-%d} by a cold-chain excursion "
            f"(detected {detected:%Y-%m-%d}, "
        )
        assert message.endswith(
            "not accepted by quality by then): a session of that day could not draw from it, "
            "and its recall since does not change that."
        )
        assert lot not in selectors.usable_lots(clinic_a, in_block)
        assert not VialDraw.objects.exists()
        # Before the excursion, the lot was usable: that session is recorded.
        before = timezone.localdate() - timedelta(days=8)
        assert lot in selectors.usable_lots(clinic_a, before)
        services.draw_vials(lot, patient, 1, nurse, on_date=before)

    def test_once_quality_accepted_the_excursion_a_later_session_draws(
        self, lot, quality, nurse, patient, clinic_a
    ):
        from anagen.products.models import Excursion

        services.decide_excursions(lot, quality, "accept", "Stability data cover 30 minutes")
        Excursion.objects.filter(lot=lot).update(decided_at=timezone.now() - timedelta(days=5))
        lot = self.recall(lot, quality)
        after = timezone.localdate() - timedelta(days=3)
        assert lot in selectors.usable_lots(clinic_a, after)
        services.draw_vials(lot, patient, 1, nurse, on_date=after)
        with pytest.raises(services.NotUsable, match="was blocked on"):
            services.draw_vials(
                lot, patient, 1, nurse, on_date=timezone.localdate() - timedelta(days=6)
            )

    def test_a_lot_still_blocked_takes_a_session_dated_before_its_excursion(
        self, lot, nurse, patient, clinic_a
    ):
        """A review entered a session given eight days ago, when the lot was released and in
        range, after the lot was blocked by an excursion six days ago: it was refused, as if
        the block had held that day, and the patient's exposure could not be recorded."""
        before = timezone.localdate() - timedelta(days=8)
        assert services.usability_problems(lot, before) == []
        assert lot in selectors.usable_lots(clinic_a, before)
        services.draw_vials(lot, patient, 1, nurse, on_date=before)
        assert [r["patient"] for r in selectors.affected_patients(lot)] == [patient]

    def test_a_lot_still_blocked_refuses_a_session_dated_in_the_block_and_today(
        self, lot, nurse, patient, clinic_a
    ):
        for day in (timezone.localdate() - timedelta(days=4), timezone.localdate()):
            with pytest.raises(services.NotUsable, match="blocked"):
                services.draw_vials(lot, patient, 1, nurse, on_date=day)
            assert lot not in selectors.usable_lots(clinic_a, day)
        assert not VialDraw.objects.exists()


def test_a_session_entered_late_draws_from_a_lot_blocked_only_after_its_date(
    client, clinic_a, make_user, make_patient, api_token, quality
):
    """POST /api/v1/sessions/{patient} for a session given three days ago from a lot that a
    cold-chain excursion blocked yesterday: recorded (the lot was fine that day); a session
    dated today is refused."""
    from datetime import date

    from anagen.core.demo import demo_clock

    from ..builders import exosome_plan, released_lot

    clinician = make_user(Role.CLINICIAN, clinic_a)
    day = date.today() - timedelta(days=3)
    patient = make_patient(clinic_a, clinician, sex_at_birth="male")
    with demo_clock(day - timedelta(days=7)):
        plan = exosome_plan(patient, clinician, on=day - timedelta(days=7))
    lot = released_lot(clinic_a, clinician, number="COLD-1", vials=5, received_days_ago=20)
    location = services.create_location(clinic_a, quality, "Freezer 2")
    type(lot).objects.filter(pk=lot.pk).update(storage_location=location)
    yesterday = timezone.now() - timedelta(days=1)
    for minutes, temperature in ((0, -80), (30, -20), (60, -80)):
        services.record_reading(
            location, quality, temperature_c=temperature,
            recorded_at=yesterday + timedelta(minutes=minutes),
        )  # fmt: skip
    lot.refresh_from_db()
    assert lot.blocked

    def post(performed_on):
        return client.post(
            f"/api/v1/sessions/{patient.pk}",
            {
                "plan_id": plan.pk,
                "modality": "exosome",
                "performed_on": performed_on.isoformat(),
                "map": [{"zone": "frontal", "points": 20, "volume_ml": 0.5}],
                "vials": [{"lot_id": lot.pk, "quantity": 1}],
            },
            content_type="application/json",
            headers={"Authorization": f"Bearer {api_token(clinician, clinic_a)}"},
        )

    response = post(day)
    assert response.status_code == 201, response.content
    assert VialDraw.objects.get().drawn_on == day
    response = post(date.today())
    assert response.status_code == 400, response.content
    assert "blocked" in response.json()["detail"]
    assert VialDraw.objects.count() == 1


def test_a_session_before_its_lots_rejection_is_recorded_afterwards_and_traced(
    make_lot, nurse, patient, clinic_a, quality
):
    """Quality rejected a released lot this morning (new information from the supplier);
    yesterday's session, entered today, was refused as "The lot is rejected, not released":
    the vials were given while the lot was released, and the patient the rejection may have
    to reach was left off the lot's trace."""
    from anagen.products.models import LotDecision

    lot = make_lot(results=good_results(), received_at=timezone.now() - timedelta(days=10))
    lot = services.release_lot(lot, quality)
    nine_days_ago = timezone.now() - timedelta(days=9)
    LotDecision.objects.filter(lot=lot).update(decided_at=nine_days_ago)
    type(lot).objects.filter(pk=lot.pk).update(decided_at=nine_days_ago)
    services.reject_lot(lot, quality, "Supplier reports a failed stability test")
    lot.refresh_from_db()
    today = timezone.localdate()
    yesterday = today - timedelta(days=1)
    assert services.usability_problems(lot, yesterday) == []
    assert lot in selectors.usable_lots(clinic_a, yesterday)
    services.draw_vials(lot, patient, 1, nurse, on_date=yesterday)
    assert [r["patient"] for r in selectors.affected_patients(lot)] == [patient]
    assert services.patients_given(lot) == 1
    with pytest.raises(services.NotUsable, match="rejected"):
        services.draw_vials(lot, patient, 1, nurse, on_date=today)
    assert lot not in selectors.usable_lots(clinic_a, today)
    # Before its release it was not usable, rejected since or not.
    with pytest.raises(services.NotUsable, match="rejected"):
        services.draw_vials(lot, patient, 1, nurse, on_date=today - timedelta(days=9 + 1))
