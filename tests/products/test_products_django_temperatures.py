# ruff: noqa: F811 — pytest fixtures imported from the support module are redefined as arguments.
"""Temperatures are stored as read (two decimals at most), never rounded across a limit; and
the API words flagged excursions as the web does."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from anagen.products import coldchain, services
from anagen.products.models import Excursion, TemperatureReading

from .test_products_django_support import good_results, make_lot, product, quality

pytestmark = pytest.mark.django_db


def test_support_names_are_used():
    assert good_results and make_lot and product and quality


@pytest.fixture
def fridge_product(clinic_a, quality):
    return services.create_product(
        clinic_a,
        quality,
        {
            "manufacturer": "Cordis Bio",
            "name": "Lyophilised Exosome 5B",
            "source_tissue": "umbilical_cord",
            "donor_type": "allogeneic_single",
            "form": "frozen_liquid",
            "labelled_particles_per_vial": 1.0e10,
            "volume_ml": Decimal("1.000"),
            "storage_min_temperature_c": Decimal("2"),
            "storage_max_temperature_c": Decimal("8"),
            "storage_requirement": "Store at 2–8 °C",
            "regulatory_status": {"US": "Investigational use only."},
        },
    )


@pytest.fixture
def fridge(clinic_a, quality):
    return services.create_location(clinic_a, quality, "Fridge R1")


@pytest.fixture
def lot(make_lot, fridge, fridge_product):
    return make_lot(
        released=True,
        product=fridge_product,
        storage_location=fridge,
        received_at=timezone.now() - timedelta(days=1),
    )


def at(lot, minutes: int):
    return lot.received_at + timedelta(hours=1, minutes=minutes)


class TestTwoDecimals:
    def test_8_05_in_a_2_to_8_fridge_is_stored_exactly_and_is_an_excursion(
        self, lot, fridge, quality
    ):
        services.record_reading(fridge, quality, recorded_at=at(lot, 0), temperature_c="5")
        _, flagged = services.record_reading(
            fridge, quality, recorded_at=at(lot, 10), temperature_c="8.05"
        )
        assert TemperatureReading.objects.get(recorded_at=at(lot, 10)).temperature_c == Decimal(
            "8.05"
        )
        [excursion] = flagged
        assert excursion.extreme_temperature_c == Decimal("8.05")
        lot.refresh_from_db()
        assert lot.blocked

    def test_more_than_two_decimals_are_refused(self, lot, fridge, quality):
        with pytest.raises(services.ProductError) as err:
            services.record_reading(fridge, quality, recorded_at=at(lot, 0), temperature_c="8.051")
        assert "at most 2 decimal places" in err.value.errors["temperature_c"][0]
        assert not TemperatureReading.objects.exists()

    def test_trailing_zeros_are_not_extra_decimals(self, lot, fridge, quality):
        reading, _ = services.record_reading(
            fridge, quality, recorded_at=at(lot, 0), temperature_c="4.500"
        )
        assert reading.temperature_c == Decimal("4.5")

    def test_a_logger_file_keeps_two_decimals_and_rounds_finer_ones(self, lot, fridge, quality):
        rows = [(0, "5"), (10, "8.05"), (20, "5")]
        text = "recorded_at,temperature_c\n" + "".join(
            f"{at(lot, m).isoformat()},{t}\n" for m, t in rows
        )
        count, flagged = services.import_readings(fridge, quality, text.encode())
        assert count == 3 and len(flagged) == 1
        assert Excursion.objects.get(lot=lot).extreme_temperature_c == Decimal("8.05")

        # A sensor's third decimal (or Excel's float noise) is rounded half up, not refused:
        # a whole file was refused for one such value (a review found it).
        finer = "recorded_at,temperature_c\n" + "".join(
            f"{at(lot, m).isoformat()},{t}\n"
            for m, t in [(30, "4.125"), (40, "8.050000000000001"), (50, "x")]
        )
        with pytest.raises(services.ProductError) as err:
            services.import_readings(fridge, quality, finer.encode())
        assert "row 3, temperature_c: expected a number, got 'x'" in str(err.value)
        count, _ = services.import_readings(fridge, quality, finer.rsplit("\n", 2)[0].encode())
        assert count == 2
        stored = TemperatureReading.objects.order_by("-recorded_at")[:2]
        assert [r.temperature_c for r in stored] == [Decimal("8.05"), Decimal("4.13")]

    def test_the_pure_check(self):
        coldchain.check_temperature_decimals(Decimal("-80.25"))
        with pytest.raises(ValueError, match="8.05, not 8.051"):
            coldchain.check_temperature_decimals(Decimal("8.051"))

    def test_the_api_refuses_three_decimals_naming_the_field(
        self, client, lot, fridge, quality, api_token, clinic_a
    ):
        response = client.post(
            f"/api/v1/products/locations/{fridge.pk}/readings",
            {"recorded_at": at(lot, 0).isoformat(), "temperature_c": 8.051},
            content_type="application/json",
            headers={"Authorization": f"Bearer {api_token(quality, clinic_a)}"},
        )
        assert response.status_code == 400, response.content
        assert response.json()["detail"].startswith("temperature_c:")
        assert "2 decimal places" in response.json()["detail"]

    def test_the_web_form_refuses_three_decimals_in_words(self, client, lot, fridge, quality):
        client.force_login(quality)
        when = timezone.localtime(at(lot, 0))
        response = client.post(
            f"/products/storage/{fridge.pk}/readings/",
            {"recorded_at": f"{when:%Y-%m-%dT%H:%M}", "temperature_c": "8.051"},
        )
        assert response.status_code == 400
        assert "Give at most 2 decimal places (8.05, not 8.051)." in response.content.decode()
        assert not TemperatureReading.objects.exists()

        response = client.post(
            f"/products/storage/{fridge.pk}/readings/",
            {"recorded_at": f"{when:%Y-%m-%dT%H:%M}", "temperature_c": "8.05"},
        )
        assert response.status_code == 302
        assert TemperatureReading.objects.get().temperature_c == Decimal("8.05")


def test_the_api_words_a_new_excursion_as_the_web_does(
    client, lot, fridge, quality, api_token, clinic_a
):
    response = client.post(
        f"/api/v1/products/locations/{fridge.pk}/readings",
        {"recorded_at": at(lot, 0).isoformat(), "temperature_c": 12},
        content_type="application/json",
        headers={"Authorization": f"Bearer {api_token(quality, clinic_a)}"},
    )
    assert response.status_code == 201, response.content
    [text] = response.json()["excursions_flagged"]
    assert text.startswith(f"lot {lot.lot_number}: ongoing since ")
    assert "duration not known until a reading back in range" in text
    assert "0 min" not in text


class TestOneWayToPrintATemperature:
    """One decimal, or two when the second is not 0 (5.0, 5.5, 8.05), with a true minus,
    in pages, messages and the API's words alike."""

    @pytest.mark.parametrize(
        ("value", "text"),
        [
            (Decimal("5"), "5.0"),
            (Decimal("5.50"), "5.5"),
            (Decimal("4.50"), "4.5"),
            (Decimal("8.05"), "8.05"),
            (Decimal("8.20"), "8.2"),
            (8.2, "8.2"),
            (-80, "−80.0"),
            (Decimal("-0.00"), "0.0"),
            ("12.25", "12.25"),
        ],
    )
    def test_temperature_text(self, value, text):
        assert coldchain.temperature_text(value) == text

    def test_the_template_filter_is_the_same_function(self):
        from anagen.products.templatetags.products_tags import temperature

        assert temperature(Decimal("5.50")) == "5.5"
        assert temperature(None) == ""

    def test_the_location_page_prints_readings_the_one_way(self, client, lot, fridge, quality):
        for minutes, value in ((0, "5"), (10, "5.5"), (20, "4.5"), (30, "8.05")):
            services.record_reading(
                fridge, quality, recorded_at=at(lot, minutes), temperature_c=value
            )
        client.force_login(quality)
        page = client.get(f"/products/storage/{fridge.pk}/").content.decode()
        readings = page.split("Recent readings")[1]
        for shown in ("<td>5.0</td>", "<td>5.5</td>", "<td>4.5</td>", "<td>8.05</td>"):
            assert shown in readings
        for old in ("<td>5</td>", "<td>5.50</td>", "<td>4.50</td>"):
            assert old not in readings
        assert "(2.0 to 8.0 °C)" in page  # the product's range of a stored lot

    def test_the_block_reason_and_the_excursion_table_agree(self, client, lot, fridge, quality):
        services.record_reading(fridge, quality, recorded_at=at(lot, 0), temperature_c="8.20")
        services.record_reading(fridge, quality, recorded_at=at(lot, 10), temperature_c="5")
        lot.refresh_from_db()
        assert "extreme 8.2 °C" in lot.block_reason
        client.force_login(quality)
        page = client.get(f"/products/lots/{lot.pk}/").content.decode()
        table = page.split('id="excursions"')[1]
        assert "<td>8.2 °C</td>" in table and "8.20 °C" not in table
        assert "2.0 to 8.0 °C" in table

    def test_after_the_clinic_sets_its_zone_the_block_reason_reads_in_it(
        self, client, lot, fridge, quality, clinic_a
    ):
        """The stored reason said "… UTC" beside an excursion table in NZDT."""
        services.record_reading(fridge, quality, recorded_at=at(lot, 0), temperature_c="9")
        services.record_reading(fridge, quality, recorded_at=at(lot, 10), temperature_c="5")
        lot.refresh_from_db()
        assert "UTC" in lot.block_reason  # written while the clinic had the default zone
        clinic_a.time_zone = "Pacific/Auckland"
        clinic_a.save(update_fields=["time_zone"])
        client.force_login(quality)
        page = client.get(f"/products/lots/{lot.pk}/").content.decode()
        blocked = page.split("<dt>Blocked</dt>")[1].split("</dd>")[0]
        assert "UTC" not in blocked and ("NZDT" in blocked or "NZST" in blocked)

    def test_the_api_words_the_extreme_the_same_way(
        self, client, lot, fridge, quality, api_token, clinic_a
    ):
        response = client.post(
            f"/api/v1/products/locations/{fridge.pk}/readings",
            {"recorded_at": at(lot, 0).isoformat(), "temperature_c": "12.50"},
            content_type="application/json",
            headers={"Authorization": f"Bearer {api_token(quality, clinic_a)}"},
        )
        [text] = response.json()["excursions_flagged"]
        assert text.endswith("extreme 12.5 °C")


