import re
from datetime import UTC, datetime, timedelta

import pytest

from anagen.accounts import selectors, services
from anagen.accounts.models import ApiToken
from anagen.accounts.roles import Role
from anagen.accounts.token_lifetime import LIFETIME_REFUSED

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def token_rows(html: str) -> dict[str, list[str]]:
    """The tokens table: each token's name and its cells."""
    rows = re.findall(r"<tr><td>(.*?)</tr>", html, re.DOTALL)
    return {
        cells[0]: cells
        for cells in (re.findall(r"<td>(.*?)</td>", f"<td>{r}", re.DOTALL) for r in rows)
    }


def test_a_token_is_shown_once_and_only_its_hash_is_stored(client, clinic_a, make_user):
    client.force_login(make_user(Role.CLINICIAN, clinic_a))
    response = client.post("/accounts/tokens/", {"name": "lab import", "lifetime_days": "90"})
    assert response.status_code == 200
    raw = response.context["raw_token"]
    assert raw.startswith("ang_")
    token = ApiToken.objects.get()
    assert raw not in (token.key_hash, token.prefix)
    assert raw not in client.get("/accounts/tokens/").content.decode()


def test_after_a_token_is_made_the_form_is_empty_again(client, clinic_a, make_user):
    """It kept the name typed, one press from a second token."""
    client.force_login(make_user(Role.CLINICIAN, clinic_a))
    response = client.post("/accounts/tokens/", {"name": "lab import", "lifetime_days": "30"})
    assert response.context["raw_token"].startswith("ang_")
    assert not response.context["form"].is_bound
    assert 'value="lab import"' not in response.content.decode()


def test_a_revoked_token_no_longer_authenticates(client, clinic_a, make_user, api_token):
    user = make_user(Role.CLINICIAN, clinic_a)
    raw = api_token(user, clinic_a)
    headers = {"Authorization": f"Bearer {raw}"}
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    client.force_login(user)
    client.post(f"/accounts/tokens/{ApiToken.objects.get().pk}/revoke/")
    client.logout()
    assert client.get("/api/v1/me", headers=headers).status_code == 401


def test_someone_elses_token_cannot_be_revoked(client, clinic_a, make_user, api_token):
    owner = make_user(Role.CLINICIAN, clinic_a, username="owner")
    api_token(owner, clinic_a)
    client.force_login(make_user(Role.ADMIN, clinic_a, username="other"))
    response = client.post(f"/accounts/tokens/{ApiToken.objects.get().pk}/revoke/")
    assert response.status_code == 404
    assert ApiToken.objects.get().revoked_at is None


def test_a_token_without_a_name_is_a_form_error(client, clinic_a, make_user):
    client.force_login(make_user(Role.CLINICIAN, clinic_a))
    response = client.post("/accounts/tokens/", {"name": "", "lifetime_days": "90"})
    assert response.status_code == 400 and response.context["form"].errors["name"]
    assert not ApiToken.objects.exists()


@pytest.mark.parametrize("days", [30, 90, 365])
def test_a_token_lives_the_days_its_creator_chose(client, clinic_a, make_user, clock, days):
    clock(NOW)
    client.force_login(make_user(Role.NURSE, clinic_a))
    response = client.post("/accounts/tokens/", {"name": "lab", "lifetime_days": str(days)})
    assert response.status_code == 200 and response.context["raw_token"]
    token = ApiToken.objects.get()
    assert token.created_at == NOW
    assert token.expires_at == NOW + timedelta(days=days)


def test_the_page_offers_30_90_or_365_days_and_chooses_90(client, clinic_a, make_user):
    client.force_login(make_user(Role.NURSE, clinic_a))
    field = client.get("/accounts/tokens/").context["form"]["lifetime_days"]
    assert [value for value, _ in field.field.choices] == [30, 90, 365]
    assert '<option value="90" selected>90 days</option>' in str(field)


@pytest.mark.parametrize("lifetime", ["", "0", "7", "366", "730", "3650", "ninety", "-30"])
def test_any_other_lifetime_is_a_form_error_and_stores_nothing(
    client, clinic_a, make_user, lifetime
):
    client.force_login(make_user(Role.NURSE, clinic_a))
    response = client.post("/accounts/tokens/", {"name": "lab", "lifetime_days": lifetime})
    assert response.status_code == 400
    assert response.context["form"].errors["lifetime_days"] == [LIFETIME_REFUSED]
    assert response.context["raw_token"] is None
    assert not ApiToken.objects.exists()


@pytest.mark.parametrize("days", [0, 31, 366, 10_000, True])
def test_the_service_refuses_any_other_lifetime_too(clinic_a, make_user, days):
    user = make_user(Role.NURSE, clinic_a)
    with pytest.raises(services.AccountError, match="30, 90 or 365 days"):
        services.create_api_token(user, clinic_a, "script", days)
    assert not ApiToken.objects.exists()


