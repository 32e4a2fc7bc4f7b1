"""Static files as production serves them: collected into a hashed manifest (DEBUG off)."""

from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import override_settings

import anagen

VENDOR = Path(anagen.__file__).parent / "outcomes" / "static" / "outcomes" / "vendor"
PRODUCTION_STATIC = {
    "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
    # Production uses whitenoise's Compressed… subclass; the manifest step is what can fail,
    # and compressing the chart libraries would add half a minute to the test.
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"},
}


def test_vendored_scripts_name_no_source_map_that_is_not_shipped():
    for script in VENDOR.glob("*.js"):
        assert "sourceMappingURL" not in script.read_text(encoding="utf-8"), script.name


@pytest.mark.django_db
def test_collectstatic_builds_the_manifest_and_pages_render_with_debug_off(tmp_path, client):
    root = tmp_path / "static"
    with override_settings(STATIC_ROOT=root, STORAGES=PRODUCTION_STATIC, DEBUG=False):
        call_command("collectstatic", interactive=False, verbosity=0)
        assert (root / "staticfiles.json").exists()
        page = client.get("/accounts/login/")
    assert page.status_code == 200
    # Hashed names (e.g. app.3f2a….css): a missing manifest entry would have been a 500.
    html = page.content.decode()
    assert "/static/" in html
    assert any(
        (root / ref.split("/static/", 1)[1]).exists()
        for ref in html.split('"')
        if ref.startswith("/static/") and ref.count(".") >= 2
    )
