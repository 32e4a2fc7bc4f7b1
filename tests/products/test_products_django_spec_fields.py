# ruff: noqa: F811 — pytest fixtures imported from the support module are redefined as arguments.
"""A specification names only fields a CoA can hold, of the kind its comparator checks; a
lot whose CoA an older spec cannot read can still be rejected, and release or override is a
refusal naming the field, never a server error."""

from __future__ import annotations

import pytest
import yaml

from anagen.products import services
from anagen.products.models import DecisionKind, LotStatus, ReleaseSpecVersion

from .test_products_django_release import spec_yaml
from .test_products_django_support import good_results, make_lot, product, quality, quality2

pytestmark = pytest.mark.django_db


def test_support_names_are_used():
    assert good_results and make_lot and product and quality and quality2


def with_criterion(version: str, name: str, **changes) -> str:
    data = yaml.safe_load(spec_yaml(version))
    for c in data["criteria"]:
        if c["field"] == name:
            c.update(changes)
    return yaml.safe_dump(data, allow_unicode=True)


class TestSpecFieldsMustBeCoaFields:
    @pytest.mark.parametrize(
        ("field", "changes", "words"),
        [
            ("particles_50_400nm_pct", {"field": "potency_pct"}, "potency_pct is not a CoA"),
            (
                "particles_per_ml",
                {"reference_field": "labelled_particles_per_vial"},
                "reference_field labelled_particles_per_vial is not a numeric CoA result",
            ),
            ("antibiotic_residue", {"comparator": "<=", "limit": 1}, "use 'equals'"),
            ("size_mode_nm", {"comparator": "equals", "limit": "negative"}, "size_mode_nm"),
            # A limit of the other kind: every CoA's result for the field would be refused.
            ("cd9", {"limit": "conforms"}, "cd9: a CoA reports it as positive or negative"),
            (
                "tem_morphology",
                {"limit": "negative"},
                "tem_morphology: a CoA reports it as conforms or does not conform, not negative",
            ),
        ],
    )
    def test_a_field_the_coa_cannot_hold_is_refused(self, clinic_a, quality, field, changes, words):
        before = services.current_spec(clinic_a)
        with pytest.raises(services.ProductError) as err:
            services.create_spec_version(
                clinic_a, quality, with_criterion("v-bad", field, **changes)
            )
        assert words in err.value.errors["spec"][0]
        assert services.current_spec(clinic_a) == before

    def test_the_default_spec_passes(self, clinic_a, quality):
        spec = services.create_spec_version(clinic_a, quality, spec_yaml("v2"))
        assert spec.version == "v2"


@pytest.fixture
def lot(make_lot, clinic_a, quality):
    """A lot whose CoA was entered before a spec stored without the field checks (an older
    version) put a number limit on antibiotic residue, which the CoA gives as "negative"."""
    lot = make_lot(results=good_results())
    data = yaml.safe_load(with_criterion("v-old", "antibiotic_residue", comparator="<=", limit=1))
    ReleaseSpecVersion.objects.create(
        clinic=clinic_a, version="v-old", name="Old", data=data, created_by=quality
    )
    return lot


class TestACoaTheSpecCannotRead:
    def test_the_lot_can_still_be_rejected(self, lot, quality):
        services.reject_lot(lot, quality, "Supplier could not confirm the residue test")
        lot.refresh_from_db()
        assert lot.status == LotStatus.REJECTED
        decision = lot.decisions.get(kind=DecisionKind.REJECT)
        assert decision.report == []

    def test_release_is_refused_naming_the_field(self, lot, quality):
        with pytest.raises(services.ProductError) as err:
            services.release_lot(lot, quality)
        [message] = err.value.errors["antibiotic_residue"]
        assert "cannot be checked against spec v-old" in message
        lot.refresh_from_db()
        assert lot.status == LotStatus.QUARANTINED

    def test_an_override_is_refused_naming_the_field(self, lot, quality):
        with pytest.raises(services.ProductError) as err:
            services.request_override(lot, quality, "Clinical need, residue test pending")
        assert "antibiotic_residue" in err.value.errors

    def test_approving_an_override_is_refused_naming_the_field(
        self, make_lot, quality, quality2, clinic_a
    ):
        lot = make_lot(results=good_results(size_mode_nm=260))
        services.request_override(lot, quality, "Size mode slightly high; clinical need")
        services.current_spec(clinic_a)
        data = yaml.safe_load(
            with_criterion("v-old", "antibiotic_residue", comparator="<=", limit=1)
        )
        ReleaseSpecVersion.objects.create(clinic=clinic_a, version="v-old", name="Old", data=data)
        with pytest.raises(services.ProductError) as err:
            services.approve_override(lot, quality2)
        assert "antibiotic_residue" in err.value.errors

    def test_the_api_answers_400_and_rejecting_answers_200(
        self, client, lot, quality, api_token, clinic_a
    ):
        headers = {"Authorization": f"Bearer {api_token(quality, clinic_a)}"}

        def post(path, body):
            return client.post(
                f"/api/v1/products/lots/{lot.pk}/{path}",
                body,
                content_type="application/json",
                headers=headers,
            )

        response = post("release", {"reason": ""})
        assert response.status_code == 400, response.content
        assert response.json()["detail"].startswith("antibiotic_residue:")
        response = post("override", {"reason": "Clinical need, residue test pending"})
        assert response.status_code == 400, response.content
        response = post("reject", {"reason": "Supplier could not confirm the residue test"})
        assert response.status_code == 200, response.content
        body = response.json()
        assert body["lot"]["status"] == "rejected"
        assert body["report"] is None and "antibiotic_residue" in body["report_error"]
        report = client.get(f"/api/v1/products/lots/{lot.pk}/report", headers=headers)
        assert report.status_code == 409 and "antibiotic_residue" in report.json()["detail"]
        document = client.get("/api/v1/openapi.json").json()
        answers = document["paths"]["/api/v1/products/lots/{lot_id}/report"]["get"]["responses"]
        assert "409" in answers


def test_an_override_is_refused_for_a_lot_that_passes(make_lot, quality):
    lot = make_lot(results=good_results())
    with pytest.raises(services.ProductError, match="no override is needed"):
        services.request_override(lot, quality, "Just in case we need it later")


def test_a_quoted_false_for_required_is_refused_naming_the_criterion(clinic_a, quality):
    # It was read as required: a lot without the optional test was then not released.
    before = services.current_spec(clinic_a)
    with pytest.raises(services.ProductError) as err:
        services.create_spec_version(
            clinic_a, quality, with_criterion("v-q", "residual_dna_ng_per_dose", required="false")
        )
    assert err.value.errors["spec"] == [
        "Not a valid specification: residual_dna_ng_per_dose: required must be true or false, "
        "got 'false'"
    ]
    assert services.current_spec(clinic_a) == before
