"""The interactive API documentation works under the app's Content Security Policy."""

import pytest

from .conftest import SCREENSHOTS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_api_docs_render_from_the_apps_own_static_files(page):
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    page.goto("/api/v1/docs")
    page.locator(".swagger-ui .info .title").get_by_text("Anagen API").wait_for()
    page.get_by_text("Everything that happened to the patient, in time order").first.wait_for()
    # Nothing from a CDN: the CSP would block it, and clinics may run without internet.
    origin = page.url.split("/api/")[0]
    assert [u for u in requested if not u.startswith(origin)] == []
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "api-docs.png"))  # the top only: the page is long
    assert page.console_errors == []
