"""The point-of-care service: vials come only from released, unexpired, unblocked lots,
and stock never goes negative, even when many nurses draw at the same time."""

# ruff: noqa: F811 — pytest fixtures imported from the support module are redefined as arguments.
from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from anagen.accounts.roles import Role
from anagen.products import selectors, services
from anagen.products.models import Lot, VialDraw

from ..races import at_once
from .test_products_django_support import (  # noqa: F401
    good_results,
    make_lot,
    product,
    quality,
    quality2,
)

TODAY = date.today()


@pytest.fixture
def patient(clinic_a, nurse, make_patient):
    return make_patient(clinic_a, nurse)


@pytest.mark.django_db
class TestWhichLotsMayBeUsed:
    def test_a_released_lot_gives_vials_and_records_who_what_when(self, make_lot, nurse, patient):
        lot = make_lot(quantity=5, released=True)
        draw = services.draw_vials(
            lot, patient, 2, nurse, on_date=TODAY, dose_volume_ml=Decimal("1.5"), session_ref="S-9"
        )
        lot.refresh_from_db()
        assert lot.quantity_on_hand == 3
        assert (draw.quantity, draw.patient, draw.drawn_by, draw.drawn_on) == (
            2,
            patient,
            nurse,
            TODAY,
        )
        assert draw.session_ref == "S-9" and draw.dose_volume_ml == Decimal("1.5")
        stock = selectors.stock_of(lot)
        assert (stock.received, stock.drawn, stock.wasted, stock.on_hand) == (5, 2, 0, 3)
        assert stock.consistent

    def test_a_quarantined_lot_gives_nothing(self, make_lot, nurse, patient):
        lot = make_lot(quantity=5, results=good_results())
        with pytest.raises(services.NotUsable, match="quarantined"):
            services.draw_vials(lot, patient, 1, nurse, on_date=TODAY)
        assert not VialDraw.objects.exists()

    def test_a_rejected_lot_gives_nothing(self, make_lot, nurse, patient, quality):
        lot = make_lot(quantity=5, released=True)
        services.reject_lot(lot, quality, "Supplier withdrew the CoA")
        with pytest.raises(services.NotUsable, match="rejected"):
            services.draw_vials(lot, patient, 1, nurse, on_date=TODAY)

    def test_an_expired_lot_gives_nothing_on_the_day_after_expiry(self, make_lot, nurse, patient):
        expiry = TODAY + timedelta(days=10)
        lot = make_lot(quantity=5, released=True, expiry=expiry)
        services.draw_vials(lot, patient, 1, nurse, on_date=expiry)  # the last good day
        with pytest.raises(services.NotUsable, match="expired"):
            services.draw_vials(lot, patient, 1, nurse, on_date=expiry + timedelta(days=1))

    def test_a_blocked_lot_gives_nothing(self, make_lot, nurse, patient):
        lot = make_lot(quantity=5, released=True)
        Lot.objects.filter(pk=lot.pk).update(blocked=True, block_reason="excursion")
        with pytest.raises(services.NotUsable, match="blocked"):
            services.draw_vials(lot, patient, 1, nurse, on_date=TODAY)

    def test_more_vials_than_on_hand_is_refused_and_nothing_changes(self, make_lot, nurse, patient):
        lot = make_lot(quantity=2, released=True)
        with pytest.raises(services.InsufficientStock, match="Only 2"):
            services.draw_vials(lot, patient, 3, nurse, on_date=TODAY)
        lot.refresh_from_db()
        assert lot.quantity_on_hand == 2 and not VialDraw.objects.exists()

    @pytest.mark.parametrize("quantity", [0, -1, 1.5, True])
    def test_the_quantity_must_be_a_whole_positive_number(self, make_lot, nurse, patient, quantity):
        lot = make_lot(quantity=2, released=True)
        with pytest.raises(services.ProductError) as err:
            services.draw_vials(lot, patient, quantity, nurse, on_date=TODAY)
        assert "quantity" in err.value.errors

    def test_a_dose_larger_than_the_vials_drawn_is_refused(self, make_lot, nurse, patient):
        lot = make_lot(quantity=2, released=True)  # 1 mL vials
        with pytest.raises(services.ProductError) as err:
            services.draw_vials(lot, patient, 1, nurse, on_date=TODAY, dose_volume_ml=2)
        assert "dose_volume_ml" in err.value.errors

    def test_a_patient_of_another_clinic_cannot_receive_the_lot(
        self, make_lot, nurse, clinic_b, make_user, make_patient
    ):
        lot = make_lot(quantity=2, released=True)
        other = make_patient(clinic_b, make_user(Role.ADMIN, clinic_b))
        with pytest.raises(services.ProductError) as err:
            services.draw_vials(lot, other, 1, nurse, on_date=TODAY)
        assert "patient" in err.value.errors

    def test_usable_lots_lists_exactly_the_lots_draw_vials_accepts(
        self, make_lot, clinic_a, quality
    ):
        good = make_lot(released=True)
        make_lot(results=good_results())  # quarantined
        expired = make_lot(released=True)
        Lot.objects.filter(pk=expired.pk).update(expiry_date=TODAY - timedelta(days=1))
        blocked = make_lot(released=True)
        Lot.objects.filter(pk=blocked.pk).update(blocked=True)
        assert list(selectors.usable_lots(clinic_a, TODAY)) == [good]

    @pytest.mark.parametrize(
        ("change", "message", "short"),
        [
            (
                {"status": "quarantined"},
                "Lot X-1 is quarantined (not released): do not use it.",
                ["quarantined (not released)"],
            ),
            ({"status": "rejected"}, "Lot X-1 is rejected: do not use it.", ["rejected"]),
            (
                {"expiry_date": date(2020, 1, 31)},
                "Lot X-1 expired on 2020-01-31: do not use it.",
                ["expired on 2020-01-31"],
            ),
            (
                {"blocked": True, "block_reason": "fridge at 12 °C"},
                "Lot X-1 is blocked (fridge at 12 °C): do not use it.",
                ["blocked (fridge at 12 °C)"],
            ),
            (
                {"status": "recalled", "quantity_on_hand": 0},
                "Lot X-1 is recalled and has no vials left: do not use it.",
                ["recalled", "no vials left"],
            ),
        ],
    )
    def test_why_a_lot_may_not_be_used_is_said_in_one_sentence_and_in_short(
        self, make_lot, change, message, short
    ):
        lot = make_lot(released=True, quantity=3)
        Lot.objects.filter(pk=lot.pk).update(lot_number="X-1", **change)
        lot.refresh_from_db()
        assert services.not_usable_message(lot, TODAY) == message
        assert services.unusable_reasons(lot, TODAY) == short
        assert len(services.usability_problems(lot, TODAY)) == len(short)

    def test_a_usable_lot_has_no_message(self, make_lot):
        lot = make_lot(released=True, quantity=3)
        assert services.not_usable_message(lot, TODAY) is None
        assert services.unusable_reasons(lot, TODAY) == []


