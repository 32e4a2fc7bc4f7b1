from anagen.accounts.models import ApiToken
from anagen.accounts.roles import Role


def test_a_token_is_shown_once_and_only_its_hash_is_stored(client, clinic_a, make_user):
    client.force_login(make_user(Role.CLINICIAN, clinic_a))
    response = client.post("/accounts/tokens/", {"name": "lab import"})
    assert response.status_code == 200
    raw = response.context["raw_token"]
    assert raw.startswith("ang_")
    token = ApiToken.objects.get()
    assert raw not in (token.key_hash, token.prefix)
    assert raw not in client.get("/accounts/tokens/").content.decode()


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
    response = client.post("/accounts/tokens/", {"name": ""})
    assert response.status_code == 400 and response.context["form"].errors["name"]
    assert not ApiToken.objects.exists()
