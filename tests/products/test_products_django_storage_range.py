# ruff: noqa: F811 — pytest fixtures imported from the support module are redefined as arguments.
"""A storage location may have a set range (a 2–8 °C fridge, a −80 °C freezer); a lot is
received into it only if its product's storage range covers that range, whether received in
the form, by the API or from an import file. A location without a set range is not checked."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from anagen.products import services
from anagen.products.models import Lot, StorageLocation

from .test_products_django_support import good_results, make_lot, product, quality

pytestmark = pytest.mark.django_db

# The support module's product is frozen: stored at −90 to −60 °C.
REFUSAL = (
    "Fridge R1 is set to 2.0 to 8.0 °C, not within UC-MSC Exosome 10B's storage range of "
    "−90.0 to −60.0 °C: choose a storage location that keeps it in range."
)


def test_support_names_are_used():
    assert good_results and make_lot and product and quality


@pytest.fixture
def fridge(clinic_a, quality) -> StorageLocation:
    return services.create_location(
        clinic_a, quality, "Fridge R1", set_min_temperature_c="2", set_max_temperature_c="8.0"
    )


@pytest.fixture
def freezer(clinic_a, quality) -> StorageLocation:
    return services.create_location(
        clinic_a, quality, "Freezer F1", set_min_temperature_c=-85, set_max_temperature_c=-75
    )


def receive(product, quality, where) -> Lot:
    return services.receive_lot(
        product.clinic, quality, product=product, lot_number="UC-1",
        expiry_date=date.today() + timedelta(days=200), quantity_received=5,
        storage_location=where,
    )  # fmt: skip


def receipt_form(product, where) -> dict:
    """The lot receipt form as a user fills it: lot UC-1, 5 vials, good for 200 days."""
    return {
        "product": product.pk,
        "lot_number": "UC-1",
        "expiry_date": f"{date.today() + timedelta(days=200):%Y-%m-%d}",
        "quantity_received": 5,
        "storage_location": where.pk,
    }


class TestReceivingIntoALocation:
    def test_a_frozen_product_is_refused_in_a_fridge_naming_both_ranges(
        self, product, quality, fridge
    ):
        with pytest.raises(services.ProductError) as err:
            receive(product, quality, fridge)
        assert err.value.errors["storage_location"] == [REFUSAL]
        assert not Lot.objects.exists()

    def test_a_freezer_within_the_range_is_accepted(self, product, quality, freezer):
        assert receive(product, quality, freezer).storage_location == freezer

    def test_a_location_without_a_set_range_is_not_checked(self, product, quality, clinic_a):
        shelf = services.create_location(clinic_a, quality, "Shelf")
        assert shelf.set_min_temperature_c is None
        assert receive(product, quality, shelf).storage_location == shelf

    def test_a_location_reaching_past_the_range_is_refused(self, product, quality, clinic_a):
        wide = services.create_location(
            clinic_a, quality, "Deep freezer", set_min_temperature_c="-95",
            set_max_temperature_c="-70",
        )  # fmt: skip
        with pytest.raises(services.ProductError) as err:
            receive(product, quality, wide)
        assert "set to −95.0 to −70.0 °C" in err.value.errors["storage_location"][0]

    def test_the_import_file_is_refused_with_its_row(self, product, quality, fridge):
        text = (
            "manufacturer,product_name,lot_number,expiry_date,quantity_received,storage_location\n"
            f"Cordis Bio,UC-MSC Exosome 10B,UC-1,{date.today() + timedelta(days=200)},5,"
            "fridge r1\n"
        )
        with pytest.raises(services.ProductError) as err:
            services.import_lots(product.clinic, quality, "lots.csv", text.encode())
        assert err.value.errors["row 1, storage_location"] == [REFUSAL]
        assert not Lot.objects.exists()

    def test_the_web_form_shows_it_beside_the_location(self, client, product, quality, fridge):
        client.force_login(quality)
        response = client.post(
            "/products/lots/receive/",
            receipt_form(product, fridge),
        )
        assert response.status_code == 400
        assert "Fridge R1 is set to 2.0 to 8.0 °C, not within UC-MSC Exosome 10B" in (
            response.content.decode().replace("&#x27;", "'")
        )
        assert not Lot.objects.exists()

    def test_the_web_form_shows_it_with_its_own_errors_in_one_answer(
        self, client, product, quality, fridge
    ):
        # The vial count is missing (a form error) and the lot is expired and the fridge
        # out of range (the service's checks): all three are named at once.
        client.force_login(quality)
        response = client.post(
            "/products/lots/receive/",
            {
                "product": product.pk,
                "lot_number": "UC-1",
                "expiry_date": f"{date.today() - timedelta(days=1):%Y-%m-%d}",
                "quantity_received": "",
                "storage_location": fridge.pk,
            },
        )
        assert response.status_code == 400
        errors = response.context["form"].errors
        assert set(errors) == {"quantity_received", "expiry_date", "storage_location"}
        assert errors["storage_location"] == [REFUSAL]
        assert errors["expiry_date"][0].startswith("The lot expired on")
        assert not Lot.objects.exists()

    def test_a_lot_received_into_a_freezer_reading_out_of_range_is_said_to_be_blocked(
        self, client, product, quality, freezer
    ):
        """The person receiving it is told at once, in words, why it is blocked."""
        from django.utils import timezone

        services.record_reading(
            freezer, quality, recorded_at=timezone.now() - timedelta(minutes=30),
            temperature_c=-50,
        )  # fmt: skip
        client.force_login(quality)
        response = client.post(
            "/products/lots/receive/",
            receipt_form(product, freezer),
            follow=True,
        )
        lot = Lot.objects.get()
        assert lot.blocked
        said = [str(m) for m in response.context["messages"]]
        assert said[0] == "Lot UC-1 received and quarantined."
        assert said[1] == services.received_blocked_notice(lot)
        assert said[1].startswith("Cold-chain excursion ")
        assert said[1].endswith(
            "at Freezer F1: the lot is blocked until quality decides (it was received into a "
            "location whose latest reading is out of its range)."
        )
        assert services.received_blocked_notice(Lot(blocked=False)) == ""


class TestTheSetRange:
    def test_is_stored_with_one_decimal(self, fridge):
        assert (fridge.set_min_temperature_c, fridge.set_max_temperature_c) == (
            Decimal("2.0"),
            Decimal("8.0"),
        )

    @pytest.mark.parametrize(
        ("low", "high", "field", "message"),
        [
            ("2", "", "set_max_temperature_c", "Give both ends of the set range, or neither."),
            (None, "8", "set_min_temperature_c", "Give both ends of the set range, or neither."),
            ("8", "2", "set_max_temperature_c", "The maximum must not be below the minimum."),
            ("two", "8", "set_min_temperature_c", "Expected a number."),
            ("2.05", "8", "set_min_temperature_c", "Give at most 1 decimal place, got 2.05."),
        ],
    )
    def test_is_checked(self, clinic_a, quality, low, high, field, message):
        with pytest.raises(services.ProductError) as err:
            services.create_location(
                clinic_a, quality, "Fridge", set_min_temperature_c=low, set_max_temperature_c=high
            )
        assert err.value.errors[field] == [message]
        assert not StorageLocation.objects.exists()

    def test_is_entered_in_the_form_and_shown(self, client, quality):
        client.force_login(quality)
        response = client.post(
            "/products/storage/new/",
            {"name": "Fridge R9", "set_min_temperature_c": "2", "set_max_temperature_c": "8"},
        )
        assert response.status_code == 302, response.content
        location = StorageLocation.objects.get(name="Fridge R9")
        assert location.set_max_temperature_c == Decimal("8.0")
        page = client.get(f"/products/storage/{location.pk}/").content.decode()
        assert "Set to 2.0 to 8.0 °C" in page

    def test_is_given_and_returned_by_the_api(self, client, quality, api_token, clinic_a):
        response = client.post(
            "/api/v1/products/locations",
            {"name": "Fridge R9", "set_min_temperature_c": 2, "set_max_temperature_c": 8},
            content_type="application/json",
            headers={"Authorization": f"Bearer {api_token(quality, clinic_a)}"},
        )
        assert response.status_code == 201, response.content
        body = response.json()
        assert (body["set_min_temperature_c"], body["set_max_temperature_c"]) in (
            ("2.0", "8.0"),
            (2.0, 8.0),
        )