@pytest.mark.django_db(transaction=True)
def test_ten_nurses_drawing_from_five_vials_at_once_get_exactly_five(
    clinic_a, make_user, make_patient
):
    quality_user = make_user(Role.QUALITY, clinic_a, username="q-threads")
    nurse = make_user(Role.NURSE, clinic_a, username="n-threads")
    prod = services.create_product(
        clinic_a,
        quality_user,
        {
            "manufacturer": "Cordis Bio",
            "name": "UC-MSC Exosome",
            "source_tissue": "umbilical_cord",
            "donor_type": "allogeneic_single",
            "form": "frozen_liquid",
            "labelled_particles_per_vial": 1.0e10,
            "volume_ml": Decimal("1"),
            "storage_min_temperature_c": Decimal("-90"),
            "storage_max_temperature_c": Decimal("-60"),
            "storage_requirement": "−80 °C",
        },
    )
    lot = services.receive_lot(
        clinic_a,
        quality_user,
        product=prod,
        lot_number="RACE-1",
        expiry_date=TODAY + timedelta(days=90),
        quantity_received=5,
    )
    services.record_coa(
        lot,
        quality_user,
        certificate_lot_number=lot.lot_number,
        testing_laboratory="Lab",
        results=good_results(),
    )
    services.release_lot(lot, quality_user)
    patients = [make_patient(clinic_a, nurse) for _ in range(10)]

    draws = [lambda p=p: services.draw_vials(lot, p, 1, nurse, on_date=TODAY) for p in patients]
    outcomes = at_once(draws, services.InsufficientStock)
    assert outcomes == ["ok"] * 5 + ["refused"] * 5, outcomes
    lot.refresh_from_db()
    assert lot.quantity_on_hand == 0
    assert VialDraw.objects.filter(lot=lot).count() == 5
    assert selectors.stock_of(lot).consistent


@pytest.mark.django_db(transaction=True)
def test_concurrent_draws_of_two_vials_never_take_more_than_there_are(
    clinic_a, make_user, make_patient
):
    """7 vials, 8 threads asking for 2 each: 3 succeed (6 vials), 1 vial stays on hand."""
    quality_user = make_user(Role.QUALITY, clinic_a, username="q-threads2")
    nurse = make_user(Role.NURSE, clinic_a, username="n-threads2")
    prod = services.create_product(
        clinic_a,
        quality_user,
        {
            "manufacturer": "Adipo",
            "name": "Lyo EV",
            "source_tissue": "adipose",
            "donor_type": "allogeneic_pooled",
            "form": "lyophilised",
            "labelled_particles_per_vial": 1.0e10,
            "volume_ml": Decimal("1"),
            "storage_min_temperature_c": Decimal("2"),
            "storage_max_temperature_c": Decimal("8"),
            "storage_requirement": "2–8 °C",
        },
    )
    lot = services.receive_lot(
        clinic_a,
        quality_user,
        product=prod,
        lot_number="RACE-2",
        expiry_date=TODAY + timedelta(days=90),
        quantity_received=7,
    )
    services.record_coa(
        lot,
        quality_user,
        certificate_lot_number=lot.lot_number,
        testing_laboratory="Lab",
        results=good_results(),
    )
    services.release_lot(lot, quality_user)
    patient = make_patient(clinic_a, nurse)
    draw = lambda: services.draw_vials(lot, patient, 2, nurse, on_date=TODAY)  # noqa: E731
    outcomes = at_once([draw] * 8, services.InsufficientStock)
    assert outcomes == ["ok"] * 3 + ["refused"] * 5, outcomes
    lot.refresh_from_db()
    assert lot.quantity_on_hand == 1
