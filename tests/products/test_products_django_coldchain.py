# ruff: noqa: F811 — pytest fixtures imported from the support module are redefined as arguments.
"""Cold chain: readings, logger import, excursion flags that block lots until quality decides,
and the pure excursion detector."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from anagen.accounts.roles import Role
from anagen.products import coldchain, services
from anagen.products.models import Excursion, Lot, LotStatus, TemperatureReading

from .test_products_django_support import (
    good_results,
    make_lot,
    product,
    quality,
    quality2,
)

T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)


def a_day_ago() -> datetime:
    from django.utils import timezone

    return timezone.now() - timedelta(days=1)


def reading(minutes: int, temp: float) -> coldchain.Reading:
    return coldchain.Reading(T0 + timedelta(minutes=minutes), temp)


class TestFindExcursions:
    def test_a_span_outside_the_range_is_one_excursion_with_its_duration_and_extreme(self):
        readings = [reading(0, -80), reading(30, -55), reading(60, -40), reading(90, -81)]
        [span] = coldchain.find_excursions(readings, -90, -60)
        assert span.started_at == T0 + timedelta(minutes=30)
        assert span.ended_at == T0 + timedelta(minutes=90)
        assert span.duration_minutes == 60
        assert span.extreme_c == -40

    def test_the_limits_themselves_are_in_range(self):
        assert coldchain.find_excursions([reading(0, 2), reading(5, 8)], 2, 8) == []

    def test_an_excursion_still_open_at_the_last_reading_has_no_end(self):
        [span] = coldchain.find_excursions([reading(0, 5), reading(10, 9), reading(40, 10)], 2, 8)
        assert span.ended_at is None and span.duration_minutes == 30

    def test_too_cold_is_an_excursion_too(self):
        [span] = coldchain.find_excursions([reading(0, 5), reading(10, -1), reading(20, 4)], 2, 8)
        assert span.extreme_c == -1

    @given(
        st.lists(
            st.tuples(st.integers(0, 10_000), st.floats(-20, 30, allow_nan=False)),
            unique_by=lambda t: t[0],
            max_size=40,
        )
    )
    def test_spans_cover_exactly_the_readings_outside_the_range(self, pairs):
        readings = [reading(m, t) for m, t in pairs]
        spans = coldchain.find_excursions(readings, 2, 8)
        outside = {r.at for r in readings if not 2 <= r.temperature_c <= 8}
        covered = {
            r.at
            for r in readings
            for s in spans
            if s.started_at <= r.at and (s.ended_at is None or r.at < s.ended_at)
        }
        assert covered == outside
        for s in spans:
            assert s.duration_minutes >= 0
            assert not 2 <= s.extreme_c <= 8


class TestLoggerCsv:
    def test_a_good_file_is_read(self):
        text = "recorded_at,temperature_c\n2026-11-01T08:00:00Z,-80.1\n2026-11-01T10:00+01:00,-79\n"
        readings = coldchain.parse_logger_csv(text)
        assert [r.temperature_c for r in readings] == [-80.1, -79.0]
        assert readings[1].at == T0 + timedelta(hours=1)  # 10:00+01:00 is 09:00 UTC

    @pytest.mark.parametrize(
        ("text", "says"),
        [
            # A row with an extra cell was stored silently.
            (
                "recorded_at,temperature_c\n2026-11-01T08:00Z,-80,extra\n",
                "row 1, csv: more cells than columns in the header",
            ),
            # Out of range, not "expected a number".
            (
                "recorded_at,temperature_c\n2026-11-01T08:00Z,1e308\n",
                "row 1, temperature_c: 1e308 °C is outside the possible",
            ),
            (
                "recorded_at,temperature_c\n2026-11-01T08:00Z,99999999999999999999999999999\n",
                "°C is outside the possible",
            ),
            (
                "recorded_at;temperature_c\n2026-11-01T08:00Z;-80\n",
                "separated by semicolons: export comma-separated values",
            ),
        ],
    )
    def test_malformed_rows_are_refused_in_words(self, text, says):
        with pytest.raises(coldchain.LoggerFileError) as err:
            coldchain.parse_logger_csv(text)
        assert says in str(err.value)

    def test_a_utf16_file_is_named_as_such(self):
        content = "recorded_at,temperature_c\n2026-11-01T08:00Z,-80\n".encode("utf-16")
        assert "UTF-16 text" in coldchain.not_csv_reason(content)

    @pytest.mark.parametrize(
        ("text", "where"),
        [
            ("recorded_at,temperature_f\n2026-11-01T08:00Z,-112\n", "temperature_c"),
            ("recorded_at,temperature_c\n2026-11-01T08:00Z,cold\n", "row 1, temperature_c"),
            ("recorded_at,temperature_c\n2026-11-01 08:00,-80\n", "row 1, recorded_at"),
            ("recorded_at,temperature_c\n2026-11-01T08:00Z,-80\n2026-11-01T08:00Z,-79\n", "row 2"),
            ("recorded_at,temperature_c\n2026-11-01T08:00Z,-500\n", "row 1, temperature_c"),
        ],
    )
    def test_bad_files_name_the_row_and_field(self, text, where):
        with pytest.raises(coldchain.LoggerFileError) as err:
            coldchain.parse_logger_csv(text)
        assert where in str(err.value)

    def test_a_row_with_a_bad_time_and_a_bad_temperature_names_both(self):
        with pytest.raises(coldchain.LoggerFileError) as err:
            coldchain.parse_logger_csv("recorded_at,temperature_c\n2026-11-01 08:00,cold\n")
        assert [(i.row, i.field) for i in err.value.issues] == [
            (1, "recorded_at"), (1, "temperature_c"),
        ]  # fmt: skip


@pytest.mark.django_db
class TestExcursionsBlockLots:
    @pytest.fixture
    def freezer(self, clinic_a, quality):
        return services.create_location(clinic_a, quality, "Freezer F1")

    def test_an_excursion_blocks_the_lot_until_quality_accepts_it(
        self, make_lot, freezer, quality, clinic_a, make_user
    ):
        lot = make_lot(released=True, storage_location=freezer, received_at=a_day_ago())
        now = lot.received_at + timedelta(hours=1)
        services.record_reading(freezer, quality, recorded_at=now, temperature_c=-80)
        _, flagged = services.record_reading(
            freezer, quality, recorded_at=now + timedelta(minutes=30), temperature_c=-50
        )
        assert len(flagged) == 1
        lot.refresh_from_db()
        assert lot.blocked and "excursion" in lot.block_reason.lower()
        nurse = make_user(Role.NURSE, clinic_a)
        patient_owner = make_user(Role.ADMIN, clinic_a)
        from anagen.patients.services import create_patient

        patient = create_patient(
            clinic_a,
            patient_owner,
            {
                "medical_record_number": "CC-1",
                "given_name": "A",
                "family_name": "B",
                "date_of_birth": datetime(1980, 1, 1).date(),
                "sex_at_birth": "female",
            },
        )
        from django.utils import timezone

        today = timezone.localdate()  # the lot was released today
        with pytest.raises(services.NotUsable, match="blocked"):
            services.draw_vials(lot, patient, 1, nurse, on_date=today)

        # Back in range: the excursion closes with its duration.
        services.record_reading(
            freezer, quality, recorded_at=now + timedelta(minutes=75), temperature_c=-79
        )
        excursion = Excursion.objects.get(lot=lot)
        assert excursion.duration_minutes == 45 and excursion.ended_at is not None

        with pytest.raises(services.ProductError) as err:
            services.decide_excursions(lot, quality, "accept", "short")
        assert "reason" in err.value.errors
        services.decide_excursions(
            lot, quality, "accept", "Manufacturer stability data cover 1 h at −50 °C"
        )
        lot.refresh_from_db()
        assert not lot.blocked
        services.draw_vials(lot, patient, 1, nurse, on_date=today)

    def test_a_quarantined_lot_with_an_undecided_excursion_is_not_released(
        self, make_lot, freezer, quality
    ):
        """It was released with "every criterion passes" while its excursion awaited a
        decision; release now waits for quality's decision on the excursion."""
        lot = make_lot(
            storage_location=freezer, received_at=a_day_ago(), results=good_results()
        )  # quarantined, with a passing CoA
        now = lot.received_at + timedelta(hours=1)
        services.record_reading(freezer, quality, recorded_at=now, temperature_c=-50)
        services.record_reading(
            freezer, quality, recorded_at=now + timedelta(minutes=20), temperature_c=-80
        )
        with pytest.raises(services.ProductError) as refused:
            services.release_lot(lot, quality)
        message = refused.value.errors["__all__"][0]
        assert message.startswith("A cold-chain excursion of this lot awaits quality's decision")
        assert "accept or reject it first, then release the lot." in message
        lot.refresh_from_db()
        assert lot.status == "quarantined"
        services.decide_excursions(lot, quality, "accept", "Stability data cover 20 min at −50 °C")
        services.release_lot(lot, quality)
        lot.refresh_from_db()
        assert lot.status == "released"

    def test_rejecting_after_an_excursion_rejects_the_lot(self, make_lot, freezer, quality):
        lot = make_lot(released=True, storage_location=freezer, received_at=a_day_ago())
        services.record_reading(
            freezer, quality, recorded_at=lot.received_at + timedelta(hours=1), temperature_c=-20
        )
        services.decide_excursions(lot, quality, "reject", "Thawed: not usable for injection")
        lot.refresh_from_db()
        assert lot.status == LotStatus.REJECTED

    def test_an_excursion_that_ended_before_the_lot_arrived_does_not_flag_it(
        self, make_lot, freezer, quality
    ):
        lot = make_lot(released=True, storage_location=freezer, received_at=a_day_ago())
        for hours, temp in ((-3, -20), (-2, -80)):
            services.record_reading(
                freezer, quality, recorded_at=lot.received_at + timedelta(hours=hours),
                temperature_c=temp,
            )  # fmt: skip
        lot.refresh_from_db()
        assert not lot.blocked

    def test_a_lot_received_into_a_location_reading_out_of_range_is_blocked_from_receipt(
        self, make_lot, freezer, quality
    ):
        """The freezer's latest reading was -50 °C when the lot was put in: it was released
        with "no excursions recorded" beside that reading."""
        services.record_reading(
            freezer, quality, recorded_at=a_day_ago() - timedelta(hours=1), temperature_c=-50
        )
        lot = make_lot(storage_location=freezer, received_at=a_day_ago(), results=good_results())
        assert lot.blocked
        excursion = Excursion.objects.get(lot=lot)
        assert excursion.started_at == lot.received_at and excursion.ended_at is None
        with pytest.raises(services.ProductError, match="awaits quality's decision"):
            services.release_lot(lot, quality)
        # Back in range: the excursion closes and quality can decide.
        services.record_reading(
            freezer, quality, recorded_at=lot.received_at + timedelta(minutes=40),
            temperature_c=-80,
        )  # fmt: skip
        excursion.refresh_from_db()
        assert excursion.duration_minutes == 40

    def test_a_receipt_excursion_shown_wrong_by_a_late_reading_gives_way_to_the_real_one(
        self, make_lot, freezer, quality
    ):
        """A reading entered late shows the freezer in range at receipt, and a later one out
        of range: one live excursion, from the later reading (the receipt one stayed
        beside it, ongoing for good, and only 'reject' was offered)."""
        services.record_reading(
            freezer, quality, recorded_at=a_day_ago() - timedelta(hours=1), temperature_c=-50
        )
        lot = make_lot(storage_location=freezer, received_at=a_day_ago(), results=good_results())
        assert lot.blocked
        for minutes, temp in ((-30, -80), (60, -50)):
            services.record_reading(
                freezer, quality, recorded_at=lot.received_at + timedelta(minutes=minutes),
                temperature_c=temp,
            )  # fmt: skip
        [live] = Excursion.objects.filter(lot=lot, voided_at__isnull=True)
        assert live.started_at == lot.received_at + timedelta(minutes=60)
        lot.refresh_from_db()
        assert lot.blocked

    def test_a_reading_a_day_before_receipt_does_not_stand_for_it(self, make_lot, freezer, quality):
        services.record_reading(
            freezer, quality, recorded_at=a_day_ago() - timedelta(hours=25), temperature_c=-50
        )
        lot = make_lot(storage_location=freezer, received_at=a_day_ago(), results=good_results())
        assert not lot.blocked

    def test_logger_import_is_all_or_nothing_and_flags_excursions(self, make_lot, freezer, quality):
        lot = make_lot(released=True, storage_location=freezer, received_at=a_day_ago())
        base = lot.received_at + timedelta(hours=1)
        good = "recorded_at,temperature_c\n" + "".join(
            f"{(base + timedelta(hours=h)).isoformat()},{t}\n"
            for h, t in enumerate([-80, -81, -45, -44, -80])
        )
        bad = good + "not-a-time,-80\n"
        with pytest.raises(services.ProductError) as err:
            services.import_readings(freezer, quality, bad.encode())
        assert "row 6, recorded_at" in str(err.value)
        assert not TemperatureReading.objects.exists()

        count, flagged = services.import_readings(freezer, quality, good.encode())
        assert count == 5 and len(flagged) == 1
        assert flagged[0].duration_minutes == 120
        # Importing the same logger file again adds nothing and flags nothing new.
        count, flagged = services.import_readings(freezer, quality, good.encode())
        assert (count, flagged) == (0, [])

    def test_a_manual_reading_in_the_future_or_implausible_is_refused(self, freezer, quality):
        from django.utils import timezone

        with pytest.raises(services.ProductError) as err:
            services.record_reading(
                freezer, quality, recorded_at=timezone.now() + timedelta(days=1), temperature_c=-80
            )
        assert "recorded_at" in err.value.errors
        with pytest.raises(services.ProductError) as err:
            services.record_reading(
                freezer, quality, recorded_at=timezone.now(), temperature_c=-400
            )
        assert "temperature_c" in err.value.errors
        assert not TemperatureReading.objects.exists()


