"""Middleware of every request: NUL in query strings refused; writes atomic."""

from __future__ import annotations

import pytest
from django.db import transaction
from django.http import HttpResponse
from django.test import RequestFactory

from anagen.accounts.models import Clinic
from anagen.core.middleware import AtomicWritesMiddleware, QueryStringNulMiddleware


def view_reached(request):
    return HttpResponse("reached")


middleware = QueryStringNulMiddleware(view_reached)


def test_nul_in_a_value_or_a_key_is_400_as_json_under_the_api():
    for query in ("q=a%00b", "x%00=1"):
        r = middleware(RequestFactory().get(f"/api/v1/patients?{query}"))
        assert r.status_code == 400
        assert r["Content-Type"] == "application/json"
        assert b"NUL" in r.content


def test_nul_on_a_page_is_400_as_plain_text():
    r = middleware(RequestFactory().get("/patients/?q=%00"))
    assert r.status_code == 400
    assert r["Content-Type"].startswith("text/plain")


def test_other_query_strings_reach_the_view():
    for path in ("/patients/?q=ab", "/api/v1/patients?q=%C3%A9", "/patients/"):
        assert middleware(RequestFactory().get(path)).content == b"reached"


class TestAtomicWrites:
    """A write request that ends in a server error stores nothing; reads run outside a
    transaction (SQLite would otherwise take its write lock for every page)."""

    @staticmethod
    def _creating_view(status: int):
        def view(request):
            Clinic.objects.create(name="Half-way", slug="half-way")
            return HttpResponse(status=status)

        return view

    @pytest.mark.django_db(transaction=True)
    def test_a_500_answer_rolls_back_what_the_view_wrote(self):
        answer = AtomicWritesMiddleware(self._creating_view(500))(RequestFactory().post("/x"))
        assert answer.status_code == 500
        assert not Clinic.objects.filter(slug="half-way").exists()

    @pytest.mark.django_db(transaction=True)
    def test_other_answers_keep_it(self):
        for status in (200, 302, 400):
            Clinic.objects.filter(slug="half-way").delete()
            AtomicWritesMiddleware(self._creating_view(status))(RequestFactory().patch("/x"))
            assert Clinic.objects.filter(slug="half-way").exists(), status

    @pytest.mark.django_db(transaction=True)
    def test_reads_are_not_wrapped(self):
        seen = []

        def view(request):
            seen.append(transaction.get_autocommit())
            return HttpResponse()

        AtomicWritesMiddleware(view)(RequestFactory().get("/x"))
        AtomicWritesMiddleware(view)(RequestFactory().post("/x"))
        assert seen == [True, False]


@pytest.mark.django_db
def test_nothing_shown_to_a_signed_in_user_is_kept_by_the_browser(client, clinic_a, make_user):
    """Patient pages sent no Cache-Control and photos "private, max-age=3600": after sign-out
    a shared workstation's back button or disk cache showed them."""
    from anagen.accounts.roles import Role

    client.force_login(make_user(Role.CLINICIAN, clinic_a))
    response = client.get("/patients/")
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"] and "private" in response["Cache-Control"]