@pytest.mark.parametrize("name", ["lab\x1b[31m script", "nightly\u202e tpircs", "a\x00b"])
def test_the_service_refuses_a_name_with_hidden_characters_too(clinic_a, make_user, name):
    user = make_user(Role.NURSE, clinic_a)
    with pytest.raises(services.AccountError, match="^Token name: Remove the"):
        services.create_api_token(user, clinic_a, name, 30)
    assert not ApiToken.objects.exists()


def test_creating_a_token_is_audited_with_its_expiry(clinic_a, make_user, clock):
    clock(NOW)
    clinic_a.time_zone = "Europe/Berlin"
    clinic_a.save()
    user = make_user(Role.NURSE, clinic_a)
    token, raw = services.create_api_token(user, clinic_a, "lab import", 30)
    row = token.history.get()
    assert row.history_type == "+" and row.history_user == user
    assert row.history_change_reason == (
        "API token created, valid 30 days until 2027-01-06 13:00 CET"
    )
    assert row.expires_at == NOW + timedelta(days=30)
    # The clinic's audit trail lists it, and its page shows the expiry; never the hash.
    entry = next(
        e for e in selectors.audit_trail(clinic_a) if e.record_label == "accounts.ApiToken"
    )
    change = selectors.audit_change(clinic_a, entry.record_label, entry.history_id)
    shown = {c.label: c.new for c in change.changes}
    assert shown["Expires at"] == "2027-01-06 12:00:00"  # no request: the default zone, UTC
    assert not hasattr(row, "key_hash") and token.key_hash not in str(shown)


def test_revoking_a_token_is_audited(client, clinic_a, make_user):
    user = make_user(Role.NURSE, clinic_a)
    token, _ = services.create_api_token(user, clinic_a, "lab import")
    client.force_login(user)
    client.post(f"/accounts/tokens/{token.pk}/revoke/")
    row = token.history.order_by("history_id").last()
    assert (row.history_type, row.history_user, row.history_change_reason) == (
        "~",
        user,
        "API token revoked",
    )
    assert row.revoked_at is not None


def test_the_page_shows_each_expiry_and_marks_expired_and_expiring_ones(
    client, clinic_a, make_user, clock
):
    user = make_user(Role.NURSE, clinic_a)
    clock(NOW - timedelta(days=40))
    services.create_api_token(user, clinic_a, "old script", 30)  # expired 10 days ago
    clock(NOW - timedelta(days=85))
    services.create_api_token(user, clinic_a, "soon script", 90)  # expires in 5 days
    clock(NOW - timedelta(days=82, seconds=1))
    services.create_api_token(user, clinic_a, "later script", 90)  # in 8 days less a second
    clock(NOW)
    services.create_api_token(user, clinic_a, "new script", 365)
    client.force_login(user)
    rows = token_rows(client.get("/accounts/tokens/").content.decode())
    # Each token's expiry and status.
    assert rows["old script"][4:6] == [
        "2026-11-27 12:00 UTC",
        '<span class="badge void">expired</span>',
    ]
    assert rows["soon script"][4:6] == [
        "2026-12-12 12:00 UTC",
        '<span class="badge warn">expires soon</span>',
    ]
    assert rows["later script"][4:6] == ["2026-12-15 11:59 UTC", "active"]
    assert rows["new script"][4:6] == ["2027-12-07 12:00 UTC", "active"]
    # An expired or expiring token can still be revoked.
    for name in ("old script", "soon script"):
        assert ">Revoke</button>" in rows[name][6]


@pytest.mark.parametrize("name", ["expired", "expiring"])
def test_an_expired_or_expiring_token_can_be_revoked(client, clinic_a, make_user, clock, name):
    user = make_user(Role.NURSE, clinic_a)
    clock(NOW)
    token, _ = services.create_api_token(user, clinic_a, name, 30)
    clock(NOW + timedelta(days=31 if name == "expired" else 25))
    client.force_login(user)
    response = client.post(f"/accounts/tokens/{token.pk}/revoke/", follow=True)
    assert "Token revoked." in response.content.decode()
    token.refresh_from_db()
    assert token.revoked_at == NOW + timedelta(days=31 if name == "expired" else 25)


@pytest.mark.parametrize("name", ["lab\x1b[2J import", "lab import\u202e", "lab\timport\x00"])
def test_a_token_name_with_control_characters_is_refused_and_no_token_is_made(
    client, clinic_a, make_user, name
):
    """The name is shown in the token list and the audit trail, where an escape sequence or a
    right-to-left override disguises it; a NUL was a 500 on PostgreSQL."""
    client.force_login(make_user(Role.CLINICIAN, clinic_a))
    response = client.post("/accounts/tokens/", {"name": name, "lifetime_days": "90"})
    assert response.status_code in (200, 400)
    assert response.context["form"].errors["name"]
    assert not ApiToken.objects.exists()