def test_support_names_are_used():
    # The imported fixtures are used by pytest through argument names.
    assert good_results and make_lot and product and quality and quality2


class TestReadingTimes:
    """Readings must fall between 2000-01-01 UTC and a few minutes after now."""

    @pytest.fixture
    def freezer(self, clinic_a, quality):
        return services.create_location(clinic_a, quality, "Freezer F1")

    @pytest.mark.parametrize(
        "text", ["0001-01-01T00:00:00+05:00", "0001-01-01T00:00:01Z", "1970-01-01T00:00:00Z"]
    )
    def test_a_reset_logger_clock_is_refused_in_files(self, text):
        with pytest.raises(ValueError, match="before 2000-01-01"):
            coldchain.parse_timestamp(text)

    def test_the_first_second_of_2000_utc_is_accepted(self):
        at = coldchain.parse_timestamp("2000-01-01T01:00:00+01:00")
        assert at == coldchain.EARLIEST_READING

    @pytest.mark.parametrize(
        ("text", "words"),
        [
            ("0001-01-01T00:00:00+05:00", "before 2000-01-01"),
            ("0001-01-01T00:00:01Z", "before 2000-01-01"),
            ("2999-01-01T00:00:00Z", "future"),
        ],
    )
    @pytest.mark.django_db
    def test_a_manual_reading_outside_the_window_is_refused_by_the_api(
        self, client, freezer, quality, api_token, clinic_a, text, words
    ):
        response = client.post(
            f"/api/v1/products/locations/{freezer.pk}/readings",
            {"recorded_at": text, "temperature_c": -80},
            content_type="application/json",
            headers={"Authorization": f"Bearer {api_token(quality, clinic_a)}"},
        )
        assert response.status_code == 400, response.content
        detail = response.json()["detail"]
        assert detail.startswith("recorded_at:") and words in detail
        assert not TemperatureReading.objects.exists()

    @pytest.mark.django_db
    def test_a_logger_file_with_future_readings_stores_nothing(self, freezer, quality):
        from django.utils import timezone

        later = (timezone.now() + timedelta(days=2)).isoformat()
        text = f"recorded_at,temperature_c\n2026-01-01T00:00:00Z,-80\n{later},-80\n"
        with pytest.raises(services.ProductError, match="future"):
            services.import_readings(freezer, quality, text.encode())
        assert not TemperatureReading.objects.exists()


