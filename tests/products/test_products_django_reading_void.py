# ruff: noqa: F811 — pytest fixtures imported from the support module are redefined as arguments.
"""Voiding a temperature reading entered in error: it is kept and marked, the location's
excursions are worked out again without it, and a lot it alone blocked is released from the
block. Only quality voids; pages, API and other clinics are checked."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from anagen.accounts.roles import Role
from anagen.products import services
from anagen.products.models import DecisionKind, Excursion, LotStatus, TemperatureReading

from .test_products_django_support import (  # noqa: F401
    good_results,
    make_lot,
    product,
    quality,
)

pytestmark = pytest.mark.django_db

REASON = "Typed -8 for -80; the freezer display read -80.1 °C"


@pytest.fixture
def freezer(clinic_a, quality):
    return services.create_location(clinic_a, quality, "Freezer F1")


@pytest.fixture
def lot(make_lot, freezer):
    return make_lot(
        released=True, storage_location=freezer, received_at=timezone.now() - timedelta(days=1)
    )


def read(freezer, user, lot, minutes: int, temp: float):
    at = lot.received_at + timedelta(minutes=minutes)
    return services.record_reading(freezer, user, recorded_at=at, temperature_c=temp)[0]


class TestVoidingAReading:
    def test_a_mistyped_reading_that_alone_made_an_excursion_withdraws_it_and_unblocks_the_lot(
        self, lot, freezer, quality
    ):
        read(freezer, quality, lot, 60, -80)
        wrong = read(freezer, quality, lot, 90, -8)
        read(freezer, quality, lot, 120, -80)
        lot.refresh_from_db()
        assert lot.blocked

        outcome = services.void_reading(wrong, quality, REASON)

        wrong.refresh_from_db()
        assert wrong.is_voided and wrong.voided_by == quality and wrong.void_reason == REASON
        excursion = Excursion.objects.get(lot=lot)  # kept, marked
        assert excursion.is_voided
        assert "was voided: " + REASON in excursion.void_reason
        lot.refresh_from_db()
        assert not lot.blocked and lot.block_reason == ""
        assert lot.status == LotStatus.RELEASED
        assert [e.pk for e in outcome.withdrawn] == [excursion.pk]
        assert [x.pk for x in outcome.unblocked] == [lot.pk]
        assert lot.decisions.filter(kind=DecisionKind.EXCURSION_WITHDRAWN).count() == 1
        assert "No longer blocked: L-001." in outcome.describe()
        from anagen.products import selectors

        assert selectors.awaiting_decision(lot.clinic).count() == 0  # the dashboard's count
        assert wrong.history.first().history_change_reason == f"voided: {REASON}"

    def test_a_voided_reading_no_longer_flags_anything_and_its_time_takes_the_right_value(
        self, lot, freezer, quality
    ):
        wrong = read(freezer, quality, lot, 60, -8)
        services.void_reading(wrong, quality, REASON)
        right = read(freezer, quality, lot, 60, -80.1)  # the same time: allowed once voided
        assert right.recorded_at == wrong.recorded_at
        lot.refresh_from_db()
        assert not lot.blocked
        assert Excursion.objects.filter(lot=lot, voided_at__isnull=True).count() == 0

    def test_the_excursion_shrinks_to_the_readings_left(self, lot, freezer, quality):
        read(freezer, quality, lot, 0, -80)
        first = read(freezer, quality, lot, 30, -20)  # the mistyped one: the extreme
        read(freezer, quality, lot, 60, -50)  # really out of range
        read(freezer, quality, lot, 90, -80)
        services.void_reading(first, quality, REASON)
        excursion = Excursion.objects.get(lot=lot, voided_at__isnull=True)
        assert excursion.started_at == lot.received_at + timedelta(minutes=60)
        assert excursion.duration_minutes == 30
        assert float(excursion.extreme_temperature_c) == -50
        assert Excursion.objects.filter(lot=lot).count() == 1  # the same record, updated
        lot.refresh_from_db()
        assert lot.blocked  # -50 °C for 30 min still awaits quality
        assert lot.block_reason == services.excursion_block_reason(excursion)

    def test_voiding_an_in_range_reading_that_split_an_accepted_excursion_reopens_it(
        self, lot, freezer, quality
    ):
        read(freezer, quality, lot, 0, -50)
        between = read(freezer, quality, lot, 30, -80)
        services.decide_excursions(lot, quality, "accept", "Stability data cover 30 min at -50")
        read(freezer, quality, lot, 60, -50)  # a second excursion, undecided
        read(freezer, quality, lot, 90, -80)
        assert Excursion.objects.filter(lot=lot).count() == 2

        outcome = services.void_reading(between, quality, "In-range value typed at the wrong time")

        live = list(Excursion.objects.filter(lot=lot, voided_at__isnull=True))
        assert len(live) == 1 and live[0].duration_minutes == 90
        assert live[0].decided_at is None  # grew: the acceptance no longer covers it
        assert len(outcome.reopened) == 1 and len(outcome.withdrawn) == 1  # the later one merged
        lot.refresh_from_db()
        assert lot.blocked

    def test_a_rejected_lot_stays_rejected(self, lot, freezer, quality):
        wrong = read(freezer, quality, lot, 60, -8)
        services.decide_excursions(lot, quality, "reject", "Thawed: not usable for injection")
        outcome = services.void_reading(wrong, quality, REASON)
        lot.refresh_from_db()
        assert lot.status == LotStatus.REJECTED
        assert outcome.unblocked == [] and outcome.withdrawn == []
        assert outcome.describe() == "Reading voided; no excursion changed."

    def test_only_quality_voids_and_a_reason_is_needed(self, lot, freezer, quality, make_user):
        wrong = read(freezer, quality, lot, 60, -8)
        nurse = make_user(Role.NURSE, lot.clinic)
        with pytest.raises(services.ProductError, match="Only a quality user"):
            services.void_reading(wrong, nurse, REASON)
        with pytest.raises(services.ProductError) as short:
            services.void_reading(wrong, quality, "typo")
        assert "reason" in short.value.errors
        wrong.refresh_from_db()
        assert not wrong.is_voided
        lot.refresh_from_db()
        assert lot.blocked

    def test_a_reading_is_voided_once(self, lot, freezer, quality):
        wrong = read(freezer, quality, lot, 60, -8)
        services.void_reading(wrong, quality, REASON)
        with pytest.raises(services.ProductError, match="already voided"):
            services.void_reading(wrong, quality, REASON)

    def test_a_logger_file_refused_over_a_wrong_hand_entry_imports_once_it_is_voided(
        self, lot, freezer, quality
    ):
        wrong = read(freezer, quality, lot, 60, -8)
        at = wrong.recorded_at.isoformat()
        csv = f"recorded_at,temperature_c\n{at},-80.2\n".encode()
        with pytest.raises(services.ProductError, match="have quality void a stored reading"):
            services.import_readings(freezer, quality, csv)
        services.void_reading(wrong, quality, REASON)
        count, flagged = services.import_readings(freezer, quality, csv)
        assert count == 1 and flagged == []
        assert TemperatureReading.objects.filter(recorded_at=wrong.recorded_at).count() == 2


class TestVoidingInThePages:
    def test_quality_voids_from_the_location_page_and_sees_the_reading_struck(
        self, client, lot, freezer, quality
    ):
        wrong = read(freezer, quality, lot, 60, -8)
        client.force_login(quality)
        page = client.get(f"/products/storage/{freezer.pk}/").content.decode()
        assert f"/products/storage/{freezer.pk}/readings/{wrong.pk}/void/" in page
        response = client.post(
            f"/products/storage/{freezer.pk}/readings/{wrong.pk}/void/",
            {"reason": REASON},
            follow=True,
        )
        text = response.content.decode()
        assert "Excursion withdrawn for lot(s) L-001." in text
        assert "Voided" in text and REASON.replace("'", "&#x27;") in text
        lot_page = client.get(f"/products/lots/{lot.pk}/").content.decode()
        assert "Withdrawn" in lot_page

    def test_a_short_reason_comes_back_with_the_error_and_nothing_changes(
        self, client, lot, freezer, quality
    ):
        wrong = read(freezer, quality, lot, 60, -8)
        client.force_login(quality)
        response = client.post(
            f"/products/storage/{freezer.pk}/readings/{wrong.pk}/void/", {"reason": "typo!"}
        )
        assert response.status_code == 400
        assert "Give a reason of at least 10 characters." in response.content.decode()
        wrong.refresh_from_db()
        assert not wrong.is_voided

    def test_a_nurse_sees_no_void_control_and_is_refused(
        self, client, lot, freezer, quality, make_user
    ):
        wrong = read(freezer, quality, lot, 60, -8)
        client.force_login(make_user(Role.NURSE, lot.clinic))
        page = client.get(f"/products/storage/{freezer.pk}/").content.decode()
        assert "/void/" not in page
        url = f"/products/storage/{freezer.pk}/readings/{wrong.pk}/void/"
        assert client.post(url, {"reason": REASON}).status_code == 403
        wrong.refresh_from_db()
        assert not wrong.is_voided

    def test_another_clinics_quality_user_gets_404(
        self, client, lot, freezer, quality, make_user, clinic_b
    ):
        wrong = read(freezer, quality, lot, 60, -8)
        client.force_login(make_user(Role.QUALITY, clinic_b))
        url = f"/products/storage/{freezer.pk}/readings/{wrong.pk}/void/"
        assert client.post(url, {"reason": REASON}).status_code == 404
        wrong.refresh_from_db()
        assert not wrong.is_voided


class TestVoidingInTheApi:
    def call(self, client, token, path, body=None):
        headers = {"Authorization": f"Bearer {token}"}
        if body is None:
            return client.get(f"/api/v1/products{path}", headers=headers)
        return client.post(
            f"/api/v1/products{path}",
            data=json.dumps(body),
            content_type="application/json",
            headers=headers,
        )

    def test_void_answers_what_changed_and_the_list_shows_the_voided_reading(
        self, client, api_token, lot, freezer, quality
    ):
        wrong = read(freezer, quality, lot, 60, -8)
        token = api_token(quality, lot.clinic)
        path = f"/locations/{freezer.pk}/readings/{wrong.pk}/void"
        response = self.call(client, token, path, {"reason": REASON})
        assert response.status_code == 200, response.content
        body = response.json()
        assert body["excursions_withdrawn"] == ["L-001"]
        assert body["lots_unblocked"] == ["L-001"]
        assert body["reading"]["void_reason"] == REASON
        listed = self.call(client, token, f"/locations/{freezer.pk}/readings").json()["items"]
        [shown] = [r for r in listed if r["id"] == wrong.pk]
        assert shown["voided_at"] is not None

        again = self.call(client, token, path, {"reason": REASON})
        assert again.status_code == 400
        assert again.json()["detail"] == "This reading is already voided."

    def test_a_nurse_token_is_refused_and_another_clinic_gets_404(
        self, client, api_token, lot, freezer, quality, make_user, clinic_b
    ):
        wrong = read(freezer, quality, lot, 60, -8)
        path = f"/locations/{freezer.pk}/readings/{wrong.pk}/void"
        nurse = api_token(make_user(Role.NURSE, lot.clinic), lot.clinic)
        assert self.call(client, nurse, path, {"reason": REASON}).status_code == 403
        other = api_token(make_user(Role.QUALITY, clinic_b), clinic_b)
        assert self.call(client, other, path, {"reason": REASON}).status_code == 404
        wrong.refresh_from_db()
        assert not wrong.is_voided
