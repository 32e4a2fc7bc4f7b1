"""The demo's lots were received and released days before today, so every demo vial draw
(today's sessions and the replayed courses) and a back-dated session can use them; and
every demo location's set range suits the lots stored there."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from anagen.accounts.roles import Role
from anagen.core.demo import load_demo
from anagen.products import demo, services
from anagen.products.models import Lot, LotStatus, VialDraw

pytestmark = pytest.mark.django_db


@pytest.fixture
def products_demo(clinic_a, make_user) -> None:
    """Only the products part of the demo (the whole demo is loaded once, below)."""
    users = {r.value: make_user(r, clinic_a) for r in (Role.ADMIN, Role.QUALITY, Role.NURSE)}
    demo.load_demo(clinic_a, users)


def test_no_demo_vial_draw_is_dated_before_its_lots_receipt_or_release(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    load_demo()  # every part, so that the sessions draw vials as they do in the demo
    draws = list(VialDraw.objects.select_related("lot"))
    assert draws
    for draw in draws:
        lot = draw.lot
        assert draw.drawn_on >= timezone.localdate(lot.received_at), lot.lot_number
        assert lot.decided_at is not None
        assert draw.drawn_on >= timezone.localdate(lot.decided_at), lot.lot_number


def test_demo_lots_were_released_a_few_days_after_receipt_before_today(products_demo):
    today = timezone.localdate()
    received = today - timedelta(days=demo.RECEIVED_DAYS_AGO)
    released = today - timedelta(days=demo.RELEASED_DAYS_AGO)
    lots = Lot.objects.filter(lot_number__in=["UC-2611-A", "UC-2609-O", "AD-2605-S"])
    assert lots.count() == 3
    for lot in lots:
        assert timezone.localdate(lot.received_at) == received
        assert timezone.localdate(lot.decided_at) == released
        for decision in lot.decisions.all():  # the audit table tells the same story
            assert timezone.localdate(decision.decided_at) == released
        # A session back-dated a week may draw from it.
        assert services.usability_problems(lot, today - timedelta(days=7)) == []
    assert released - received >= timedelta(days=1)


def test_every_demo_lot_is_stored_where_its_range_allows(products_demo):
    for lot in Lot.objects.exclude(status=LotStatus.REJECTED).select_related(
        "product", "storage_location"
    ):
        assert lot.storage_location is not None
        assert lot.storage_location.set_min_temperature_c is not None
        assert services.storage_mismatch(lot.product, lot.storage_location) is None


def test_the_demo_spec_is_older_than_every_decision_citing_it(products_demo, clinic_a):
    from anagen.products.models import LotDecision

    decisions = LotDecision.objects.filter(clinic=clinic_a, spec__isnull=False)
    assert decisions.exists()
    for d in decisions.select_related("spec"):
        assert d.spec.created_at <= d.decided_at, (d.spec.created_at, d.decided_at)