class TestExcursionsInWords:
    """An ongoing excursion has no duration yet; a closed one keeps it."""

    def test_an_ongoing_excursion_is_not_said_to_last_zero_minutes(self):
        text = coldchain.excursion_summary(T0, None, 0, -40.0)
        assert text == (
            "ongoing since 2026-11-01 08:00 UTC, duration not known until a reading back in "
            "range; extreme −40.0 °C"
        )
        assert "0 min" not in coldchain.excursion_duration(False, 0)

    def test_an_ongoing_excursion_seen_for_a_while_gives_a_lower_bound(self):
        assert coldchain.excursion_duration(False, 30).startswith("at least 30 min so far")

    def test_a_closed_excursion_keeps_its_duration(self):
        text = coldchain.excursion_summary(T0, T0 + timedelta(minutes=45), 45, -40.0)
        assert text == "from 2026-11-01 08:00 UTC to 08:45 UTC (45 min, extreme −40.0 °C)"

    @pytest.mark.parametrize(
        ("minutes", "words"), [(0, "0 min"), (59, "59 min"), (60, "1 h"), (125, "2 h 5 min"),
                               (50 * 60, "2 d 2 h"), (72 * 60, "3 d")],
    )  # fmt: skip
    def test_durations_are_written_as_people_say_them(self, minutes, words):
        assert coldchain.written_duration(minutes) == words


