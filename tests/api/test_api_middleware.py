"""Request bodies the API checks before a view reads them (anagen.api.middleware)."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from anagen.accounts.roles import Role
from anagen.patients.models import Patient
from anagen.products.models import CertificateOfAnalysis, LotStatus

from .. import builders
from ..products.test_products_django_support import good_results


@pytest.fixture
def quality_headers(clinic_a, make_user, api_token):
    user = make_user(Role.QUALITY, clinic_a)
    return user, {"Authorization": f"Bearer {api_token(user, clinic_a)}"}


def test_json_nested_too_deeply_is_400_not_a_crash(client, quality_headers):
    _, headers = quality_headers
    for body in ("[" * 100_000 + "]" * 100_000, '{"a":' * 100_000 + "1" + "}" * 100_000):
        answer = client.post(
            "/api/v1/patients", data=body, content_type="application/json", headers=headers
        )
        assert answer.status_code == 400
        assert "nested too deeply" in answer.json()["detail"]
    assert Patient.objects.count() == 0


def test_a_coa_naming_a_result_twice_is_400_and_not_stored(client, clinic_a, quality_headers):
    """JSON keeps the last of two equal keys: sterility "positive" then "negative" was stored
    as negative and the lot released."""
    user, headers = quality_headers
    lot = builders.released_lot(clinic_a, user, status=LotStatus.QUARANTINED)
    body = json.dumps(
        {
            "testing_laboratory": "Lab",
            "certificate_lot_number": lot.lot_number,
            "results": good_results(),
        }
    ).replace('"sterility": "negative"', '"sterility": "positive", "sterility": "negative"')
    assert body.count('"sterility"') == 2
    answer = client.put(
        f"/api/v1/products/lots/{lot.pk}/coa",
        data=body,
        content_type="application/json",
        headers=headers,
    )
    assert answer.status_code == 400
    assert "'sterility' appears twice" in answer.json()["detail"]
    assert not CertificateOfAnalysis.objects.filter(lot=lot).exists()


class TestCoaPdfUpload:
    """The one endpoint whose body is a file: multipart/form-data, not JSON."""

    @pytest.fixture
    def lot_with_coa(self, clinic_a, quality_headers, client):
        user, headers = quality_headers
        lot = builders.released_lot(clinic_a, user, status=LotStatus.QUARANTINED)
        entered = client.put(
            f"/api/v1/products/lots/{lot.pk}/coa",
            data=json.dumps(
                {
                    "testing_laboratory": "Lab",
                    "certificate_lot_number": lot.lot_number,
                    "results": good_results(),
                }
            ),
            content_type="application/json",
            headers=headers,
        )
        assert entered.status_code == 200, entered.content
        return lot

    def test_a_pdf_sent_as_multipart_is_attached(self, client, quality_headers, lot_with_coa):
        _, headers = quality_headers
        pdf = SimpleUploadedFile("coa.pdf", b"%PDF-1.4\n%%EOF\n", "application/pdf")
        answer = client.post(
            f"/api/v1/products/lots/{lot_with_coa.pk}/coa/pdf", {"file": pdf}, headers=headers
        )
        assert answer.status_code == 200, answer.content
        coa = CertificateOfAnalysis.objects.get(lot=lot_with_coa)
        assert coa.pdf_original_name == "coa.pdf" and coa.pdf.read().startswith(b"%PDF-")

    def test_a_json_body_there_is_400_naming_multipart(self, client, quality_headers, lot_with_coa):
        _, headers = quality_headers
        answer = client.post(
            f"/api/v1/products/lots/{lot_with_coa.pk}/coa/pdf",
            data=json.dumps({"file": "x"}),
            content_type="application/json",
            headers=headers,
        )
        assert answer.status_code == 400
        assert "multipart" in answer.json()["detail"]
        assert not CertificateOfAnalysis.objects.get(lot=lot_with_coa).pdf


@pytest.mark.parametrize("body", [b"", b"x"])
@pytest.mark.parametrize(
    "content_type", ["multipart/form-data", "multipart/form-data; boundary=", "multipart/mixed"]
)
def test_multipart_without_a_boundary_is_400_for_a_browser_session_not_a_crash(
    clinic_a, make_user, body, content_type
):
    """The CSRF check of a session-cookie POST reads the form body; with no boundary that
    raised MultiPartParserError (a 500) before any view ran."""
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(make_user(Role.CLINICIAN, clinic_a))
    # CONTENT_TYPE given as well: the test client sends none with an empty body.
    answer = client.generic(
        "POST", "/api/v1/patients", body, content_type=content_type, CONTENT_TYPE=content_type
    )
    assert answer.status_code == 400
    assert "boundary" in answer.json()["detail"]
    assert Patient.objects.count() == 0


def test_the_openapi_document_names_the_answers_to_a_body_refused_before_the_view(client):
    """413 (too large) and 415 (not JSON) come from the middleware, for any body."""
    paths = client.get("/api/v1/openapi.json").json()["paths"]
    json_bodies = files = 0
    for operations in paths.values():
        for operation in operations.values():
            codes = set(operation["responses"])
            content = operation.get("requestBody", {}).get("content", {})
            assert ("413" in codes) == bool(content), operation["operationId"]
            assert ("415" in codes) == ("application/json" in content), operation["operationId"]
            json_bodies += "application/json" in content
            files += "multipart/form-data" in content
    assert json_bodies > 30 and files == 1
