"""QueryStringNulMiddleware: query strings holding NUL are refused before any view reads them."""

from __future__ import annotations

from django.http import HttpResponse
from django.test import RequestFactory

from anagen.core.middleware import QueryStringNulMiddleware


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