class TestReadingErrorsInWords:
    def test_a_future_time_is_written_with_its_zone_not_in_iso_format(self):
        now = datetime(2026, 12, 4, 21, 40, tzinfo=UTC)
        with pytest.raises(ValueError) as err:
            coldchain.check_reading_time(datetime(2030, 1, 1, 10, 0, tzinfo=UTC), now)
        assert (
            str(err.value)
            == "2030-01-01 10:00 UTC is in the future (it is now 2026-12-04 21:40 UTC)"
        )

    def test_an_impossible_temperature_names_the_possible_range(self):
        with pytest.raises(ValueError) as err:
            coldchain.check_temperature(500)
        assert str(err.value) == "500 °C is outside the possible −200 to 100 °C"

    @pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan")])
    def test_a_number_that_is_no_temperature_is_not_called_inf(self, value):
        with pytest.raises(ValueError) as err:
            coldchain.check_temperature(value)
        assert str(err.value) == "Not a temperature: enter a number of °C between −200 and 100."

    @pytest.mark.parametrize(
        ("content", "words"),
        [
            (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "it is a PNG image"),
            (b"%PDF-1.7\n", "it is a PDF document"),
            (b"PK\x03\x04rest", "Excel .xlsx"),
            (b"recorded_at\x00temperature_c", "binary"),
        ],
    )
    def test_files_that_are_not_csv_are_recognised_by_their_content(self, content, words):
        assert words in coldchain.not_csv_reason(content)

    def test_a_csv_file_is_not_refused_as_binary(self):
        assert coldchain.not_csv_reason(b"recorded_at,temperature_c\n") is None

    def test_a_text_file_without_the_logger_columns_says_what_it_found(self):
        with pytest.raises(coldchain.LoggerFileError) as err:
            coldchain.parse_logger_csv("Date;Temp\n01/11/2026;-80\n")
        assert "not a logger CSV" in str(err.value) and "'Date;Temp'" in str(err.value)


