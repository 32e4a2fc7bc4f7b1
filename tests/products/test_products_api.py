"""/api/v1/products: refusals are 400 {"detail": "field: reason"}, never a 500."""

# ruff: noqa: F811 — pytest fixtures imported from the support module are redefined as arguments.
from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone
from django.utils.text import slugify

from anagen.accounts.roles import Role
from anagen.products import services
from anagen.products.models import (
    CertificateOfAnalysis,
    Lot,
    Product,
    ReleaseSpecVersion,
    StorageLocation,
)

from .test_products_django_release import spec_yaml
from .test_products_django_support import (  # noqa: F401
    good_results,
    make_lot,
    product,
    quality,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(client, quality, clinic_a, api_token):
    headers = {"Authorization": f"Bearer {api_token(quality, clinic_a)}"}

    def call(method: str, path: str, body: object | None = None):
        kwargs = {"headers": headers}
        if body is not None:
            kwargs.update(data=json.dumps(body), content_type="application/json")
        return getattr(client, method)(f"/api/v1/products{path}", **kwargs)

    return call


def detail(response) -> str:
    assert response.status_code == 400, (response.status_code, response.content)
    return response.json()["detail"]


class TestSpecifications:
    def test_an_empty_spec_is_refused_and_the_current_one_stays(self, api, clinic_a, make_lot):
        before = services.current_spec(clinic_a)
        text = detail(api("post", "/specs", {"yaml": 'version: "9"\ncriteria: []'}))
        assert text.startswith("spec:") and "no criteria" in text
        assert services.current_spec(clinic_a) == before
        # So a lot with positive sterility and endotoxin 99999 stays unreleasable.
        lot = make_lot(results=good_results(sterility="positive", endotoxin_eu_per_ml=99999))
        assert not services.release_report(lot).releasable

    def test_a_spec_without_sterility_is_refused(self, api):
        text = detail(api("post", "/specs", {"yaml": spec_yaml("v2", drop=("sterility",))}))
        assert "sterility" in text

    @pytest.mark.parametrize(
        "line", ["version: 2026-01-01", "version: !!binary aGVsbG8=", "version: {a: 1}"]
    )
    def test_a_version_that_is_not_text_or_a_number_is_a_400(self, api, line):
        yaml_text = spec_yaml("PLACEHOLDER").replace("version: PLACEHOLDER", line)
        assert "version must be text or a number" in detail(
            api("post", "/specs", {"yaml": yaml_text})
        )
        assert ReleaseSpecVersion.objects.count() <= 1  # at most the default

    def test_a_date_elsewhere_in_the_yaml_is_a_400(self, api):
        yaml_text = spec_yaml("v3") + "approved_on: 2026-01-01\n"
        assert "only text, numbers and lists" in detail(api("post", "/specs", {"yaml": yaml_text}))

    @pytest.mark.parametrize("text", ["a: 2026-13-45", "9999-99-99"])
    def test_an_impossible_date_in_the_yaml_is_a_400_not_a_500(self, api, text):
        assert detail(api("post", "/specs", {"yaml": text})).startswith("spec: Not valid YAML")

    def test_a_numeric_version_becomes_text(self, api):
        yaml_text = spec_yaml("PLACEHOLDER").replace("version: PLACEHOLDER", "version: 9")
        response = api("post", "/specs", {"yaml": yaml_text})
        assert response.status_code == 201, response.content
        assert response.json()["version"] == "9"


class TestCoaResults:
    @pytest.mark.parametrize(
        ("changes", "field", "words"),
        [
            ({"particles_per_ml": 10**400}, "particles_per_ml", "too large"),
            ({"particles_per_ml": {"value": 10**400, "unit": "particles/mL"}}, "particles_per_ml",
             "too large"),
            ({"protein_ug_per_ml": 10**400}, "protein_ug_per_ml", "too large"),
            ({"endotoxin_eu_per_ml": 10**400}, "endotoxin_eu_per_ml", "too large"),
            ({"particles_per_ml": 1e99}, "particles_per_ml", "not a possible result"),
            ({"protein_ug_per_ml": 1e9}, "protein_ug_per_ml", "not a possible result"),
            ({"endotoxin_eu_per_ml": 1e7}, "endotoxin_eu_per_ml", "not a possible result"),
            ({"potency": "x" * 1_000_000}, "potency", "at most 300 characters"),
            ({"potency": 5}, "potency", "must be text"),
        ],
    )  # fmt: skip
    def test_impossible_results_are_a_400_naming_the_field(
        self, api, make_lot, changes, field, words
    ):
        lot = make_lot()
        body = {
            "testing_laboratory": "Lab",
            "certificate_lot_number": lot.lot_number,
            "results": good_results(**changes),
        }
        text = detail(api("put", f"/lots/{lot.pk}/coa", body))
        assert f"{field}:" in text and words in text
        assert not CertificateOfAnalysis.objects.exists()

    def test_an_out_of_spec_but_possible_endotoxin_is_stored_and_fails(self, api, make_lot):
        lot = make_lot()
        body = {
            "testing_laboratory": "Lab",
            "certificate_lot_number": lot.lot_number,
            "results": good_results(endotoxin_eu_per_ml=99999),
        }
        response = api("put", f"/lots/{lot.pk}/coa", body)
        assert response.status_code == 200, response.content
        assert response.json()["report"]["releasable"] is False

    def test_the_coa_says_which_results_were_derived(self, api, make_lot):
        lot = make_lot()
        body = {
            "testing_laboratory": "Lab",
            "certificate_lot_number": lot.lot_number,
            "results": good_results(),
        }
        coa = api("put", f"/lots/{lot.pk}/coa", body).json()["coa"]
        assert sorted(coa["derived_fields"]) == [
            "labelled_particles_per_ml",
            "particles_per_ug_protein",
        ]

    def test_a_huge_integer_in_an_imported_file_is_a_400(self, api, product):
        body = {
            "lots": [
                {
                    "manufacturer": product.manufacturer,
                    "product_name": product.name,
                    "lot_number": "IMP-9",
                    "expiry_date": (timezone.localdate() + timedelta(days=200)).isoformat(),
                    "quantity_received": 5,
                    "coa": {
                        "testing_laboratory": "Lab",
                        "certificate_lot_number": "X",
                        "results": {"particles_per_ml": 10**400},
                    },
                }
            ]
        }
        text = detail(api("post", "/lots/import", body))
        assert "coa.results.particles_per_ml" in text and "too large" in text
        assert not Lot.objects.exists()


def test_the_openapi_document_describes_the_lot_import_body(client):
    """The importer reads the body itself, so ninja saw no body: the operation was documented
    without one, and a client generated from the document sent none."""
    operation = client.get("/api/v1/openapi.json").json()["paths"]["/api/v1/products/lots/import"][
        "post"
    ]
    body = operation["requestBody"]
    assert body["required"] is True
    schema = body["content"]["application/json"]["schema"]
    assert schema["required"] == ["lots"] and schema["properties"]["lots"]["type"] == "array"


class TestProducts:
    def product_body(self, **changes):
        body = {
            "manufacturer": "Maker",
            "name": "EV 1",
            "source_tissue": "umbilical_cord",
            "donor_type": "allogeneic_single",
            "form": "frozen_liquid",
            "labelled_particles_per_vial": 1e10,
            "volume_ml": "1.0",
            "storage_min_temperature_c": "-90",
            "storage_max_temperature_c": "-60",
            "storage_requirement": "Store at -80 °C",
        }
        body.update(changes)
        return body

    @pytest.mark.parametrize(
        ("status", "words"),
        [
            ({f"J{i}": "x" for i in range(50_000)}, "At most 50 jurisdictions"),
            ({"US": "x" * 1_000_000}, "longer than 1000 characters"),
            ({"U" * 200: "Not approved"}, "at most 60 characters"),
        ],
    )
    def test_an_oversized_regulatory_status_is_refused(self, api, status, words):
        response = api("post", "/products", self.product_body(regulatory_status=status))
        text = detail(response)
        assert text.startswith("regulatory_status:") and words in text
        assert not Product.objects.exists()

    def test_a_normal_regulatory_status_is_kept(self, api):
        status = {"US": "Not FDA-approved; investigational use only.", "EU": "Not authorised."}
        response = api("post", "/products", self.product_body(regulatory_status=status))
        assert response.status_code == 201, response.content
        assert response.json()["regulatory_status"] == status

    def test_a_product_without_a_regulatory_status_still_carries_the_notice(self, api):
        # With no status by jurisdiction the API and the pages said nothing of approval.
        response = api("post", "/products", self.product_body(regulatory_status={}))
        assert response.status_code == 201, response.content
        body = response.json()
        assert body["regulatory_status"] == {}
        assert body["investigational_notice"].startswith("Investigational product")

    def test_a_label_no_liquid_could_hold_is_refused_on_the_label(self, api):
        """1e30 per 1 mL vial was saved; every CoA of the product was then refused as
        impossible under "labelled_particles_per_ml", a field nobody typed."""
        text = detail(api("post", "/products", self.product_body(labelled_particles_per_vial=1e30)))
        assert text.startswith("labelled_particles_per_vial: 1 × 10³⁰ particles per mL")
        assert "at most 1 × 10¹⁴ per mL" in text
        assert not Product.objects.exists()
        ok = api("post", "/products", self.product_body(labelled_particles_per_vial=1e14))
        assert ok.status_code == 201, ok.content

    def test_a_name_differing_only_in_capitals_or_spaces_is_the_same_product(self, api):
        assert api("post", "/products", self.product_body()).status_code == 201
        text = detail(
            api("post", "/products", self.product_body(name="ev  1", manufacturer="MAKER"))
        )
        assert text == (
            "name: This manufacturer already has “EV 1”, which differs only in capitals or "
            "spaces; use that product."
        )
        assert Product.objects.count() == 1

    def test_components_are_kept_once_each_and_bad_ones_refused(self, api):
        body = self.product_body(components=[" Trehalose ", "trehalose", "human  serum albumin"])
        response = api("post", "/products", body)
        assert response.status_code == 201, response.content
        assert response.json()["components"] == ["Trehalose", "human serum albumin"]
        bad = api("post", "/products", self.product_body(name="Other", components=["x" * 200]))
        assert bad.status_code in (400, 422)
        assert "components" in detail(bad)
        assert Product.objects.count() == 1


class TestLots:
    def test_an_unknown_state_filter_is_a_400_naming_the_allowed_values(self, api, make_lot):
        make_lot()
        text = detail(api("get", "/lots?state=bogus"))
        assert text.startswith("state:") and "quarantined" in text and "expired" in text
        assert api("get", "/lots?state=quarantined").status_code == 200

    def test_a_lot_number_differing_only_in_case_is_the_same_lot(self, api, product, make_lot):
        make_lot(lot_number="UC-2605-H")
        body = {
            "product_id": product.pk,
            "lot_number": "uc-2605-h",
            "expiry_date": (timezone.localdate() + timedelta(days=200)).isoformat(),
            "quantity_received": 5,
        }
        text = detail(api("post", "/lots", body))
        assert text.startswith("lot_number:") and "UC-2605-H" in text and "case" in text
        assert Lot.objects.count() == 1

    def test_an_import_with_a_lot_number_differing_only_in_case_is_refused(
        self, api, product, make_lot
    ):
        make_lot(lot_number="UC-2605-H")
        entry = {
            "manufacturer": product.manufacturer,
            "product_name": product.name,
            "lot_number": "uc-2605-h",
            "expiry_date": (timezone.localdate() + timedelta(days=200)).isoformat(),
            "quantity_received": 5,
        }
        assert "row 1, lot_number" in detail(api("post", "/lots/import", {"lots": [entry]}))

    def test_an_already_expired_lot_is_refused_at_receipt(self, api, product):
        body = {
            "product_id": product.pk,
            "lot_number": "OLD-1",
            "expiry_date": (timezone.localdate() - timedelta(days=1)).isoformat(),
            "quantity_received": 5,
        }
        text = detail(api("post", "/lots", body))
        assert text.startswith("expiry_date:") and "expired" in text
        assert not Lot.objects.exists()

    @pytest.mark.parametrize("number", ["A\tB", "IMP\u0001", "UC-1\u202e"])
    def test_a_lot_number_with_a_hidden_character_is_refused(self, api, product, number):
        """Lot numbers go on recall notices and labels: what is shown must be what is kept."""
        body = {
            "product_id": product.pk,
            "lot_number": number,
            "expiry_date": (timezone.localdate() + timedelta(days=200)).isoformat(),
            "quantity_received": 5,
        }
        text = detail(api("post", "/lots", body))
        assert text.startswith("lot_number: Remove the control or invisible character(s) U+")
        entry = {**body, "manufacturer": product.manufacturer, "product_name": product.name}
        del entry["product_id"]
        assert "row 1, lot_number" in detail(api("post", "/lots/import", {"lots": [entry]}))
        assert not Lot.objects.exists()

    def test_a_storage_location_name_with_a_hidden_character_is_refused(self, api):
        text = detail(api("post", "/locations", {"name": "X\u0007Y"}))
        assert text.startswith("name: Remove the control or invisible character(s) U+0007")

    @pytest.mark.parametrize("again", ["Freezer F1", "freezer f1", "  FREEZER   F1 "])
    def test_a_storage_location_differing_only_in_capitals_or_spaces_is_refused(
        self, api, clinic_a, quality, again
    ):
        services.create_location(clinic_a, quality, "Freezer F1")
        text = detail(api("post", "/locations", {"name": again}))
        assert text.startswith("name: A storage location of ")
        assert ("this name" in text) == (again == "Freezer F1")
        assert "“Freezer F1”" in text or again == "Freezer F1"
        assert StorageLocation.objects.filter(clinic=clinic_a).count() == 1

    def test_a_storage_location_name_is_stored_with_single_spaces(self, api):
        response = api("post", "/locations", {"name": " Cold  room   B ", "description": "x"})
        assert response.status_code == 201
        assert response.json()["name"] == "Cold room B"

    def test_another_clinics_location_of_the_same_name_does_not_count(
        self, api, clinic_b, make_user
    ):
        other = make_user("quality", clinic_b)
        services.create_location(clinic_b, other, "Freezer F1")
        assert api("post", "/locations", {"name": "freezer f1"}).status_code == 201

    def test_a_lot_expiring_on_the_day_of_receipt_is_accepted(self, api, product):
        body = {
            "product_id": product.pk,
            "lot_number": "LAST-DAY",
            "expiry_date": timezone.localdate().isoformat(),
            "quantity_received": 5,
        }
        assert api("post", "/lots", body).status_code == 201


def test_the_api_recall_csv_is_named_by_the_lot_number(api, make_lot, quality):
    lot = make_lot(released=True)
    services.recall_lot(lot, quality, "Manufacturer recall: sterility failure")
    response = api("get", f"/lots/{lot.pk}/recall.csv")
    assert response.status_code == 200
    name = f"recall-{slugify(lot.lot_number)}.csv"
    assert response["Content-Disposition"] == f'attachment; filename="{name}"'
    # UTF-8 with a byte-order mark: Excel then shows accented names as they are.
    assert response.content.startswith(b"\xef\xbb\xbflot_number,")


class TestRejectingALotAlreadyGiven:
    """POST .../reject said only the lot's detail: the client was not told that patients had
    received the lot (rejecting contacts nobody), which the lot page says."""

    REASON = "Sterility retest by the manufacturer positive"

    @pytest.fixture
    def given_lot(self, make_lot, clinic_a, make_user, make_patient):
        lot = make_lot(quantity=5, released=True)
        nurse = make_user(Role.NURSE, clinic_a)
        for _ in range(2):
            patient = make_patient(clinic_a, nurse)
            services.draw_vials(lot, patient, 1, nurse, on_date=timezone.localdate())
        return lot

    def test_reject_answers_how_many_patients_received_it(self, api, given_lot):
        response = api("post", f"/lots/{given_lot.pk}/reject", {"reason": self.REASON})
        assert response.status_code == 200, response.content
        body = response.json()
        assert body["lot"]["status"] == "rejected"
        assert body["patients_given"] == 2
        assert body["message"] == (
            "Lot rejected. 2 patients have already received vials of it: trace the lot and "
            "recall it if they must be contacted."
        )

    def test_a_lot_nobody_received_answers_0(self, api, make_lot):
        lot = make_lot(results=good_results())
        body = api("post", f"/lots/{lot.pk}/reject", {"reason": self.REASON}).json()
        assert (body["patients_given"], body["message"]) == (0, "Lot rejected.")

    def test_rejecting_after_an_excursion_answers_the_same(self, api, given_lot, quality):
        location = services.create_location(given_lot.clinic, quality, name="Freezer X")
        Lot.objects.filter(pk=given_lot.pk).update(storage_location=location)
        for minutes, temperature in ((1, -80), (2, -20)):
            services.record_reading(
                location, quality, temperature_c=temperature,
                recorded_at=given_lot.received_at + timedelta(minutes=minutes),
            )  # fmt: skip
        body = api(
            "post",
            f"/lots/{given_lot.pk}/excursions/decide",
            {"decision": "reject", "reason": "Thawed in the freezer failure"},
        ).json()
        assert body["patients_given"] == 2
        assert body["message"].startswith("Lot rejected. 2 patients have already received")

    def test_the_openapi_document_types_the_answer(self, client):
        schema = client.get("/api/v1/openapi.json").json()
        post = schema["paths"]["/api/v1/products/lots/{lot_id}/reject"]["post"]
        ref = post["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
        fields = schema["components"]["schemas"][ref.rsplit("/", 1)[1]]["properties"]
        assert fields["patients_given"]["type"] == "integer"
        assert "recall" in fields["patients_given"]["description"]
