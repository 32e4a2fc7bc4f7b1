"""A form's address opened as a page (GET on a POST-only view) answers a page that says so:
Django's 405 had no body and browsers showed their own error screen. The API keeps JSON."""

from anagen.accounts.roles import Role


def test_a_form_address_opened_as_a_page_explains_itself(client, clinic_a, make_user):
    client.force_login(make_user(Role.QUALITY, clinic_a))
    response = client.get("/products/lots/1/waste/")
    assert response.status_code == 405
    assert response["Allow"] == "POST"
    page = response.content.decode()
    assert "This address takes a form" in page and "Nothing was changed" in page


def test_the_api_keeps_its_own_405(client, clinic_a, make_user, api_token):
    user = make_user(Role.CLINICIAN, clinic_a)
    response = client.delete(
        "/api/v1/patients", headers={"Authorization": f"Bearer {api_token(user, clinic_a)}"}
    )
    assert response.status_code == 405
    assert "This address takes a form" not in response.content.decode()
