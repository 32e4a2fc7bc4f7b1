# ruff: noqa: F811 — pytest fixtures imported from the support module are redefined as arguments.
"""A CoA records the lot number its certificate states, and a certificate of another lot is
refused on every path (service, form, API, import file, CLI, import page); a CoA stored
before the number was recorded releases nothing until it is entered."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError

from anagen.products import services
from anagen.products.models import CertificateOfAnalysis, Lot, LotStatus

from .test_products_api import api, detail  # noqa: F401
from .test_products_django_import_recall import as_json, csv_file, csv_row, lot_entry
from .test_products_django_support import (  # noqa: F401
    good_results,
    make_lot,
    product,
    quality,
    quality2,
)

pytestmark = pytest.mark.django_db

MISMATCH = "The certificate is for lot UC-2609-B; this is lot UC-2609-A."
NOT_RECORDED = "The certificate's lot number was not recorded"


def enter(lot, user, number, **changes):
    return services.record_coa(
        lot, user, testing_laboratory="Lab", certificate_lot_number=number,
        results=good_results(**changes),
    )  # fmt: skip


def legacy_coa(lot, user, **changes):
    """A CoA as the migration leaves one stored before the field existed: number blank."""
    enter(lot, user, lot.lot_number, **changes)
    CertificateOfAnalysis.objects.filter(lot=lot).update(certificate_lot_number="")
    return Lot.objects.get(pk=lot.pk)


class TestTheService:
    def test_a_certificate_of_another_lot_is_refused_naming_both_and_nothing_is_stored(
        self, make_lot, quality
    ):
        lot = make_lot(lot_number="UC-2609-A")
        with pytest.raises(services.ProductError) as err:
            enter(lot, quality, "UC-2609-B")
        assert err.value.errors == {"certificate_lot_number": [MISMATCH]}
        assert not CertificateOfAnalysis.objects.filter(lot=lot).exists()

    def test_replacing_with_a_certificate_of_another_lot_keeps_the_stored_one(
        self, make_lot, quality
    ):
        lot = make_lot(lot_number="UC-2609-A")
        enter(lot, quality, "UC-2609-A")
        with pytest.raises(services.ProductError):
            enter(lot, quality, "UC-2609-B", sterility="positive")
        coa = CertificateOfAnalysis.objects.get(lot=lot)
        assert coa.certificate_lot_number == "UC-2609-A"
        assert coa.results["sterility"] == "negative"

    @pytest.mark.parametrize("printed", ["uc-2609-a", "  UC 2609 A ", "UC2609A"])
    def test_the_same_number_printed_otherwise_is_accepted_and_stored_as_printed(
        self, make_lot, quality, printed
    ):
        lot = make_lot(lot_number="UC-2609-A")
        coa = enter(lot, quality, printed)
        assert coa.certificate_lot_number == printed.strip()

    def test_the_number_is_required(self, make_lot, quality):
        lot = make_lot(lot_number="UC-2609-A")
        with pytest.raises(services.ProductError) as err:
            enter(lot, quality, "  ")
        assert err.value.errors["certificate_lot_number"] == [
            "Enter the lot number printed on the certificate."
        ]

    def test_exactly_another_lots_number_is_refused_though_separators_would_match(
        self, make_lot, quality
    ):
        make_lot(lot_number="AB-12")
        lot = make_lot(lot_number="A-B12")
        with pytest.raises(services.ProductError) as err:
            enter(lot, quality, "ab-12")
        assert err.value.errors["certificate_lot_number"] == [
            "The certificate is for lot ab-12; this is lot A-B12."
        ]

    def test_the_history_keeps_the_number_with_who_and_why(self, make_lot, quality):
        lot = make_lot(lot_number="UC-2609-A")
        enter(lot, quality, "UC-2609-A")
        entry = CertificateOfAnalysis.objects.get(lot=lot).history.first()
        assert entry.certificate_lot_number == "UC-2609-A"
        assert entry.history_user == quality
        assert entry.history_change_reason == "CoA entered"


class TestTheForm:
    def post(self, client, lot, number):
        data = {"testing_laboratory": "Lab", "certificate_lot_number": number, **good_results()}
        return client.post(f"/products/lots/{lot.pk}/coa/", data)

    def test_a_certificate_of_another_lot_is_shown_under_the_field_and_nothing_is_stored(
        self, client, make_lot, quality
    ):
        lot = make_lot(lot_number="UC-2609-A")
        client.force_login(quality)
        response = self.post(client, lot, "UC-2609-B")
        assert response.status_code == 400
        assert response.context["form"].errors["certificate_lot_number"] == [MISMATCH]
        assert not CertificateOfAnalysis.objects.filter(lot=lot).exists()

    def test_the_field_is_required(self, client, make_lot, quality):
        lot = make_lot(lot_number="UC-2609-A")
        client.force_login(quality)
        response = self.post(client, lot, "")
        assert response.status_code == 400
        assert "certificate_lot_number" in response.context["form"].errors
        assert not CertificateOfAnalysis.objects.filter(lot=lot).exists()

    def test_the_number_in_another_case_and_spacing_is_saved(self, client, make_lot, quality):
        lot = make_lot(lot_number="UC-2609-A")
        client.force_login(quality)
        assert self.post(client, lot, "uc 2609 a").status_code == 302
        assert CertificateOfAnalysis.objects.get(lot=lot).certificate_lot_number == "uc 2609 a"
        page = client.get(f"/products/lots/{lot.pk}/").content.decode()
        assert "Certificate for lot <strong>uc 2609 a</strong>" in page


class TestTheApi:
    def test_a_certificate_of_another_lot_is_a_400_naming_the_field(self, api, make_lot):
        lot = make_lot(lot_number="UC-2609-A")
        body = {"testing_laboratory": "Lab", "certificate_lot_number": "UC-2609-B",
                "results": good_results()}  # fmt: skip
        assert detail(api("put", f"/lots/{lot.pk}/coa", body)) == (
            f"certificate_lot_number: {MISMATCH}"
        )
        assert not CertificateOfAnalysis.objects.filter(lot=lot).exists()

    def test_a_coa_without_the_number_is_a_400(self, api, make_lot):
        lot = make_lot(lot_number="UC-2609-A")
        body = {"testing_laboratory": "Lab", "results": good_results()}
        assert detail(api("put", f"/lots/{lot.pk}/coa", body)).startswith("certificate_lot_number:")
        assert not CertificateOfAnalysis.objects.filter(lot=lot).exists()

    def test_a_matching_number_is_stored_and_answered(self, api, make_lot):
        lot = make_lot(lot_number="UC-2609-A")
        body = {"testing_laboratory": "Lab", "certificate_lot_number": "uc2609a",
                "results": good_results()}  # fmt: skip
        response = api("put", f"/lots/{lot.pk}/coa", body)
        assert response.status_code == 200, response.content
        assert response.json()["coa"]["certificate_lot_number"] == "uc2609a"

    def test_an_imported_certificate_of_another_lot_is_a_400_and_nothing_is_imported(
        self, api, product
    ):
        entry = lot_entry("UC-2609-A")
        entry["coa"]["certificate_lot_number"] = "UC-2609-B"
        assert detail(api("post", "/lots/import", {"lots": [entry]})) == (
            f"row 1, coa.certificate_lot_number: {MISMATCH}"
        )
        assert not Lot.objects.exists()


class TestTheImportFile:
    def test_a_json_row_with_a_certificate_of_another_lot_imports_nothing(self, product, quality):
        bad = lot_entry("UC-2609-A")
        bad["coa"]["certificate_lot_number"] = "UC-2609-B"
        with pytest.raises(services.ProductError) as err:
            services.import_lots(
                product.clinic, quality, "lots.json", as_json(lot_entry("OK-1"), bad)
            )
        assert err.value.errors == {"row 2, coa.certificate_lot_number": [MISMATCH]}
        assert not Lot.objects.exists() and not CertificateOfAnalysis.objects.exists()

    def test_a_json_coa_without_the_number_is_refused(self, product, quality):
        entry = lot_entry("UC-2609-A")
        entry["coa"]["certificate_lot_number"] = None
        with pytest.raises(services.ProductError) as err:
            services.import_lots(product.clinic, quality, "lots.json", as_json(entry))
        assert err.value.errors == {"row 1, coa.certificate_lot_number": ["is required"]}
        assert not Lot.objects.exists()

    def test_a_csv_row_with_a_certificate_of_another_lot_imports_nothing(self, product, quality):
        rows = [csv_row("UC-2609-A", certificate_lot_number="UC-2609-B"), csv_row("OK-1")]
        with pytest.raises(services.ProductError) as err:
            services.import_lots(product.clinic, quality, "lots.csv", csv_file(rows))
        assert err.value.errors == {"row 1, coa.certificate_lot_number": [MISMATCH]}
        assert not Lot.objects.exists()

    def test_a_csv_number_printed_otherwise_imports(self, product, quality):
        rows = [csv_row("UC-2609-A", certificate_lot_number="uc 2609 a")]
        (lot,) = services.import_lots(product.clinic, quality, "lots.csv", csv_file(rows))
        assert lot.coa.certificate_lot_number == "uc 2609 a"

    def test_the_cli_refuses_it_in_one_line(self, product, quality, tmp_path):
        entry = lot_entry("UC-2609-A")
        entry["coa"]["certificate_lot_number"] = "UC-2609-B"
        path = tmp_path / "lots.json"
        path.write_text(json.dumps({"lots": [entry]}))
        with pytest.raises(CommandError) as err:
            call_command("lots", "import", str(path), "--clinic", "clinic-a", "--user", "quality-1")
        assert f"row 1, coa.certificate_lot_number: {MISMATCH}" in str(err.value)
        assert not Lot.objects.exists()

    def test_the_import_page_lists_it_and_imports_nothing(self, client, product, quality):
        entry = lot_entry("UC-2609-A")
        entry["coa"]["certificate_lot_number"] = "UC-2609-B"
        client.force_login(quality)
        upload = SimpleUploadedFile("lots.json", as_json(entry), content_type="application/json")
        response = client.post("/products/lots/import/", {"file": upload})
        assert response.status_code == 400
        assert MISMATCH in response.content.decode()
        assert not Lot.objects.exists()


class TestACoaStoredBeforeTheNumberWasRecorded:
    def test_the_lot_is_not_released_and_the_refusal_names_the_field(self, make_lot, quality):
        lot = legacy_coa(make_lot(lot_number="UC-2609-A"), quality)
        with pytest.raises(services.ProductError) as err:
            services.release_lot(lot, quality)
        assert list(err.value.errors) == ["certificate_lot_number"]
        assert err.value.errors["certificate_lot_number"][0].startswith(NOT_RECORDED)
        assert Lot.objects.get(pk=lot.pk).status == LotStatus.QUARANTINED

    def test_no_override_is_requested_or_approved(self, make_lot, quality, quality2):
        lot = make_lot(lot_number="UC-2609-A")
        enter(lot, quality, "UC-2609-A", size_mode_nm=400)  # fails the spec, not safety
        services.request_override(lot, quality, "Size acceptable for this indication.")
        CertificateOfAnalysis.objects.filter(lot=lot).update(certificate_lot_number="")
        with pytest.raises(services.ProductError) as err:
            services.approve_override(lot, quality2)
        assert "certificate_lot_number" in err.value.errors
        other = legacy_coa(make_lot(lot_number="UC-2609-C"), quality, size_mode_nm=400)
        with pytest.raises(services.ProductError) as err:
            services.request_override(other, quality, "Size acceptable for this indication.")
        assert "certificate_lot_number" in err.value.errors
        assert Lot.objects.get(pk=lot.pk).status == LotStatus.QUARANTINED

    def test_the_lot_page_says_so_and_offers_only_reject(self, client, make_lot, quality):
        lot = legacy_coa(make_lot(lot_number="UC-2609-A"), quality)
        client.force_login(quality)
        page = client.get(f"/products/lots/{lot.pk}/").content.decode()
        assert 'id="certificate-lot-missing"' in page and NOT_RECORDED in page.replace(
            "&#x27;", "'"
        )
        assert "Release lot</button>" not in page and "Reject lot</button>" in page

    def test_the_api_answers_a_400_and_shows_the_number_blank(self, api, make_lot, quality):
        lot = legacy_coa(make_lot(lot_number="UC-2609-A"), quality)
        assert api("get", f"/lots/{lot.pk}").json()["coa"]["certificate_lot_number"] == ""
        text = detail(api("post", f"/lots/{lot.pk}/release", {"reason": ""}))
        assert text.startswith(f"certificate_lot_number: {NOT_RECORDED}")

    def test_rejecting_needs_nothing(self, make_lot, quality):
        lot = legacy_coa(make_lot(lot_number="UC-2609-A"), quality)
        rejected = services.reject_lot(lot, quality, "Certificate could not be traced.")
        assert rejected.status == LotStatus.REJECTED

    def test_entering_the_number_then_releases_the_lot(self, client, make_lot, quality):
        lot = legacy_coa(make_lot(lot_number="UC-2609-A"), quality)
        client.force_login(quality)
        opened = client.get(f"/products/lots/{lot.pk}/coa/").context["form"]
        assert opened.initial["certificate_lot_number"] == ""
        enter(lot, quality, "UC-2609-A")
        assert services.release_lot(lot, quality).status == LotStatus.RELEASED
        reasons = [
            h.history_change_reason
            for h in CertificateOfAnalysis.objects.get(lot=lot).history.order_by("history_id")
        ]
        assert reasons[-1] == "CoA replaced"
