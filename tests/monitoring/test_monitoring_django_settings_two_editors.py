"""The response-thresholds page saves what this person changed: a threshold another
administrator changed after the page was opened is kept, and one both changed, differently,
is refused naming the stored value (it sent every field back and put old values back)."""

from __future__ import annotations

import pytest

from anagen.accounts.roles import Role
from anagen.monitoring import services

from ..html import post_form_data

URL = "/monitoring/settings/"


@pytest.fixture
def opened(client, clinic_a, make_user):
    admin = make_user(Role.ADMIN, clinic_a)
    services.save_settings(clinic_a, admin, {"stop_ae_grade": 3})
    client.force_login(admin)
    form = post_form_data(client.get(URL).content.decode(), URL)
    assert form["opened-stop_ae_grade"] == ["3"]
    return admin, form


def test_a_threshold_changed_meanwhile_by_someone_else_is_kept(client, clinic_a, opened):
    admin, form = opened
    services.save_settings(clinic_a, admin, {"stop_ae_grade": 2})  # the other administrator
    assert client.post(URL, {**form, "overdue_grace_days": ["10"]}).status_code == 302
    now = services.clinic_settings(clinic_a)
    assert (now.overdue_grace_days, now.stop_ae_grade) == (10, 2)


def test_a_threshold_both_changed_is_refused_and_nothing_is_saved(client, clinic_a, opened):
    admin, form = opened
    services.save_settings(clinic_a, admin, {"stop_ae_grade": 2})
    refused = client.post(URL, {**form, "stop_ae_grade": ["4"], "overdue_grace_days": ["10"]})
    assert refused.status_code == 400
    page = refused.content.decode()
    assert "Changed by someone else since you opened this page (now: “2”)" in page
    now = services.clinic_settings(clinic_a)
    assert (now.stop_ae_grade, now.overdue_grace_days) == (2, 7)
    again = post_form_data(page, URL)  # after a look, the person saves again: theirs holds
    assert client.post(URL, again).status_code == 302
    now = services.clinic_settings(clinic_a)
    assert (now.stop_ae_grade, now.overdue_grace_days) == (4, 10)


def test_saving_the_page_unchanged_writes_no_history(client, clinic_a, opened):
    _, form = opened
    rows = services.clinic_settings(clinic_a).history.count()
    saved = client.post(URL, form, follow=True)
    assert "Nothing changed." in saved.content.decode()
    assert services.clinic_settings(clinic_a).history.count() == rows
