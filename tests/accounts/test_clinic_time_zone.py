"""A clinic's own time zone: "today" and the times shown follow where the clinic is, for
pages, the API (session or token) and commands, and the thread goes back to the default after
each request. Kiritimati (UTC+14) and Pago Pago (UTC-11) are 25 hours apart, so at any moment
their dates differ: the tests need no frozen clock."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone

from anagen.accounts import services
from anagen.accounts.clinic_time import in_clinic_time, time_zone_names, zone_of
from anagen.accounts.commands import clinic_and_user
from anagen.accounts.models import Clinic
from anagen.accounts.roles import Role

AHEAD, BEHIND = "Pacific/Kiritimati", "Pacific/Pago_Pago"


@pytest.fixture(autouse=True)
def default_zone_after():
    """A command activates its clinic's zone for the rest of its process; here, one test's
    activation must not be the next one's default."""
    yield
    timezone.deactivate()


def today_in(name: str) -> date:
    return datetime.now(ZoneInfo(name)).date()


def set_zone(clinic: Clinic, name: str) -> None:
    Clinic.objects.filter(pk=clinic.pk).update(time_zone=name)
    clinic.refresh_from_db()


# --- the setting -----------------------------------------------------------------------------


def test_a_clinic_without_a_zone_works_in_the_deployments_default(clinic_a):
    assert clinic_a.time_zone == ""
    assert zone_of(clinic_a).key == settings.TIME_ZONE


def test_setting_a_zone_is_stored_with_who_and_why_in_the_history(clinic_a, make_user):
    admin = make_user(Role.ADMIN, clinic_a)
    services.set_time_zone(admin, clinic_a, " Europe/Berlin ")
    clinic_a.refresh_from_db()
    assert clinic_a.time_zone == "Europe/Berlin"
    last = clinic_a.history.first()
    assert last.history_user == admin
    assert last.history_change_reason == "time zone set to Europe/Berlin"


def test_an_unknown_zone_is_refused_and_nothing_changes(clinic_a, make_user):
    admin = make_user(Role.ADMIN, clinic_a)
    services.set_time_zone(admin, clinic_a, "Asia/Tokyo")
    rows = clinic_a.history.count()
    with pytest.raises(services.AccountFormError) as refused:
        services.set_time_zone(admin, clinic_a, "Mars/Olympus_Mons")
    assert "“Mars/Olympus_Mons” is not a time zone" in refused.value.errors["time_zone"][0]
    clinic_a.refresh_from_db()
    assert clinic_a.time_zone == "Asia/Tokyo"
    assert clinic_a.history.count() == rows


def test_an_empty_zone_goes_back_to_the_default(clinic_a, make_user):
    admin = make_user(Role.ADMIN, clinic_a)
    services.set_time_zone(admin, clinic_a, "Asia/Tokyo")
    services.set_time_zone(admin, clinic_a, "")
    clinic_a.refresh_from_db()
    assert clinic_a.time_zone == ""
    assert clinic_a.history.first().history_change_reason == "time zone set to the default"


def test_the_choice_offers_current_names_not_the_old_aliases():
    names = time_zone_names()
    assert {"Europe/Berlin", "America/New_York", "UTC", AHEAD} <= set(names)
    assert not {"US/Eastern", "Etc/GMT+5"} & set(names)
    assert list(names) == sorted(names)


def test_a_zone_the_installed_data_no_longer_knows_falls_back_to_the_default(clinic_a):
    clinic_a.time_zone = "Nowhere/Gone"  # stored before an update of the zone data
    assert zone_of(clinic_a).key == settings.TIME_ZONE


# --- "today" follows the clinic ----------------------------------------------------------------


def visit_form_date(client, user, patient) -> str:
    client.force_login(user)
    page = client.get(f"/monitoring/{patient.pk}/visits/new/")
    assert page.status_code == 200
    return page.context["form"]["visit_date"].value().isoformat()


