"""The clinic's settings pages are reachable from one index in the main menu, which lists
exactly the pages the user's role may open."""

import re

import pytest
from django.urls import reverse

from anagen.accounts.roles import Role
from anagen.core.settings_pages import SETTINGS_PAGES

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("role", list(Role))
def test_the_index_lists_the_settings_pages_the_role_may_open_and_each_opens(
    client, clinic_a, make_user, role
):
    client.force_login(make_user(role, clinic_a))
    page = client.get("/settings/").content.decode()
    listed = re.findall(r'<dt><a href="([^"]+)">', page)
    # The menu links the index where it lists something.
    assert ('<a href="/settings/"' in page) == bool(listed)
    everything = {reverse(name) for _, name, _, _ in SETTINGS_PAGES}
    assert set(listed) <= everything
    for url in everything:
        status = client.get(url).status_code
        assert status == (200 if url in listed else 403), (role, url, status)


def test_the_clinician_sees_screening_thresholds_and_calibration_but_not_members(
    client, clinic_a, make_user
):
    client.force_login(make_user(Role.CLINICIAN, clinic_a))
    page = client.get("/settings/").content.decode()
    assert "Trichoscopy calibration" in page and "Response thresholds" in page
    assert "Contraindication screening rules" in page and "Members" not in page
    assert "Post-care instruction templates" in page  # reachable after the first review too


def test_signed_out_the_index_asks_to_sign_in(client):
    r = client.get("/settings/")
    assert r.status_code == 302 and "/accounts/login/" in r.url


def test_an_unknown_address_marks_no_menu_entry_as_the_current_page(client, clinic_a, make_user):
    client.force_login(make_user(Role.ADMIN, clinic_a))
    page = client.get("/no-such-page/").content.decode()
    assert 'aria-current="page"' not in page
