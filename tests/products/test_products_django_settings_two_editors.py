"""The product settings page: a value another person saved after the page was opened is not
put back by a stale page; it is refused, naming the stored value."""

from __future__ import annotations

from anagen.accounts.roles import Role
from anagen.products import services

from ..html import post_form_data

URL = "/products/settings/"


def test_a_stale_page_does_not_put_back_the_old_warning_days(client, clinic_a, make_user):
    admin = make_user(Role.ADMIN, clinic_a)
    client.force_login(admin)
    form = post_form_data(client.get(URL).content.decode(), URL)
    opened_days = services.settings_for(clinic_a).expiry_warning_days
    services.update_settings(clinic_a, admin, expiry_warning_days=opened_days + 30)
    refused = client.post(URL, {**form, "expiry_warning_days": [str(opened_days + 1)]})
    assert refused.status_code == 400
    assert f"(now: “{opened_days + 30}”)" in refused.content.decode()
    assert services.settings_for(clinic_a).expiry_warning_days == opened_days + 30


def test_an_unchanged_page_saves_nothing(client, clinic_a, make_user):
    admin = make_user(Role.ADMIN, clinic_a)
    client.force_login(admin)
    form = post_form_data(client.get(URL).content.decode(), URL)
    rows = services.settings_for(clinic_a).history.count()
    saved = client.post(URL, form, follow=True)
    assert "Nothing changed." in saved.content.decode()
    assert services.settings_for(clinic_a).history.count() == rows