def test_a_new_visit_is_dated_today_where_each_clinic_is(
    client, clinic_a, clinic_b, make_user, make_patient
):
    set_zone(clinic_a, AHEAD)
    set_zone(clinic_b, BEHIND)
    ahead, behind = make_user(Role.CLINICIAN, clinic_a), make_user(Role.CLINICIAN, clinic_b)
    expected_a = {today_in(AHEAD).isoformat()}
    shown_a = visit_form_date(client, ahead, make_patient(clinic_a, ahead))
    expected_a.add(today_in(AHEAD).isoformat())  # midnight passed meanwhile
    expected_b = {today_in(BEHIND).isoformat()}
    shown_b = visit_form_date(client, behind, make_patient(clinic_b, behind))
    expected_b.add(today_in(BEHIND).isoformat())
    assert shown_a in expected_a
    assert shown_b in expected_b
    assert shown_a > shown_b


def test_the_thread_is_back_in_the_default_zone_after_a_request(client, clinic_a, make_user):
    set_zone(clinic_a, AHEAD)
    client.force_login(make_user(Role.CLINICIAN, clinic_a))
    assert client.get("/").status_code == 200
    assert timezone.get_current_timezone_name() == settings.TIME_ZONE


def test_pages_say_which_zone_their_times_are_in(client, clinic_a, make_user):
    set_zone(clinic_a, "Europe/Berlin")
    client.force_login(make_user(Role.NURSE, clinic_a))
    assert "Dates and times: Europe/Berlin." in client.get("/").content.decode()


# --- the settings page ---------------------------------------------------------------------------


def test_an_administrator_sets_the_zone_on_its_page(client, clinic_a, make_user):
    admin = make_user(Role.ADMIN, clinic_a)
    client.force_login(admin)
    page = client.get("/accounts/clinic/time-zone/")
    assert page.status_code == 200
    assert "Time zone of Clinic A" in page.content.decode()
    assert f"({settings.TIME_ZONE})" in page.content.decode()
    saved = client.post("/accounts/clinic/time-zone/", {"time_zone": AHEAD}, follow=True)
    assert saved.status_code == 200
    assert f"Time zone saved: {AHEAD}." in saved.content.decode()
    clinic_a.refresh_from_db()
    assert clinic_a.time_zone == AHEAD
    assert "Dates and times: Pacific/Kiritimati." in saved.content.decode()


def test_a_made_up_zone_posted_to_the_page_is_refused_with_a_message(client, clinic_a, make_user):
    client.force_login(make_user(Role.ADMIN, clinic_a))
    refused = client.post("/accounts/clinic/time-zone/", {"time_zone": "Mars/Base"})
    assert refused.status_code == 400
    assert "“Mars/Base” is not a time zone" in refused.content.decode()
    clinic_a.refresh_from_db()
    assert clinic_a.time_zone == ""


def test_a_zone_changed_meanwhile_by_someone_else_is_not_overwritten(client, clinic_a, make_user):
    admin = make_user(Role.ADMIN, clinic_a)
    client.force_login(admin)
    opened = f'"{""}"'  # the page was opened while the clinic had no zone of its own
    services.set_time_zone(admin, clinic_a, "Europe/Paris")  # another administrator saves
    refused = client.post(
        "/accounts/clinic/time-zone/", {"time_zone": "Asia/Tokyo", "opened-time_zone": opened}
    )
    assert refused.status_code == 400
    assert "Changed by someone else since you opened this page" in refused.content.decode()
    clinic_a.refresh_from_db()
    assert clinic_a.time_zone == "Europe/Paris"


@pytest.mark.parametrize("role", [Role.CLINICIAN, Role.NURSE, Role.QUALITY, Role.RESEARCHER])
def test_only_an_administrator_may_change_the_zone(client, clinic_a, make_user, role):
    client.force_login(make_user(role, clinic_a))
    assert client.post("/accounts/clinic/time-zone/", {"time_zone": AHEAD}).status_code == 403
    clinic_a.refresh_from_db()
    assert clinic_a.time_zone == ""


