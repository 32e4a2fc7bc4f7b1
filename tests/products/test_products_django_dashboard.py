# ruff: noqa: F811 — pytest fixtures imported from the support module are redefined as arguments.
"""The dashboard's "Products & lots" card: open recalls, and what still awaits a decision."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from anagen.accounts.roles import Role
from anagen.products import selectors, services

from .test_products_django_support import make_lot, product, quality

pytestmark = pytest.mark.django_db


def card(client) -> str:
    page = client.get("/").content.decode()
    return page.split('id="product-alerts"')[1].split("</section>")[0]


@pytest.fixture
def freezer(clinic_a, quality):
    return services.create_location(clinic_a, quality, "Freezer F1")


@pytest.fixture
def used_lot(make_lot, clinic_a, make_user, make_patient, freezer):
    """A released lot in the freezer, given to two patients."""
    lot = make_lot(
        released=True,
        storage_location=freezer,
        received_at=timezone.now() - timedelta(days=1),
        lot_number="UC-2605-H",
    )
    nurse = make_user(Role.NURSE, clinic_a)
    for _ in range(2):
        services.draw_vials(
            lot, make_patient(clinic_a, nurse), 1, nurse, on_date=timezone.localdate()
        )
    return lot


def test_no_recall_is_said_plainly(client, quality, used_lot):
    client.force_login(quality)
    assert "0 open recalls" in card(client)


def test_a_recall_shows_on_the_dashboard_with_its_patients_and_a_link(client, quality, used_lot):
    services.recall_lot(used_lot, quality, "Manufacturer recall: sterility failure")
    client.force_login(quality)
    text = card(client)
    assert "1 open recall</a></strong> · 2 patients treated with it" in text
    assert f'href="{reverse("products:lots")}?state=recalled"' in text
    # Quality may trace: the lot links to its trace page, where the patients are listed.
    trace = reverse("products:trace", args=[used_lot.pk])
    assert f'<a href="{trace}">UC-2605-H</a>' in text


def test_a_clinician_sees_the_recall_linked_to_the_lot_page(
    client, clinic_a, make_user, quality, used_lot
):
    services.recall_lot(used_lot, quality, "Manufacturer recall: sterility failure")
    client.force_login(make_user(Role.CLINICIAN, clinic_a))
    text = card(client)
    assert "1 open recall" in text
    assert f'<a href="{reverse("products:lot", args=[used_lot.pk])}">UC-2605-H</a>' in text
    assert reverse("products:trace", args=[used_lot.pk]) not in text


def test_excursions_of_a_recalled_lot_no_longer_await_a_decision(
    clinic_a, quality, used_lot, make_lot, freezer
):
    other = make_lot(
        released=True, storage_location=freezer, received_at=timezone.now() - timedelta(days=1)
    )
    services.record_reading(
        freezer, quality, recorded_at=timezone.now() - timedelta(hours=1), temperature_c=-40
    )
    today = timezone.localdate()
    assert selectors.dashboard_counts(clinic_a, today, 60)["flagged"] == 2
    services.recall_lot(used_lot, quality, "Manufacturer recall: sterility failure")
    counts = selectors.dashboard_counts(clinic_a, today, 60)
    # The recalled lot is out of use for good; only the other lot still needs a decision.
    assert counts["flagged"] == 1 and counts["blocked"] == 1
    assert [e.lot for e in selectors.awaiting_decision(clinic_a)] == [other]
    # The count's link lists the same lot: the recalled one is under "recalled" (a review
    # followed "1 blocked" to a list of 2).
    listed = selectors.filter_lots(clinic_a, state="blocked", today=today, warning_days=60)
    assert list(listed) == [other]


def test_support_names_are_used():
    assert make_lot and product and quality


def test_expired_lots_with_vials_on_hand_are_counted_for_taking_out_of_stock(
    client, quality, used_lot
):
    """A released lot past its expiry with 8 vials left was not on the dashboard at all."""
    client.force_login(quality)
    assert "0 expired with vials on hand" in card(client)
    type(used_lot).objects.filter(pk=used_lot.pk).update(
        expiry_date=timezone.localdate() - timedelta(days=1)
    )
    text = card(client)
    assert "1 expired with vials on hand</a></strong> · take them out of stock" in text
    assert f'href="{reverse("products:lots")}?state=expired_on_hand"' in text
    today = timezone.localdate()
    on_hand = selectors.filter_lots(
        used_lot.clinic, state="expired_on_hand", today=today, warning_days=60
    )
    assert list(on_hand) == [used_lot]
    type(used_lot).objects.filter(pk=used_lot.pk).update(quantity_on_hand=0)
    assert "0 expired with vials on hand" in card(client)  # nothing left to take out


def test_rejected_lots_with_vials_on_hand_are_flagged_for_destruction_or_return(
    client, quality, used_lot
):
    """A rejected lot with 8 vials left in the freezer was on no list: the dashboard flagged
    only expired lots in stock."""
    client.force_login(quality)
    assert "0 rejected with vials on hand" in card(client)
    services.reject_lot(used_lot, quality, "Manufacturer reported a sterility failure")
    text = card(client)
    assert (
        "1 rejected with vials on hand</a></strong> · destroy or return them to the supplier "
        "and record them as waste to take them out of stock" in text
    )
    assert f'href="{reverse("products:lots")}?state=rejected_on_hand"' in text
    today = timezone.localdate()
    listed = selectors.filter_lots(
        used_lot.clinic, state="rejected_on_hand", today=today, warning_days=60
    )
    assert list(listed) == [used_lot]
    lot_page = client.get(reverse("products:lot", args=[used_lot.pk])).content.decode()
    assert "Rejected with 8 vials on hand: destroy or return them to the supplier" in lot_page
    services.record_waste(used_lot, quality, 8, "Returned to the supplier for destruction")
    assert "0 rejected with vials on hand" in card(client)  # nothing left to take out
    assert (
        'id="rejected-on-hand"'
        not in client.get(reverse("products:lot", args=[used_lot.pk])).content.decode()
    )


def test_an_expired_rejected_lot_is_flagged_once_as_rejected(client, quality, used_lot):
    services.reject_lot(used_lot, quality, "Manufacturer reported a sterility failure")
    type(used_lot).objects.filter(pk=used_lot.pk).update(
        expiry_date=timezone.localdate() - timedelta(days=1)
    )
    client.force_login(quality)
    text = card(client)
    assert "1 rejected with vials on hand" in text and "0 expired with vials on hand" in text


def test_a_clinician_is_told_not_to_use_expired_or_rejected_lots_not_to_take_them_out(
    client, clinic_a, make_user, make_lot, quality, used_lot
):
    """A clinician's dashboard told them to "take them out of stock" and to "destroy or
    return them to the supplier": quality staff do that (recording waste); the clinician
    must not use the vials."""
    rejected = make_lot(released=True, received_at=timezone.now() - timedelta(days=1))
    services.reject_lot(rejected, quality, "Manufacturer reported a sterility failure")
    type(used_lot).objects.filter(pk=used_lot.pk).update(
        expiry_date=timezone.localdate() - timedelta(days=1)
    )
    client.force_login(make_user(Role.CLINICIAN, clinic_a))
    text = card(client)
    assert "1 expired with vials on hand</a></strong> · do not use them; quality staff take " in (
        text
    )
    assert "1 rejected with vials on hand</a></strong> · do not use them; quality staff " in text
    assert "take them out of stock" not in text.replace("quality staff take them out", "")
    assert "record them as waste" not in text