@pytest.mark.django_db
class TestColdChainPages:
    """The storage page as quality uses it: readings by form and file, and their messages."""

    @pytest.fixture
    def freezer(self, clinic_a, quality):
        return services.create_location(clinic_a, quality, "Freezer F1")

    @pytest.fixture
    def page(self, client, quality, freezer):
        quality.first_name, quality.last_name = "Quinn", "Quality"
        quality.save()
        client.force_login(quality)
        return f"/products/storage/{freezer.pk}/"

    def post_reading(self, client, page, when, temperature):
        return client.post(
            page + "readings/",
            {"recorded_at": f"{when:%Y-%m-%dT%H:%M}", "temperature_c": temperature},
            follow=True,
        )

    def test_one_reading_out_of_range_gives_one_message_naming_every_lot(
        self, client, page, make_lot, freezer
    ):
        from django.utils import timezone

        lots = [
            make_lot(released=True, storage_location=freezer, received_at=a_day_ago())
            for _ in range(3)
        ]
        when = timezone.localtime(timezone.now() - timedelta(hours=1)).replace(second=0)
        response = self.post_reading(client, page, when, "-40")
        messages = [str(m) for m in response.context["messages"]]
        flagged = [m for m in messages if "xcursion" in m]
        assert len(flagged) == 1, messages
        [message] = flagged
        assert message.startswith("Excursion flagged for 3 lots: L-001, L-002, L-003 — ")
        assert f"ongoing since {when:%Y-%m-%d %H:%M} UTC" in message
        assert "duration not known until a reading back in range" in message
        assert "0 min" not in message

        lot_page = client.get(f"/products/lots/{lots[0].pk}/").content.decode()
        assert "0 min" not in lot_page
        assert "Cold-chain excursion ongoing since" in lot_page
        assert "<td>duration not known until a reading back in range</td>" in lot_page

        # Back in range: the excursion closes, its duration is known and the lot says so.
        self.post_reading(client, page, when + timedelta(minutes=45), "-80")
        lot_page = client.get(f"/products/lots/{lots[0].pk}/").content.decode()
        assert "<td>45 min</td>" in lot_page
        assert f"Cold-chain excursion from {when:%Y-%m-%d %H:%M} UTC" in lot_page
        assert "ongoing since" not in lot_page

    def test_a_decimal_comma_is_read_as_a_decimal_point(self, client, page, freezer):
        from django.utils import timezone

        when = timezone.localtime(timezone.now() - timedelta(hours=1)).replace(second=0)
        self.post_reading(client, page, when, "-79,5")
        assert [float(r.temperature_c) for r in TemperatureReading.objects.all()] == [-79.5]

    def test_an_impossible_temperature_names_the_possible_range(self, client, page):
        from django.utils import timezone

        response = self.post_reading(client, page, timezone.localtime(), "500")
        assert response.status_code == 400
        text = response.content.decode()
        assert "500 °C is outside the possible −200 to 100 °C" in text
        assert "Ensure this value" not in text
        assert not TemperatureReading.objects.exists()

    def test_a_future_time_is_written_as_people_do(self, client, page):
        when = datetime(2030, 1, 1, 10, 0, tzinfo=UTC)
        response = self.post_reading(client, page, when, "-80")
        assert response.status_code == 400
        text = response.content.decode()
        assert "2030-01-01 10:00 UTC is in the future" in text
        assert "2030-01-01T10:00" not in text.split("<form")[0] + text.split("</form>")[-1]

    def test_a_picture_uploaded_as_logger_file_is_not_a_csv(self, client, page):
        from django.core.files.uploadedfile import SimpleUploadedFile

        png = SimpleUploadedFile("log.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64))
        response = client.post(page + "readings/import/", {"file": png})
        assert response.status_code == 400
        text = response.content.decode()
        assert "This is not a CSV file (it is a PNG image)." in text
        assert "required column missing" not in text

    def test_readings_show_who_entered_them_by_full_name(self, client, page):
        from django.utils import timezone

        self.post_reading(client, page, timezone.localtime() - timedelta(minutes=10), "-80")
        table = client.get(page).content.decode().split("Recent readings")[1]
        assert "<td>Quinn Quality</td>" in table and "quality-1" not in table


@pytest.mark.parametrize(
    ("text", "words"),
    [
        # A cell over the csv module's limit raised csv.Error out of the parser.
        ('recorded_at,temperature_c\n"' + "x" * 200_000 + '",4\n', "longer than 131,072"),
        ('recorded_at,temperature_c\n"2026-01-01T00:00Z,4\n2026-01-01T01:00Z,5\n', "not closed"),
    ],
)
def test_a_file_the_csv_reader_cannot_read_is_a_file_error_in_words(text, words):
    with pytest.raises(coldchain.LoggerFileError) as err:
        coldchain.parse_logger_csv(text)
    assert words in str(err.value.issues)


@pytest.mark.django_db(transaction=True)
class TestReadingsAtTheSameMoment:
    """Found with concurrent requests on PostgreSQL: the same reading sent twice at once was
    a 500 (the unique constraint, after both passed the duplicate check), and two
    out-of-range readings at once each opened an excursion for the same event."""

    def test_the_same_reading_sent_four_times_at_once_is_stored_once(self, clinic_a, quality):
        from ..races import at_once

        freezer = services.create_location(clinic_a, quality, "Freezer R1")
        at = a_day_ago()
        send = lambda: services.record_reading(freezer, quality, recorded_at=at, temperature_c=-80)  # noqa: E731
        assert at_once([send] * 4, services.ProductError) == ["ok"] + ["refused"] * 3
        assert TemperatureReading.objects.filter(location=freezer).count() == 1

    def test_two_out_of_range_readings_at_once_make_one_excursion(
        self, make_lot, clinic_a, quality
    ):
        from ..races import at_once

        freezer = services.create_location(clinic_a, quality, "Freezer R2")
        lot = make_lot(released=True, storage_location=freezer, received_at=a_day_ago())
        start = lot.received_at + timedelta(hours=1)
        services.record_reading(freezer, quality, recorded_at=start, temperature_c=-80)
        warm = [
            lambda m=m: services.record_reading(
                freezer, quality, recorded_at=start + timedelta(minutes=m), temperature_c=-50
            )
            for m in (30, 35)
        ]
        assert at_once(warm, services.ProductError) == ["ok", "ok"]
        assert Excursion.objects.filter(lot=lot).count() == 1


def test_a_reading_entered_late_and_earlier_extends_the_excursion_back(make_lot, clinic_a, quality):
    """-50 °C at 10:35, then a late entry of -50 °C at 10:30: one excursion from 10:30."""
    freezer = services.create_location(clinic_a, quality, "Freezer L1")
    lot = make_lot(released=True, storage_location=freezer, received_at=a_day_ago())
    start = lot.received_at + timedelta(hours=1)
    services.record_reading(freezer, quality, recorded_at=start, temperature_c=-80)
    services.record_reading(
        freezer, quality, recorded_at=start + timedelta(minutes=35), temperature_c=-50
    )
    services.record_reading(
        freezer, quality, recorded_at=start + timedelta(minutes=30), temperature_c=-50
    )
    [excursion] = Excursion.objects.filter(lot=lot)
    assert excursion.started_at == start + timedelta(minutes=30)


@pytest.mark.django_db(transaction=True)
def test_a_decision_and_a_reading_at_once_never_leave_a_usable_lot_with_an_open_excursion(
    make_lot, clinic_a, quality
):
    """A reading that changes an excursion while quality accepts it: the scan read the
    excursion before the decision and saved it back undecided after it (PostgreSQL), leaving
    the lot usable with an excursion nobody had decided on."""
    from ..races import at_once

    for round_ in range(4):
        freezer = services.create_location(clinic_a, quality, f"Freezer D{round_}")
        lot = make_lot(released=True, storage_location=freezer, received_at=a_day_ago())
        start = lot.received_at + timedelta(hours=1)
        for minutes, t in ((0, -80), (30, -50), (40, -80)):
            services.record_reading(
                freezer, quality, recorded_at=start + timedelta(minutes=minutes), temperature_c=t
            )
        assert Lot.objects.get(pk=lot.pk).blocked
        actions = [
            lambda: services.decide_excursions(
                Lot.objects.get(pk=lot.pk), quality, "accept", "Stability data cover 10 minutes."
            ),
            # Entered late: the excursion began 5 minutes earlier than recorded (it grew).
            lambda: services.record_reading(
                freezer, quality, recorded_at=start + timedelta(minutes=25), temperature_c=-50
            ),
        ]
        assert at_once(actions, services.ProductError) == ["ok", "ok"]
        lot.refresh_from_db()
        open_ = Excursion.objects.filter(lot=lot, decided_at__isnull=True).exists()
        assert lot.blocked == open_, (round_, lot.blocked, open_)


def test_an_in_range_reading_entered_late_inside_an_accepted_excursion_splits_it(
    make_lot, clinic_a, quality
):
    """-50 °C at 10:30 and 10:50, back in range at 11:10, accepted; then a late entry of
    -80 °C at 10:40: the accepted excursion shrinks to 10:30-10:40 and keeps its decision,
    and 10:50-11:10 is an excursion of its own that quality has not seen, so it blocks."""
    freezer = services.create_location(clinic_a, quality, "Freezer S1")
    lot = make_lot(released=True, storage_location=freezer, received_at=a_day_ago())
    start = lot.received_at + timedelta(hours=1)
    for minutes, t in ((0, -80), (30, -50), (50, -50), (70, -80)):
        services.record_reading(
            freezer, quality, recorded_at=start + timedelta(minutes=minutes), temperature_c=t
        )
    services.decide_excursions(Lot.objects.get(pk=lot.pk), quality, "accept", "Within data.")
    services.record_reading(
        freezer, quality, recorded_at=start + timedelta(minutes=40), temperature_c=-80
    )
    first, second = Excursion.objects.filter(lot=lot).order_by("started_at")
    assert (first.started_at, first.ended_at) == (start + timedelta(minutes=30),
                                                  start + timedelta(minutes=40))  # fmt: skip
    assert first.decision == "accept"
    assert (second.started_at, second.decided_at) == (start + timedelta(minutes=50), None)
    lot.refresh_from_db()
    assert lot.blocked