def test_the_settings_index_lists_the_zone_for_administrators_only(client, clinic_a, make_user):
    client.force_login(make_user(Role.ADMIN, clinic_a))
    assert "/accounts/clinic/time-zone/" in client.get("/settings/").content.decode()
    client.force_login(make_user(Role.CLINICIAN, clinic_a))
    assert "/accounts/clinic/time-zone/" not in client.get("/settings/").content.decode()


def test_an_administrator_of_one_clinic_working_in_another_may_not_set_its_zone(
    client, clinic_a, clinic_b, make_user
):
    from anagen.accounts.services import set_membership

    admin = make_user(Role.ADMIN, clinic_a)
    set_membership(admin, clinic_b, Role.CLINICIAN)
    client.force_login(admin)
    assert client.post("/accounts/clinic/switch/", {"clinic_id": clinic_b.pk}).status_code == 302
    refused = client.post("/accounts/clinic/time-zone/", {"time_zone": AHEAD})
    assert refused.status_code == 403
    clinic_a.refresh_from_db()
    clinic_b.refresh_from_db()
    assert (clinic_a.time_zone, clinic_b.time_zone) == ("", "")
    # Back in the clinic they administer, the same request sets that clinic's zone only.
    client.post("/accounts/clinic/switch/", {"clinic_id": clinic_a.pk})
    assert client.post("/accounts/clinic/time-zone/", {"time_zone": AHEAD}).status_code == 302
    clinic_a.refresh_from_db()
    clinic_b.refresh_from_db()
    assert (clinic_a.time_zone, clinic_b.time_zone) == (AHEAD, "")


# --- the API -------------------------------------------------------------------------------------


def test_a_token_call_sees_its_clinics_today(client, clinic_a, clinic_b, make_user, api_token):
    set_zone(clinic_a, AHEAD)
    set_zone(clinic_b, BEHIND)
    answers, expected = {}, {}
    for clinic, zone in ((clinic_a, AHEAD), (clinic_b, BEHIND)):
        token = api_token(make_user(Role.NURSE, clinic), clinic)
        before = today_in(zone).isoformat()
        r = client.get("/api/v1/clinic", headers={"Authorization": f"Bearer {token}"})
        expected[clinic.slug] = {before, today_in(zone).isoformat()}  # midnight meanwhile
        assert r.status_code == 200
        answers[clinic.slug] = r.json()
        assert timezone.get_current_timezone_name() == settings.TIME_ZONE
    a, b = answers["clinic-a"], answers["clinic-b"]
    assert (a["time_zone"], a["time_zone_set"]) == (AHEAD, True)
    assert a["today"] in expected["clinic-a"]
    assert b["today"] in expected["clinic-b"]
    assert a["today"] > b["today"]


def test_the_api_sets_the_zone_and_refuses_an_unknown_one(client, clinic_a, make_user, api_token):
    headers = {"Authorization": f"Bearer {api_token(make_user(Role.ADMIN, clinic_a), clinic_a)}"}
    before = today_in(BEHIND).isoformat()
    r = client.put("/api/v1/clinic/time-zone", {"time_zone": BEHIND}, "application/json",
                   headers=headers)  # fmt: skip
    assert r.status_code == 200
    assert r.json()["time_zone"] == BEHIND
    assert r.json()["today"] in {before, today_in(BEHIND).isoformat()}
    bad = client.put("/api/v1/clinic/time-zone", {"time_zone": "Pacific/Atlantis"},
                     "application/json", headers=headers)  # fmt: skip
    assert bad.status_code == 400
    assert bad.json()["detail"].startswith("time_zone: “Pacific/Atlantis” is not a time zone")
    clinic_a.refresh_from_db()
    assert clinic_a.time_zone == BEHIND