class TestALoggerFileOverlappingStoredReadings:
    """A logger row at the time of a stored (hand-entered) reading was skipped whatever its
    value: a 12 °C logger reading under a 5.2 °C hand entry vanished, and with it the
    excursion. The same value again is a re-import and is skipped; a different one refuses
    the file, naming it."""

    def _csv(self, lot, rows) -> bytes:
        return ("recorded_at,temperature_c\n" + "".join(
            f"{at(lot, m).isoformat()},{t}\n" for m, t in rows)).encode()  # fmt: skip

    def test_a_different_value_at_a_stored_time_refuses_the_file(self, lot, fridge, quality):
        services.record_reading(fridge, quality, recorded_at=at(lot, 0), temperature_c="5.2")
        with pytest.raises(services.ProductError) as refused:
            services.import_readings(fridge, quality, self._csv(lot, [(0, "12.0"), (15, "5")]))
        message = refused.value.errors["file"][0]
        assert "1 reading(s) in the file differ from the readings already stored" in message
        assert "stored 5.2 °C, in the file 12.0 °C" in message
        assert "Nothing was imported" in message
        assert [r.temperature_c for r in TemperatureReading.objects.all()] == [Decimal("5.2")]

    def test_the_same_value_again_is_a_re_import_and_adds_only_new_rows(self, lot, fridge, quality):
        services.import_readings(fridge, quality, self._csv(lot, [(0, "5.2")]))
        count, _ = services.import_readings(
            fridge, quality, self._csv(lot, [(0, "5.20"), (15, "5")])
        )
        assert count == 1
        assert TemperatureReading.objects.count() == 2
