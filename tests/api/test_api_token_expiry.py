"""An API token works until its expiry and is then refused with a 401 that says so."""

from datetime import UTC, datetime, timedelta

import pytest

from anagen.accounts import services
from anagen.accounts.models import ApiToken
from anagen.accounts.roles import Role

MADE = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
EXPIRES = MADE + timedelta(days=30)


@pytest.fixture
def token(clinic_a, make_user, clock) -> str:
    """A nurse's 30-day token for clinic A (in Berlin), made at MADE."""
    clinic_a.time_zone = "Europe/Berlin"
    clinic_a.save()
    clock(MADE)
    return services.create_api_token(make_user(Role.NURSE, clinic_a), clinic_a, "lab", 30)[1]


def me(client, raw: str):
    return client.get("/api/v1/me", headers={"Authorization": f"Bearer {raw}"})


def test_a_token_works_one_second_before_its_expiry(client, token, clock):
    clock(EXPIRES - timedelta(seconds=1))
    assert me(client, token).status_code == 200
    assert ApiToken.objects.get().last_used_at == EXPIRES - timedelta(seconds=1)


@pytest.mark.parametrize("after", [timedelta(0), timedelta(days=400)])
def test_an_expired_token_is_refused_saying_when_it_expired(client, token, clock, after):
    clock(EXPIRES + after)
    response = me(client, token)
    assert response.status_code == 401
    # As for an unknown or revoked token: RFC 6750's invalid_token, the reason in `detail`.
    assert response["WWW-Authenticate"] == 'Bearer realm="anagen", error="invalid_token"'
    assert response.json() == {
        "detail": "This API token expired on 2027-01-06 13:00 CET; create a new one on the "
        "API tokens page."  # in the clinic's zone
    }
    assert ApiToken.objects.get().last_used_at is None  # refused, so not used


def test_an_expired_token_is_refused_for_writes_too_and_nothing_is_stored(client, token, clock):
    from anagen.patients.models import Patient

    clock(EXPIRES + timedelta(days=1))
    response = client.post(
        "/api/v1/patients",
        {"medical_record_number": "X-1", "given_name": "A", "family_name": "B"},
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 401 and "expired on 2027-01-06" in response.json()["detail"]
    assert not Patient.objects.exists()


def test_a_revoked_expired_token_reads_as_not_valid(client, token, clock):
    """Revoked is final: the page's Revoke, not the clock, is what its owner did."""
    ApiToken.objects.update(revoked_at=MADE + timedelta(days=1))
    clock(EXPIRES + timedelta(days=1))
    response = me(client, token)
    assert response.status_code == 401
    assert response.json()["detail"].startswith("The API token is not valid")


def test_the_service_says_the_token_expired(token, clock):
    clock(EXPIRES)
    with pytest.raises(services.TokenExpired, match="expired on 2027-01-06 13:00 CET"):
        services.authenticate_token(token)
    clock(EXPIRES - timedelta(seconds=1))
    assert services.authenticate_token(token) is not None