@pytest.mark.parametrize("name", ["localtime", "Factory", "EST", "posixrules", "GMT+0"])
def test_names_that_are_not_a_place_are_refused(client, clinic_a, make_user, api_token, name):
    """ "localtime" is whatever the host is set to (the web server and the worker may differ);
    the others name no place."""
    headers = {"Authorization": f"Bearer {api_token(make_user(Role.ADMIN, clinic_a), clinic_a)}"}
    r = client.put("/api/v1/clinic/time-zone", {"time_zone": name}, "application/json",
                   headers=headers)  # fmt: skip
    assert r.status_code == 400
    clinic_a.refresh_from_db()
    assert clinic_a.time_zone == ""


def test_an_older_alias_is_still_accepted_where_a_clinic_has_it(clinic_a, make_user):
    services.set_time_zone(make_user(Role.ADMIN, clinic_a), clinic_a, "US/Eastern")
    clinic_a.refresh_from_db()
    assert zone_of(clinic_a).key == "US/Eastern"


def test_a_long_made_up_name_is_not_echoed_whole(clinic_a, make_user):
    with pytest.raises(services.AccountFormError) as refused:
        services.set_time_zone(make_user(Role.ADMIN, clinic_a), clinic_a, "X/" + "y" * 5000)
    assert len(refused.value.errors["time_zone"][0]) < 200


def test_the_api_lets_only_an_administrator_set_the_zone(client, clinic_a, make_user, api_token):
    token = api_token(make_user(Role.CLINICIAN, clinic_a), clinic_a)
    r = client.put("/api/v1/clinic/time-zone", {"time_zone": AHEAD}, "application/json",
                   headers={"Authorization": f"Bearer {token}"})  # fmt: skip
    assert r.status_code == 403
    clinic_a.refresh_from_db()
    assert clinic_a.time_zone == ""


# --- outside a request ---------------------------------------------------------------------------


def test_a_command_for_one_clinic_works_in_its_zone(clinic_a, make_user):
    set_zone(clinic_a, AHEAD)
    user = make_user(Role.CLINICIAN, clinic_a)
    before = today_in(AHEAD)
    clinic_and_user(clinic_a.slug, user.username, "patient.view")
    assert timezone.get_current_timezone_name() == AHEAD
    assert timezone.localdate() in {before, today_in(AHEAD)}


def test_work_for_a_clinic_outside_a_request_runs_in_its_zone_and_then_restores(clinic_a):
    set_zone(clinic_a, BEHIND)
    with in_clinic_time(clinic_a):
        assert timezone.get_current_timezone_name() == BEHIND
    assert timezone.get_current_timezone_name() == settings.TIME_ZONE


def test_the_snapshot_rebuild_command_runs_each_clinic_in_its_zone(clinic_a, monkeypatch):
    set_zone(clinic_a, AHEAD)
    seen = []

    def rebuild(clinic, force=True):
        seen.append(timezone.get_current_timezone_name())
        raise SystemExit(0)  # stop here: only the zone it ran in is of interest

    monkeypatch.setattr("anagen.outcomes.services.rebuild_analysis_snapshot", rebuild)
    with pytest.raises(SystemExit):
        call_command("outcomes", "rebuild-snapshot", "--clinic", clinic_a.slug)
    assert seen == [AHEAD]


def test_the_snapshot_rebuild_task_runs_in_its_clinics_zone(clinic_a, monkeypatch):
    from anagen.outcomes.tasks import rebuild_snapshot

    set_zone(clinic_a, BEHIND)
    seen = []

    def rebuild(clinic, force=False):
        seen.append(timezone.get_current_timezone_name())
        return None

    monkeypatch.setattr("anagen.outcomes.services.rebuild_analysis_snapshot", rebuild)
    assert rebuild_snapshot.call(clinic_a.pk) == "fresh"
    assert seen == [BEHIND]
    assert timezone.get_current_timezone_name() == settings.TIME_ZONE
