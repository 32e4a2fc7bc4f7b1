# ruff: noqa: F811 — pytest fixtures imported from the support module are redefined as arguments.
"""Correcting a lot's receipt details (a mistyped expiry, lot number or vial count): audited,
with a reason, under the receipt's checks and the limits of vials already given."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from django.utils import timezone

from anagen.products import selectors, services
from anagen.products.models import Lot

from .test_products_django_support import make_lot, product, quality

pytestmark = pytest.mark.django_db

REASON = "Expiry typed from the delivery note; the vial label says otherwise"


def test_support_names_are_used():
    assert make_lot and product and quality


def give(lot, clinic, nurse, make_patient, on_date=None, vials=1):
    services.draw_vials(
        lot, make_patient(clinic, nurse), vials, nurse, on_date=on_date or timezone.localdate()
    )


class TestService:
    def test_a_mistyped_expiry_is_corrected_with_the_reason_in_the_history(self, make_lot, quality):
        lot = make_lot()
        old = lot.expiry_date
        new = old + timedelta(days=30)
        done = services.correct_lot(lot, quality, reason=REASON, expiry_date=new)
        lot.refresh_from_db()
        assert lot.expiry_date == new
        assert done.changes == [f"expiry date {old:%Y-%m-%d} → {new:%Y-%m-%d}"]
        latest = lot.history.first()
        assert latest.history_user == quality
        assert latest.history_change_reason == (
            f"corrected (expiry date {old:%Y-%m-%d} → {new:%Y-%m-%d}): {REASON}"
        )
        assert [c.history_id for c in selectors.corrections_of(lot)] == [latest.history_id]

    def test_a_reason_is_required(self, make_lot, quality):
        lot = make_lot()
        with pytest.raises(services.ProductError) as exc:
            services.correct_lot(lot, quality, reason="typo", lot_number="L-999")
        assert "reason" in exc.value.errors
        lot.refresh_from_db()
        assert lot.lot_number == "L-001"

    def test_only_quality_may_correct(self, make_lot, nurse):
        lot = make_lot()
        with pytest.raises(services.ProductError, match="Only a quality user"):
            services.correct_lot(lot, nurse, reason=REASON, lot_number="L-999")

    def test_the_receipt_checks_apply(self, make_lot, quality):
        lot = make_lot()
        make_lot(lot_number="UC-2605-H")
        received = timezone.localdate(lot.received_at)
        with pytest.raises(services.ProductError) as exc:
            services.correct_lot(
                lot, quality, reason=REASON, lot_number="uc-2605-h",
                expiry_date=received - timedelta(days=1),
            )  # fmt: skip
        assert "already been received" in exc.value.errors["lot_number"][0]
        assert "before it was received" in exc.value.errors["expiry_date"][0]
        with pytest.raises(services.ProductError) as exc:  # a mistyped year
            services.correct_lot(lot, quality, reason=REASON, expiry_date=date(9999, 12, 31))
        assert "not plausible" in exc.value.errors["expiry_date"][0]

    def test_an_expiry_ten_calendar_years_after_receipt_is_plausible(self, make_lot, quality):
        """The limit was 3,650 days: ten years with leap days in them ended two or three days
        early, so the expiry "exactly 10 years after receipt" was refused as not plausible."""
        from anagen.core.dates import add_years

        lot = make_lot()
        received = timezone.localdate(lot.received_at)
        services.correct_lot(lot, quality, reason=REASON, expiry_date=add_years(received, 10))
        lot.refresh_from_db()
        assert lot.expiry_date == add_years(received, 10)
        with pytest.raises(services.ProductError) as exc:
            services.correct_lot(
                lot, quality, reason=REASON,
                expiry_date=add_years(received, 10) + timedelta(days=1),
            )  # fmt: skip
        assert "more than 10 years after receipt" in exc.value.errors["expiry_date"][0]

    def test_the_lot_number_may_change_case_of_itself(self, make_lot, quality):
        lot = make_lot(lot_number="uc-2605-h")
        services.correct_lot(lot, quality, reason=REASON, lot_number="UC-2605-H")
        lot.refresh_from_db()
        assert lot.lot_number == "UC-2605-H"

    def test_the_lot_number_stays_the_certificates(self, make_lot, quality):
        lot = make_lot(released=True)
        with pytest.raises(services.ProductError) as exc:
            services.correct_lot(lot, quality, reason=REASON, lot_number="L-002")
        assert "certificate of analysis is for lot L-001" in exc.value.errors["lot_number"][0]
        services.correct_lot(lot, quality, reason=REASON, lot_number="L 001")  # same lot
        lot.refresh_from_db()
        assert lot.lot_number == "L 001"

    def test_vials_received_never_below_those_given_and_wasted(
        self, make_lot, quality, clinic_a, nurse, make_patient
    ):
        lot = make_lot(quantity=10, released=True)
        give(lot, clinic_a, nurse, make_patient, vials=3)
        services.record_waste(lot, quality, 2, "dropped vial")
        with pytest.raises(services.ProductError) as exc:
            services.correct_lot(lot, quality, reason=REASON, quantity_received=4)
        assert exc.value.errors["quantity_received"] == [
            "5 vial(s) of this lot were already drawn for patients or wasted: it cannot have "
            "received fewer than 5."
        ]
        services.correct_lot(lot, quality, reason=REASON, quantity_received=12)
        lot.refresh_from_db()
        assert (lot.quantity_received, lot.quantity_on_hand) == (12, 7)
        assert selectors.stock_of(lot).consistent

    def test_an_earlier_expiry_names_the_patients_given_vials_after_it(
        self, make_lot, quality, clinic_a, nurse, make_patient
    ):
        lot = make_lot(released=True, received_at=timezone.now() - timedelta(days=20))
        Lot.objects.filter(pk=lot.pk).update(decided_at=lot.received_at)
        lot.refresh_from_db()
        today = timezone.localdate()
        give(lot, clinic_a, nurse, make_patient, on_date=today - timedelta(days=10))
        give(lot, clinic_a, nurse, make_patient, on_date=today - timedelta(days=2))
        done = services.correct_lot(
            lot, quality, reason=REASON, expiry_date=today - timedelta(days=5)
        )
        assert done.warnings == [
            f"1 patient received vials of it after {today - timedelta(days=5):%Y-%m-%d}, the "
            "corrected expiry: trace the lot and follow them up."
        ]
        # Usability and the dashboard follow at once.
        lot.refresh_from_db()
        assert any("expired" in p for p in services.usability_problems(lot, today))
        counts = selectors.dashboard_counts(lot.clinic, today, 60)
        assert counts["expired_on_hand"] == 1

    def test_nothing_changed_saves_nothing(self, make_lot, quality):
        lot = make_lot()
        before = lot.history.count()
        done = services.correct_lot(lot, quality, reason=REASON, lot_number=lot.lot_number)
        assert done.changes == [] and lot.history.count() == before


class TestPage:
    def test_quality_corrects_from_the_lot_page(self, client, make_lot, quality):
        lot = make_lot(supplier_notes="Batch 12")
        client.force_login(quality)
        page = client.get(f"/products/lots/{lot.pk}/").content.decode()
        assert f'href="/products/lots/{lot.pk}/correct/"' in page
        form = client.get(f"/products/lots/{lot.pk}/correct/")
        assert form.status_code == 200
        assert 'value="L-001"' in form.content.decode()
        new = lot.expiry_date + timedelta(days=7)
        response = client.post(
            f"/products/lots/{lot.pk}/correct/",
            {
                "product": lot.product_id, "lot_number": "L-001", "expiry_date": new.isoformat(),
                "quantity_received": 10,
                "supplier_notes": "Manufacturer batch B-12", "reason": REASON,
            },
        )  # fmt: skip
        assert response.status_code == 302
        lot.refresh_from_db()
        assert lot.expiry_date == new and lot.supplier_notes == "Manufacturer batch B-12"
        page = client.get(response.url).content.decode()
        assert "Lot L-001 corrected: expiry date" in page
        assert 'id="corrections"' in page and REASON in page

    def test_a_refusal_comes_back_beside_the_field(self, client, make_lot, quality):
        lot = make_lot(released=True)
        client.force_login(quality)
        response = client.post(
            f"/products/lots/{lot.pk}/correct/",
            {
                "product": lot.product_id, "lot_number": "L-777",
                "expiry_date": lot.expiry_date.isoformat(),
                "quantity_received": 10, "reason": REASON,
            },
        )  # fmt: skip
        assert response.status_code == 400
        assert "certificate of analysis is for lot L-001" in str(
            response.context["form"].errors["lot_number"]
        )
        assert Lot.objects.get(pk=lot.pk).lot_number == "L-001"

    def test_a_nurse_neither_sees_nor_opens_it(self, client, make_lot, nurse):
        lot = make_lot()
        client.force_login(nurse)
        assert "/correct/" not in client.get(f"/products/lots/{lot.pk}/").content.decode()
        assert client.get(f"/products/lots/{lot.pk}/correct/").status_code == 403


class TestApi:
    def call(self, client, token, lot, body):
        return client.post(
            f"/api/v1/products/lots/{lot.pk}/correct",
            data=json.dumps(body), content_type="application/json",
            headers={"Authorization": f"Bearer {token}"},
        )  # fmt: skip

    def test_the_api_corrects_and_says_what_changed(
        self, client, make_lot, quality, clinic_a, api_token
    ):
        lot = make_lot()
        response = self.call(
            client, api_token(quality, clinic_a), lot, {"quantity_received": 12, "reason": REASON}
        )
        assert response.status_code == 200, response.content
        body = response.json()
        assert body["changes"] == ["vials received 10 → 12"] and body["warnings"] == []
        assert body["lot"]["quantity_on_hand"] == 12

    def test_the_api_refuses_without_a_reason_and_for_a_nurse(
        self, client, make_lot, quality, nurse, clinic_a, api_token
    ):
        lot = make_lot()
        response = self.call(client, api_token(quality, clinic_a), lot, {"lot_number": "X-1"})
        assert response.status_code == 400
        assert response.json()["detail"].startswith("reason:")
        response = self.call(
            client, api_token(nurse, clinic_a), lot, {"lot_number": "X-1", "reason": REASON}
        )
        assert response.status_code == 403
        assert Lot.objects.get(pk=lot.pk).lot_number == "L-001"


@pytest.fixture
def other_product(clinic_a, quality):
    """The product that should have been picked at receipt (same label, another tissue)."""
    from decimal import Decimal

    return services.create_product(
        clinic_a, quality,
        {
            "manufacturer": "Cordis Bio", "name": "WJ-MSC Exosome 10B",
            "source_tissue": "whartons_jelly", "donor_type": "allogeneic_single",
            "form": "frozen_liquid", "labelled_particles_per_vial": 1.0e10,
            "volume_ml": Decimal("1.000"), "storage_min_temperature_c": Decimal("-90"),
            "storage_max_temperature_c": Decimal("-60"),
            "storage_requirement": "Store at −80 °C",
        },
    )  # fmt: skip


class TestProductAndLocation:
    """A wrong product or storage location picked at receipt (a common clerical slip) was
    refused as "This cannot be corrected here": the lot had to be rejected and received
    again. It is corrected while no vial was given to a patient, audited like the rest."""

    def test_a_wrong_product_is_corrected_with_the_reason_in_the_history(
        self, make_lot, quality, other_product
    ):
        lot = make_lot()
        old = lot.product
        done = services.correct_lot(lot, quality, reason=REASON, product=other_product)
        lot.refresh_from_db()
        assert lot.product == other_product
        assert done.changes == [f"product {old.name} → {other_product.name}"]
        assert lot.history.first().history_change_reason == (
            f"corrected (product {old.name} → {other_product.name}): {REASON}"
        )
        assert lot.history.first().history_user == quality

    def test_a_released_lot_goes_back_to_quarantine_to_be_released_again(
        self, make_lot, quality, other_product
    ):
        from anagen.products.models import LotDecision, LotStatus

        lot = make_lot(released=True)
        done = services.correct_lot(lot, quality, reason=REASON, product=other_product)
        lot.refresh_from_db()
        assert lot.status == LotStatus.QUARANTINED and lot.decided_at is None
        assert "back in quarantine" in done.message
        assert LotDecision.objects.filter(lot=lot).first().kind == "requarantine"
        assert services.release_lot(lot, quality).status == LotStatus.RELEASED

    def test_once_vials_were_given_the_product_and_location_stay(
        self, make_lot, quality, other_product, nurse, clinic_a, make_patient
    ):
        lot = make_lot(released=True)
        give(lot, clinic_a, nurse, make_patient, vials=2)
        with pytest.raises(services.ProductError) as exc:
            services.correct_lot(lot, quality, reason=REASON, product=other_product)
        assert exc.value.errors["product"][0].startswith(
            "2 vial(s) of this lot were already given to patients: its product can no longer "
            "be corrected"
        )
        freezer = services.create_location(clinic_a, quality, "Freezer F2")
        with pytest.raises(services.ProductError) as exc:
            services.correct_lot(lot, quality, reason=REASON, storage_location=freezer)
        assert "already given to patients" in exc.value.errors["storage_location"][0]
        lot.refresh_from_db()
        assert lot.product != other_product and lot.storage_location is None

    def test_the_new_product_must_not_already_have_that_lot_number(
        self, make_lot, quality, other_product
    ):
        make_lot(product=other_product, lot_number="L-001")
        lot = make_lot(lot_number="L-001")
        with pytest.raises(services.ProductError) as exc:
            services.correct_lot(lot, quality, reason=REASON, product=other_product)
        assert "already been received" in exc.value.errors["lot_number"][0]

    def test_a_corrected_location_judges_the_lot_by_its_readings(self, make_lot, quality, clinic_a):
        lot = make_lot(received_at=timezone.now() - timedelta(days=2))
        warm = services.create_location(clinic_a, quality, "Freezer F3")
        services.record_reading(
            warm, quality, temperature_c=-20, recorded_at=timezone.now() - timedelta(days=1)
        )
        done = services.correct_lot(lot, quality, reason=REASON, storage_location=warm)
        lot.refresh_from_db()
        assert lot.storage_location == warm
        assert done.changes == ["storage location none → Freezer F3"]
        assert lot.blocked and lot.excursions.count() == 1

    def test_quality_corrects_the_product_on_the_lot_page(
        self, client, make_lot, quality, other_product
    ):
        lot = make_lot()
        client.force_login(quality)
        form = client.get(f"/products/lots/{lot.pk}/correct/").content.decode()
        assert 'name="product"' in form and 'name="storage_location"' in form
        response = client.post(
            f"/products/lots/{lot.pk}/correct/",
            {
                "product": other_product.pk, "lot_number": "L-001",
                "expiry_date": lot.expiry_date.isoformat(), "quantity_received": 10,
                "reason": REASON,
            },
        )  # fmt: skip
        assert response.status_code == 302
        assert Lot.objects.get(pk=lot.pk).product == other_product

    def test_the_api_corrects_the_product_and_refuses_another_clinics(
        self, client, make_lot, quality, clinic_a, clinic_b, api_token, other_product
    ):
        from anagen.products.models import Product

        elsewhere = Product.objects.get(pk=other_product.pk)
        elsewhere.pk, elsewhere.clinic = None, clinic_b
        elsewhere.save()
        lot = make_lot()
        token = api_token(quality, clinic_a)
        response = TestApi().call(
            client, token, lot, {"product_id": other_product.pk, "reason": REASON}
        )
        assert response.status_code == 200, response.content
        assert response.json()["lot"]["product_id"] == other_product.pk
        assert Lot.objects.get(pk=lot.pk).product == other_product
        response = TestApi().call(
            client, token, lot, {"product_id": elsewhere.pk, "reason": REASON}
        )
        assert response.status_code == 400
        assert response.json()["detail"] == "product_id: no such product in this clinic"
        assert Lot.objects.get(pk=lot.pk).product == other_product
