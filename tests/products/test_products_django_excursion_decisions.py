# ruff: noqa: F811 — pytest fixtures imported from the support module are redefined as arguments.
"""Deciding on cold-chain excursions: only an excursion that has ended can be accepted; one
that grows after it was decided blocks its lot again; a decision never changes a recalled or
rejected lot, and a rejection leaves no override waiting."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from anagen.products import services
from anagen.products.models import (
    DecisionKind,
    Excursion,
    LotStatus,
    OverrideStatus,
    ReleaseOverride,
)

from .test_products_django_support import good_results, make_lot, product, quality, quality2

pytestmark = pytest.mark.django_db

REASON = "Manufacturer stability data cover this excursion"


def test_support_names_are_used():
    assert good_results and make_lot and product and quality and quality2


@pytest.fixture
def freezer(clinic_a, quality):
    return services.create_location(clinic_a, quality, "Freezer F1")


@pytest.fixture
def stored_lot(make_lot, freezer):
    return make_lot(
        released=True, storage_location=freezer, received_at=timezone.now() - timedelta(days=1)
    )


def read(freezer, user, lot, minutes: int, temperature: float):
    at = lot.received_at + timedelta(hours=1, minutes=minutes)
    return services.record_reading(freezer, user, recorded_at=at, temperature_c=temperature)


class TestAnOngoingExcursion:
    def test_cannot_be_accepted(self, stored_lot, freezer, quality):
        read(freezer, quality, stored_lot, 0, -50)
        with pytest.raises(services.ProductError) as err:
            services.decide_excursions(stored_lot, quality, "accept", REASON)
        [message] = err.value.errors["decision"]
        assert "still ongoing" in message and "reading back in range" in message
        assert "reject" in message
        stored_lot.refresh_from_db()
        assert stored_lot.blocked
        assert Excursion.objects.get(lot=stored_lot).decided_at is None

    def test_can_be_rejected(self, stored_lot, freezer, quality):
        read(freezer, quality, stored_lot, 0, -50)
        services.decide_excursions(stored_lot, quality, "reject", "Thawed: not usable at all")
        stored_lot.refresh_from_db()
        assert stored_lot.status == LotStatus.REJECTED

    def test_is_refused_by_the_api_with_a_400_naming_the_decision(
        self, client, stored_lot, freezer, quality, api_token, clinic_a
    ):
        read(freezer, quality, stored_lot, 0, -50)
        response = client.post(
            f"/api/v1/products/lots/{stored_lot.pk}/excursions/decide",
            {"decision": "accept", "reason": REASON},
            content_type="application/json",
            headers={"Authorization": f"Bearer {api_token(quality, clinic_a)}"},
        )
        assert response.status_code == 400, response.content
        assert response.json()["detail"].startswith("decision:")

    def test_the_lot_page_offers_only_reject(self, client, stored_lot, freezer, quality):
        read(freezer, quality, stored_lot, 0, -50)
        client.force_login(quality)
        page = client.get(f"/products/lots/{stored_lot.pk}/").content.decode()
        form = page.split('id="excursions"')[1]
        assert 'value="reject"' in form and 'value="accept"' not in form
        assert "can be accepted once a reading is back in range" in form

        read(freezer, quality, stored_lot, 30, -80)
        page = client.get(f"/products/lots/{stored_lot.pk}/").content.decode()
        assert 'value="accept"' in page.split('id="excursions"')[1]


class TestAnExcursionThatGrowsAfterItWasAccepted:
    def accept_a_short_excursion(self, stored_lot, freezer, quality):
        read(freezer, quality, stored_lot, 0, -80)
        read(freezer, quality, stored_lot, 10, -55)
        read(freezer, quality, stored_lot, 20, -80)
        services.decide_excursions(stored_lot, quality, "accept", REASON)
        stored_lot.refresh_from_db()
        assert not stored_lot.blocked

    def test_a_warmer_reading_inside_it_blocks_the_lot_again(self, stored_lot, freezer, quality):
        self.accept_a_short_excursion(stored_lot, freezer, quality)
        # A logger file fills in a warmer reading during the same excursion.
        read(freezer, quality, stored_lot, 15, -30)
        stored_lot.refresh_from_db()
        assert stored_lot.blocked and "extreme −30.0 °C" in stored_lot.block_reason
        excursion = Excursion.objects.get(lot=stored_lot)
        assert excursion.decided_at is None and excursion.decision == ""
        last = excursion.history.first()
        assert last.history_change_reason.startswith("decision cleared: excursion grew")
        assert REASON in last.history_change_reason

    def test_a_longer_excursion_blocks_the_lot_again(self, stored_lot, freezer, quality):
        # An ongoing excursion accepted before acceptance waited for its end (older data).
        read(freezer, quality, stored_lot, 0, -80)
        read(freezer, quality, stored_lot, 10, -55)
        Excursion.objects.filter(lot=stored_lot).update(
            decided_at=timezone.now(), decided_by=quality, decision="accept", decision_reason=REASON
        )
        type(stored_lot).objects.filter(pk=stored_lot.pk).update(blocked=False, block_reason="")

        read(freezer, quality, stored_lot, 70, -55)  # still out of range an hour later
        stored_lot.refresh_from_db()
        assert stored_lot.blocked and "at least 1 h so far" in stored_lot.block_reason
        assert Excursion.objects.get(lot=stored_lot).decided_at is None

    def test_a_reading_that_keeps_it_the_same_leaves_the_decision(
        self, stored_lot, freezer, quality
    ):
        self.accept_a_short_excursion(stored_lot, freezer, quality)
        read(freezer, quality, stored_lot, 40, -81)
        stored_lot.refresh_from_db()
        assert not stored_lot.blocked
        assert Excursion.objects.get(lot=stored_lot).decision == "accept"


class TestAnExcursionReopenedByABackDatedReadingIsTold:
    """Whoever adds the reading that re-blocks an accepted lot is told so, and the lot's
    decision log no longer ends with "lot usable"."""

    def accept(self, stored_lot, freezer, quality):
        TestAnExcursionThatGrowsAfterItWasAccepted().accept_a_short_excursion(
            stored_lot, freezer, quality
        )

    def test_the_service_returns_it_marked_reopened(self, stored_lot, freezer, quality):
        self.accept(stored_lot, freezer, quality)
        _, flagged = read(freezer, quality, stored_lot, 15, -30)
        [excursion] = flagged
        assert excursion.reopened and excursion.lot_id == stored_lot.pk
        text = services.describe_flagged(flagged)
        assert text.startswith(f"Excursion reopened for lot {stored_lot.lot_number} — from ")
        assert "blocked again until quality decides" in text

    def test_a_reading_that_changes_nothing_reports_nothing(self, stored_lot, freezer, quality):
        self.accept(stored_lot, freezer, quality)
        _, flagged = read(freezer, quality, stored_lot, 40, -81)
        assert flagged == []

    def test_the_decision_log_says_it_is_blocked_again(self, stored_lot, freezer, quality):
        self.accept(stored_lot, freezer, quality)
        read(freezer, quality, stored_lot, 15, -30)
        latest = stored_lot.decisions.first()
        assert latest.kind == DecisionKind.EXCURSION_REOPEN
        assert latest.reason.startswith("Excursion grew after it was accepted: blocked again")
        assert "extreme −30.0 °C" in latest.reason
        assert latest.decided_by == quality

    def test_the_api_lists_it(self, client, stored_lot, freezer, quality, api_token, clinic_a):
        self.accept(stored_lot, freezer, quality)
        at = stored_lot.received_at + timedelta(hours=1, minutes=15)
        response = client.post(
            f"/api/v1/products/locations/{freezer.pk}/readings",
            {"recorded_at": at.isoformat(), "temperature_c": -30},
            content_type="application/json",
            headers={"Authorization": f"Bearer {api_token(quality, clinic_a)}"},
        )
        assert response.status_code == 201, response.content
        [text] = response.json()["excursions_flagged"]
        assert text.startswith(f"lot {stored_lot.lot_number}: excursion reopened (from ")
        assert "blocked again" in text

    def test_the_web_names_the_lot_blocked_again(self, client, stored_lot, freezer, quality):
        self.accept(stored_lot, freezer, quality)
        client.force_login(quality)
        when = timezone.localtime(stored_lot.received_at + timedelta(hours=1, minutes=15))
        response = client.post(
            f"/products/storage/{freezer.pk}/readings/",
            {"recorded_at": f"{when:%Y-%m-%dT%H:%M:%S}", "temperature_c": "-30"},
            follow=True,
        )
        page = response.content.decode()
        assert "Reading recorded." in page
        assert f"Excursion reopened for lot {stored_lot.lot_number}" in page
        lot_page = client.get(f"/products/lots/{stored_lot.pk}/").content.decode()
        decisions = lot_page.split('id="decisions"')[1]
        assert "grew after it was accepted: blocked again" in decisions


class TestDecisionsNeverChangeAFinalStatus:
    def test_reject_after_a_recall_is_refused_and_the_recall_stays(
        self, stored_lot, freezer, quality
    ):
        read(freezer, quality, stored_lot, 0, -50)
        services.recall_lot(stored_lot, quality, "Supplier recall notice 2026-17")
        with pytest.raises(services.ProductError) as err:
            services.decide_excursions(stored_lot, quality, "reject", "Thawed: not usable")
        assert "already recalled" in err.value.errors["__all__"][0]
        stored_lot.refresh_from_db()
        assert stored_lot.status == LotStatus.RECALLED

    def test_the_api_refuses_it_too(
        self, client, stored_lot, freezer, quality, api_token, clinic_a
    ):
        read(freezer, quality, stored_lot, 0, -50)
        services.recall_lot(stored_lot, quality, "Supplier recall notice 2026-17")
        response = client.post(
            f"/api/v1/products/lots/{stored_lot.pk}/excursions/decide",
            {"decision": "reject", "reason": "Thawed: not usable"},
            content_type="application/json",
            headers={"Authorization": f"Bearer {api_token(quality, clinic_a)}"},
        )
        assert response.status_code in (400, 409), response.content
        assert "recalled" in response.json()["detail"]
        stored_lot.refresh_from_db()
        assert stored_lot.status == LotStatus.RECALLED

    def test_the_lot_page_of_a_rejected_lot_offers_no_decision(
        self, client, stored_lot, freezer, quality
    ):
        read(freezer, quality, stored_lot, 0, -50)
        services.reject_lot(stored_lot, quality, "Supplier withdrew the certificate")
        client.force_login(quality)
        page = client.get(f"/products/lots/{stored_lot.pk}/").content.decode()
        assert "Record decision" not in page.split('id="excursions"')[1]


def test_rejecting_after_an_excursion_withdraws_a_pending_override(make_lot, freezer, quality):
    lot = make_lot(
        results=good_results(size_mode_nm=260),
        storage_location=freezer,
        received_at=timezone.now() - timedelta(days=1),
    )
    services.request_override(lot, quality, "Size mode slightly high; clinical need")
    read(freezer, quality, lot, 0, -50)
    services.decide_excursions(lot, quality, "reject", "Thawed: not usable at all")
    override = ReleaseOverride.objects.get(lot=lot)
    assert override.status == OverrideStatus.WITHDRAWN
