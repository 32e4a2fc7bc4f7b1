"""Receiving lots, entering CoAs, and the quarantine → release / reject decision (four-eyes)."""

# ruff: noqa: F811 — pytest fixtures imported from the support module are redefined as arguments.
from __future__ import annotations

import importlib.resources
from datetime import date, timedelta
from decimal import Decimal

import pytest
import yaml
from django.core.files.uploadedfile import SimpleUploadedFile

from anagen.accounts.roles import Role
from anagen.products import release, services
from anagen.products.models import (
    CertificateOfAnalysis,
    DecisionKind,
    Lot,
    LotStatus,
    Product,
    ReleaseOverride,
    ReleaseSpecVersion,
)

from ..html import dangling_references, duplicate_ids
from .test_products_django_support import (  # noqa: F401
    good_results,
    make_lot,
    product,
    quality,
    quality2,
)

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


def spec_yaml(version: str, *, endotoxin_limit: float = 0.25, drop: tuple[str, ...] = ()) -> str:
    """The default spec as YAML under a new version, endotoxin limit changed, fields dropped."""
    data = yaml.safe_load(
        importlib.resources.files("anagen.products")
        .joinpath("default_release_spec.yaml")
        .read_text(encoding="utf-8")
    )
    data["version"] = version
    data["criteria"] = [c for c in data["criteria"] if c["field"] not in drop]
    for c in data["criteria"]:
        if c["field"] == "endotoxin_eu_per_ml":
            c["limit"] = endotoxin_limit
    return yaml.safe_dump(data, allow_unicode=True)


class TestReceiving:
    def test_a_received_lot_is_quarantined_with_all_vials_on_hand(self, make_lot):
        lot = make_lot(quantity=12)
        assert lot.status == LotStatus.QUARANTINED
        assert (lot.quantity_received, lot.quantity_on_hand) == (12, 12)
        assert lot.history.first().history_user.username == "quality-1"

    def test_the_same_lot_number_twice_is_refused_naming_the_field(self, make_lot):
        make_lot(lot_number="EX-1")
        with pytest.raises(services.ProductError) as err:
            make_lot(lot_number="EX-1")
        assert "lot_number" in err.value.errors
        assert Lot.objects.filter(lot_number="EX-1").count() == 1

    @pytest.mark.parametrize("look_alike", ["EX-Ｓ", "ex-s", "EX-S\u200b"])
    def test_a_lot_number_that_prints_like_a_received_one_is_refused(self, make_lot, look_alike):
        # A full-width "Ｓ" passed as a new lot (201): recall notices would show two "EX-S".
        make_lot(lot_number="EX-S")
        with pytest.raises(services.ProductError) as err:
            make_lot(lot_number=look_alike)
        assert "lot_number" in err.value.errors
        assert Lot.objects.count() == 1

    def test_a_lot_number_is_stored_as_it_prints(self, make_lot):
        assert make_lot(lot_number="ＡＤ-２６０５").lot_number == "AD-2605"

    @pytest.mark.parametrize("quantity", [0, -3, True, "5"])
    def test_impossible_quantities_are_refused(self, make_lot, quantity):
        with pytest.raises(services.ProductError) as err:
            make_lot(quantity=quantity)
        assert "quantity_received" in err.value.errors
        assert not Lot.objects.exists()

    def test_a_supplier_document_must_really_be_a_pdf(self, make_lot):
        fake = SimpleUploadedFile("coa.pdf", b"GIF89a not a pdf", content_type="application/pdf")
        with pytest.raises(services.ProductError) as err:
            make_lot(supplier_document=fake)
        assert "supplier_document" in err.value.errors
        assert not Lot.objects.exists()

    def test_a_supplier_document_opens_from_the_lot_page_for_this_clinic_only(
        self, make_lot, quality, client, clinic_b, make_user
    ):
        """A review found the file named on the lot page and no way to open it."""
        doc = SimpleUploadedFile("Supplier CoA.pdf", PDF, content_type="application/pdf")
        lot = make_lot(supplier_document=doc)
        stored = lot.documents.get()
        url = f"/products/lots/{lot.pk}/documents/{stored.pk}.pdf"
        client.force_login(quality)
        assert f'href="{url}"' in client.get(f"/products/lots/{lot.pk}/").content.decode()
        response = client.get(url)
        assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
        assert b"".join(response.streaming_content) == PDF
        assert f'filename="{lot.lot_number}-supplier-coa.pdf"' in response["Content-Disposition"]
        assert (
            client.get(f"/products/lots/{lot.pk}/documents/{stored.pk + 1}.pdf").status_code == 404
        )
        client.force_login(make_user(Role.ADMIN, clinic_b, username="other-admin"))
        assert client.get(url).status_code == 404


class TestCertificateOfAnalysis:
    def test_the_coa_is_stored_with_label_derived_values_and_the_pdf(self, make_lot, quality):
        lot = make_lot()
        pdf = SimpleUploadedFile("vendor-coa.pdf", PDF, content_type="application/pdf")
        coa = services.record_coa(
            lot,
            quality,
            certificate_lot_number=lot.lot_number,
            testing_laboratory="Lab",
            results=good_results(),
            pdf=pdf,
        )
        # Labelled amount comes from the product (1e10 particles in 1 mL) when not restated.
        assert coa.results["labelled_particles_per_ml"] == pytest.approx(1.0e10)
        # Purity is derived from concentration ÷ protein (1.05e10 / 2 µg/mL).
        assert coa.results["particles_per_ug_protein"] == pytest.approx(5.25e9)
        assert coa.pdf.read().startswith(b"%PDF-")
        assert coa.pdf_original_name == "vendor-coa.pdf"

    @pytest.mark.parametrize(
        ("changes", "field", "words"),
        [
            ({"particles_per_ml": -1e9}, "particles_per_ml", "negative"),
            ({"size_mode_nm": 5}, "size_mode_nm", "10–1000"),
            ({"size_mode_nm": 1500}, "size_mode_nm", "10–1000"),
            ({"endotoxin_eu_per_ml": {"value": 0.1, "unit": "mg"}}, "endotoxin_eu_per_ml", "unit"),
            ({"sterility": None}, "sterility", "required"),
            ({"cd63": "maybe"}, "cd63", "unrecognised"),
            ({"tsg101": "sort of"}, "tsg101", "unrecognised"),
            ({"size_d10_nm": 150, "size_d50_nm": 100}, "size_d10_nm", "D50"),
            # Without D50 (a review stored D10 200 nm above D90 100 nm).
            ({"size_d10_nm": 200, "size_d50_nm": None, "size_d90_nm": 100}, "size_d90_nm", "D10"),
            ({"colour": "blue"}, "colour", "unknown"),
            ({"particles_50_400nm_pct": 140}, "particles_50_400nm_pct", "0–100"),
        ],
    )
    def test_bad_values_are_refused_naming_the_field_and_nothing_is_stored(
        self, make_lot, quality, changes, field, words
    ):
        lot = make_lot()
        with pytest.raises(services.ProductError) as err:
            services.record_coa(
                lot,
                quality,
                certificate_lot_number=lot.lot_number,
                testing_laboratory="Lab",
                results=good_results(**changes),
            )
        assert field in err.value.errors, err.value.errors
        assert words in " ".join(err.value.errors[field])
        assert not CertificateOfAnalysis.objects.exists()

    def test_a_restated_labelled_amount_must_be_the_products_label(self, make_lot, quality):
        # The product's label: 1e10 particles in a 1 mL vial. A CoA claiming 5e10 would let
        # the concentration be checked against its own claim instead of the label.
        lot = make_lot()
        with pytest.raises(services.ProductError) as err:
            services.record_coa(
                lot,
                quality,
                certificate_lot_number=lot.lot_number,
                testing_laboratory="Lab",
                results=good_results(labelled_particles_per_ml=5e10),
            )
        message = " ".join(err.value.errors["labelled_particles_per_ml"])
        assert "is not the product's label (1 × 10¹⁰ particles/mL" in message
        assert not CertificateOfAnalysis.objects.exists()
        # Within rounding (two significant figures) it is the label, restated.
        coa = services.record_coa(
            lot,
            quality,
            certificate_lot_number=lot.lot_number,
            testing_laboratory="Lab",
            results=good_results(
                labelled_particles_per_ml={"value": 1.0e10, "unit": "particles/vial"}
            ),
        )
        # The check is against the product's label, not the restated amount.
        assert coa.results["labelled_particles_per_ml"] == pytest.approx(1.0e10)

    def test_a_restated_label_within_rounding_does_not_move_the_window(self, make_lot, quality):
        # 1.25e10 is +25 % from the label (1e10): outside ±20 %. Restating the label as
        # 1.049e10 (within 5 %) made it +19.2 % "from label" and the lot passed.
        lot = make_lot()
        coa = services.record_coa(
            lot,
            quality,
            certificate_lot_number=lot.lot_number,
            testing_laboratory="Lab",
            results=good_results(particles_per_ml=1.25e10, labelled_particles_per_ml=1.049e10),
        )
        report = services.release_report(lot)
        row = next(r for r in report.results if r.field == "particles_per_ml")
        assert row.status == release.Status.FAIL and "+25.0 % from label" in row.note
        assert coa.results["labelled_particles_per_ml"] == pytest.approx(1.0e10)

    def test_a_non_pdf_attachment_is_refused(self, make_lot, quality):
        lot = make_lot()
        fake = SimpleUploadedFile("coa.pdf", b"<html>", content_type="application/pdf")
        with pytest.raises(services.ProductError) as err:
            services.record_coa(
                lot,
                quality,
                certificate_lot_number=lot.lot_number,
                testing_laboratory="Lab",
                results=good_results(),
                pdf=fake,
            )
        assert "pdf" in err.value.errors
        assert not CertificateOfAnalysis.objects.exists()

    def test_a_pdf_cut_short_is_refused_as_incomplete(self, make_lot, quality):
        lot = make_lot()
        whole = PDF + b"%" + b"x" * 5000 + b"\n%%EOF\n"
        cut = SimpleUploadedFile("coa.pdf", whole[:3000], content_type="application/pdf")
        with pytest.raises(services.ProductError) as err:
            services.record_coa(
                lot,
                quality,
                certificate_lot_number=lot.lot_number,
                testing_laboratory="Lab",
                results=good_results(),
                pdf=cut,
            )
        assert "incomplete" in err.value.errors["pdf"][0]
        assert not CertificateOfAnalysis.objects.exists()
        complete = SimpleUploadedFile("coa.pdf", whole, content_type="application/pdf")
        coa = services.record_coa(
            lot,
            quality,
            certificate_lot_number=lot.lot_number,
            testing_laboratory="Lab",
            results=good_results(),
            pdf=complete,
        )
        assert coa.pdf.read() == whole

    def test_values_in_other_units_are_converted_per_vial(self, make_lot, quality):
        lot = make_lot()
        services.record_coa(
            lot,
            quality,
            certificate_lot_number=lot.lot_number,
            testing_laboratory="Lab",
            results=good_results(endotoxin_eu_per_ml={"value": 0.4, "unit": "EU/vial"}),
        )
        report = services.release_report(lot)
        endotoxin = next(r for r in report.results if r.field == "endotoxin_eu_per_ml")
        # 0.4 EU in a 1 mL vial is 0.4 EU/mL: above the 0.25 EU/mL limit.
        assert endotoxin.measured == pytest.approx(0.4)
        assert endotoxin.status == "FAIL"


class TestRelease:
    def test_a_lot_that_passes_every_criterion_is_released_and_audited(self, make_lot, quality):
        lot = make_lot(results=good_results())
        released = services.release_lot(lot, quality)
        assert released.status == LotStatus.RELEASED
        decision = released.decisions.get()
        assert decision.kind == DecisionKind.RELEASE and decision.decided_by == quality
        assert {r["status"] for r in decision.report} == {"PASS"}
        assert released.history.first().history_change_reason.startswith("released under spec")

    def test_a_failing_lot_cannot_be_released_and_the_error_names_the_criterion(
        self, make_lot, quality
    ):
        lot = make_lot(results=good_results(endotoxin_eu_per_ml=0.6))
        with pytest.raises(services.ProductError) as err:
            services.release_lot(lot, quality)
        # By the criterion's name in the spec, not its code (endotoxin_eu_per_ml).
        assert str(err.value) == (
            "__all__: The lot does not meet specification 2026.11-2 — failed: Endotoxin (LAL): "
            "it is a safety criterion and cannot be overridden, so reject the lot."
        )
        assert "endotoxin_eu_per_ml" not in str(err.value)
        lot.refresh_from_db()
        assert lot.status == LotStatus.QUARANTINED

    def test_a_lot_without_a_coa_cannot_be_released(self, make_lot, quality):
        lot = make_lot()
        with pytest.raises(services.ProductError, match="certificate of analysis"):
            services.release_lot(lot, quality)

    def test_an_expired_lot_cannot_be_released(self, make_lot, quality):
        lot = make_lot(results=good_results(), expiry=date.today() + timedelta(days=3))
        with pytest.raises(services.ProductError, match="expired"):
            services.release_lot(lot, quality, today=date.today() + timedelta(days=4))

    def test_a_nurse_cannot_release_even_through_the_service(self, make_lot, clinic_a, make_user):
        lot = make_lot(results=good_results())
        nurse = make_user(Role.NURSE, clinic_a)
        with pytest.raises(services.ProductError, match="quality"):
            services.release_lot(lot, nurse)

    def test_rejection_needs_a_reason_and_is_final(self, make_lot, quality):
        lot = make_lot(results=good_results(endotoxin_eu_per_ml=0.6))
        with pytest.raises(services.ProductError) as err:
            services.reject_lot(lot, quality, "bad")
        assert "reason" in err.value.errors
        rejected = services.reject_lot(lot, quality, "Endotoxin 0.6 EU/mL above the limit")
        assert rejected.status == LotStatus.REJECTED
        with pytest.raises(services.ProductError):
            services.release_lot(rejected, quality)
        with pytest.raises(services.ProductError, match="final"):
            services.record_coa(
                lot,
                quality,
                certificate_lot_number=lot.lot_number,
                testing_laboratory="Lab",
                results=good_results(),
            )


class TestFourEyesOverride:
    REASON = "Optional purity test slightly low; medical director accepts with documentation"

    def test_override_needs_a_second_different_quality_user(self, make_lot, quality, quality2):
        lot = make_lot(results=good_results(particles_50_400nm_pct=85))
        services.request_override(lot, quality, self.REASON)
        with pytest.raises(services.ProductError, match="different quality user"):
            services.approve_override(lot, quality)
        lot.refresh_from_db()
        assert lot.status == LotStatus.QUARANTINED

        released = services.approve_override(lot, quality2)
        assert released.status == LotStatus.RELEASED
        override = ReleaseOverride.objects.get(lot=lot)
        assert (override.requested_by, override.approved_by) == (quality, quality2)
        kinds = [d.kind for d in lot.decisions.order_by("decided_at", "id")]
        assert kinds == [DecisionKind.OVERRIDE_REQUEST, DecisionKind.OVERRIDE_APPROVE]
        assert self.REASON in released.decision_reason

    def test_override_needs_a_reason(self, make_lot, quality):
        lot = make_lot(results=good_results(particles_50_400nm_pct=85))
        with pytest.raises(services.ProductError) as err:
            services.request_override(lot, quality, "  ")
        assert "reason" in err.value.errors
        assert not ReleaseOverride.objects.exists()

    def test_the_second_approver_must_hold_lot_release(
        self, make_lot, quality, clinic_a, make_user
    ):
        lot = make_lot(results=good_results(particles_50_400nm_pct=85))
        services.request_override(lot, quality, self.REASON)
        admin = make_user(Role.ADMIN, clinic_a)
        with pytest.raises(services.ProductError, match="quality"):
            services.approve_override(lot, admin)

    def test_a_quality_user_of_another_clinic_cannot_approve(
        self, make_lot, quality, clinic_b, make_user
    ):
        lot = make_lot(results=good_results(particles_50_400nm_pct=85))
        services.request_override(lot, quality, self.REASON)
        outsider = make_user(Role.QUALITY, clinic_b)
        with pytest.raises(services.ProductError):
            services.approve_override(lot, outsider)
        lot.refresh_from_db()
        assert lot.status == LotStatus.QUARANTINED

    def test_only_one_pending_override_and_rejection_withdraws_it(
        self, make_lot, quality, quality2
    ):
        lot = make_lot(results=good_results(particles_50_400nm_pct=85))
        services.request_override(lot, quality, self.REASON)
        with pytest.raises(services.ProductError, match="already waiting"):
            services.request_override(lot, quality2, self.REASON)
        services.reject_lot(lot, quality2, "Endotoxin out of specification")
        override = ReleaseOverride.objects.get(lot=lot)
        assert override.status == "withdrawn"
        entry = override.history.first()
        assert (entry.history_user, entry.history_change_reason) == (
            quality2,
            "withdrawn: lot rejected",
        )
        with pytest.raises(services.ProductError, match="No override"):
            services.approve_override(lot, quality2)

    def test_a_recall_withdraws_a_waiting_override_with_its_own_history_entry(
        self, make_lot, quality, quality2
    ):
        lot = make_lot(results=good_results(particles_50_400nm_pct=85))
        services.request_override(lot, quality, self.REASON)
        services.recall_lot(lot, quality2, "Manufacturer recall: sterility failure")
        override = ReleaseOverride.objects.get(lot=lot)
        assert override.status == "withdrawn"
        assert override.history.first().history_change_reason == "withdrawn: lot recalled"
        assert override.history.count() == 2

    def test_a_failed_safety_test_cannot_be_overridden(self, make_lot, quality):
        lot = make_lot(results=good_results(endotoxin_eu_per_ml=0.3))
        with pytest.raises(services.ProductError, match="safety criterion cannot be overridden"):
            services.request_override(lot, quality, self.REASON)
        assert not ReleaseOverride.objects.exists()

    def test_replacing_the_coa_withdraws_the_waiting_override(self, make_lot, quality, quality2):
        lot = make_lot(results=good_results(particles_50_400nm_pct=85))
        services.request_override(lot, quality, self.REASON)
        # New results while the request waits: endotoxin now fails too.
        services.record_coa(
            lot, quality, certificate_lot_number=lot.lot_number,
            testing_laboratory="Independent Lab Ltd", third_party_laboratory=True,
            results=good_results(particles_50_400nm_pct=85, endotoxin_eu_per_ml=0.4),
        )  # fmt: skip
        override = ReleaseOverride.objects.get(lot=lot)
        assert override.status == "withdrawn"
        assert override.history.first().history_change_reason.startswith("withdrawn: CoA replaced")
        with pytest.raises(services.ProductError, match="No override"):
            services.approve_override(lot, quality2)
        with pytest.raises(services.ProductError, match="cannot be overridden"):
            services.request_override(lot, quality, self.REASON)
        lot.refresh_from_db()
        assert lot.status == LotStatus.QUARANTINED

    def test_a_release_under_a_new_spec_withdraws_the_waiting_override(
        self, make_lot, quality, quality2, client, api_token, clinic_a
    ):
        # The override stayed "pending" on the released lot: the API said so, and it could
        # never be approved nor requested again.
        lot = make_lot(results=good_results(residual_dna_ng_per_dose=40))
        services.request_override(lot, quality, self.REASON)
        services.create_spec_version(
            clinic_a, quality2, spec_yaml("2099.1", drop=("residual_dna_ng_per_dose",))
        )
        released = services.release_lot(lot, quality)
        assert released.status == LotStatus.RELEASED
        override = ReleaseOverride.objects.get(lot=lot)
        assert override.status == "withdrawn"
        entry = override.history.first()
        assert entry.history_user == quality
        assert entry.history_change_reason == (
            "withdrawn: lot released under specification 2099.1 (every criterion passes)"
        )
        body = client.get(
            f"/api/v1/products/lots/{lot.pk}",
            headers={"Authorization": f"Bearer {api_token(quality, clinic_a)}"},
        ).json()
        assert body["pending_override"] is None


class TestSpecVersions:
    def test_the_default_spec_is_copied_in_with_its_sources(self, clinic_a):
        spec = services.current_spec(clinic_a)
        parsed = services.parsed_spec(spec)
        assert parsed.criterion("endotoxin_eu_per_ml").limit == 0.25
        # Quality staff see these sources and do not have REFERENCE.md: each cites its
        # primary source, evidence tags kept.
        sources = {c.field: c.source for c in parsed.criteria}
        assert not [f for f, s in sources.items() if "REFERENCE" in s or not s.strip()]
        assert "USP <71>" in sources["sterility"]
        assert "USP <85>" in sources["endotoxin_eu_per_ml"]
        assert "MISEV2023" in sources["cd63"] and "[C]" in sources["cd63"]
        assert "21 CFR 1271" in sources["donor_screening"]
        assert "[M]" in sources["residual_dna_ng_per_dose"]

    def test_a_stored_spec_version_is_not_rewritten_by_a_new_default(self, clinic_a):
        """An older default already stored (and used for decisions) stays as it was."""
        text = importlib.resources.files("anagen.products").joinpath("default_release_spec.yaml")
        data = yaml.safe_load(text.read_text(encoding="utf-8"))
        assert data["version"] != "2026.11-1"  # a changed default ships as a new version
        data = data | {"version": "2026.11-1"}
        data["criteria"][0] = data["criteria"][0] | {"source": "REFERENCE.md A.6.2"}
        old = ReleaseSpecVersion.objects.create(
            clinic=clinic_a, version="2026.11-1", name="Default", data=data
        )
        assert services.current_spec(clinic_a) == old
        assert ReleaseSpecVersion.objects.get(pk=old.pk).data == data
        assert ReleaseSpecVersion.objects.filter(clinic=clinic_a).count() == 1

    def test_a_new_version_becomes_current_and_decisions_keep_theirs(
        self, clinic_a, quality, quality2, make_lot
    ):
        first = make_lot(results=good_results(endotoxin_eu_per_ml=0.3))
        old = services.current_spec(clinic_a)
        new = services.create_spec_version(
            clinic_a, quality, spec_yaml("clinic-2", endotoxin_limit=0.5)
        )
        assert services.current_spec(clinic_a) == new
        released = services.release_lot(first, quality2)
        assert released.decision_spec == new and old.version != new.version

    def test_a_refused_release_names_failed_and_missing_criteria_apart(
        self, quality, quality2, make_lot
    ):
        """An optional criterion that fails blocks the release; it was called required."""
        results = good_results(residual_dna_ng_per_dose=11)
        results.pop("antibiotic_residue", None)
        lot = make_lot(results=results)
        with pytest.raises(services.ProductError) as err:
            services.release_lot(lot, quality)
        message = err.value.errors["__all__"][0]
        assert "does not meet specification 2026.11-2 — failed: Residual DNA:" in message
        assert "required" not in message.split(":")[0]
        # A spec made since requires the antibiotic residue the CoA does not report.
        stricter = yaml.safe_load(spec_yaml("strict"))
        for c in stricter["criteria"]:
            if c["field"] == "antibiotic_residue":
                c["required"] = True
        services.create_spec_version(lot.clinic, quality2, yaml.safe_dump(stricter))
        with pytest.raises(services.ProductError) as err:
            services.release_lot(lot, quality)
        message = err.value.errors["__all__"][0]
        assert "failed: Residual DNA; required but not reported: Antibiotic residue:" in message, (
            message
        )

    def test_who_loosened_the_spec_after_a_lot_arrived_does_not_release_it_alone(
        self, clinic_a, quality, quality2, make_lot
    ):
        """Four eyes, as for an override: a review dropped the failed criterion from the
        spec and released the lot as the same quality user."""
        lot = make_lot(results=good_results(endotoxin_eu_per_ml=0.3))
        with pytest.raises(services.ProductError, match="does not meet specification"):
            services.release_lot(lot, quality)
        services.create_spec_version(clinic_a, quality, spec_yaml("lax", endotoxin_limit=0.5))
        with pytest.raises(services.ProductError) as err:
            services.release_lot(lot, quality)
        message = err.value.errors["__all__"][0]
        assert "which you wrote after it arrived" in message and "another quality user" in message
        assert Lot.objects.get(pk=lot.pk).status == LotStatus.QUARANTINED
        assert services.release_lot(lot, quality2).status == LotStatus.RELEASED

    def test_the_author_of_a_spec_releases_lots_that_arrive_after_it(
        self, clinic_a, quality, make_lot
    ):
        services.create_spec_version(clinic_a, quality, spec_yaml("lax", endotoxin_limit=0.5))
        lot = make_lot(results=good_results(endotoxin_eu_per_ml=0.3))
        assert services.release_lot(lot, quality).status == LotStatus.RELEASED

    def test_a_malformed_spec_is_refused(self, clinic_a, quality):
        with pytest.raises(services.ProductError) as err:
            services.create_spec_version(clinic_a, quality, "version: x\ncriteria: [{}]")
        assert "spec" in err.value.errors

    @pytest.mark.parametrize(
        ("text", "words"),
        [
            ('version: "9"\ncriteria: []\n', "no criteria"),
            (spec_yaml("no-sterility", drop=("sterility",)), "sterility"),
            (spec_yaml("no-endotoxin", drop=("endotoxin_eu_per_ml",)), "endotoxin_eu_per_ml"),
            (spec_yaml("no-mycoplasma", drop=("mycoplasma",)), "mycoplasma"),
            (spec_yaml("lax-endotoxin", endotoxin_limit=100000), "at most 0.5 EU/mL"),
            (spec_yaml("x").replace("limit: negative", "limit: positive"), "sterility"),
        ],
    )
    def test_a_spec_without_the_mandatory_safety_criteria_is_refused(
        self, clinic_a, quality, text, words
    ):
        before = services.current_spec(clinic_a)
        with pytest.raises(services.ProductError) as err:
            services.create_spec_version(clinic_a, quality, text)
        assert words in " ".join(err.value.errors["spec"])
        assert services.current_spec(clinic_a) == before

    def test_a_lot_with_positive_sterility_cannot_be_released_under_an_emptied_spec(
        self, clinic_a, quality, make_lot
    ):
        # A spec stored before the safety check existed blocks release instead of waving
        # every lot through.
        lot = make_lot(results=good_results(sterility="positive", endotoxin_eu_per_ml=99999))
        services.current_spec(clinic_a)
        ReleaseSpecVersion.objects.create(
            clinic=clinic_a, version="9", name="Empty", data={"version": "9", "criteria": []}
        )
        with pytest.raises(services.ProductError, match="safety"):
            services.release_lot(lot, quality)

    @pytest.mark.parametrize(
        ("version_line", "stored"),
        [("version: 9", "9"), ("version: 2026.2", "2026.2"), ('version: "2026-01-01"', None)],
    )
    def test_a_numeric_version_is_stored_as_text(self, clinic_a, quality, version_line, stored):
        text = spec_yaml("PLACEHOLDER").replace("version: PLACEHOLDER", version_line)
        spec = services.create_spec_version(clinic_a, quality, text)
        assert spec.version == (stored or "2026-01-01") == spec.data["version"]

    @pytest.mark.parametrize(
        ("version_line", "words"),
        [
            ("version: 2026-01-01", "version must be text or a number"),
            ("version: !!binary aGVsbG8=", "version must be text or a number"),
            ("version: [1, 2]", "version must be text or a number"),
            ("version: true", "version must be text or a number"),
        ],
    )
    def test_a_version_that_is_not_text_or_a_number_is_refused(
        self, clinic_a, quality, version_line, words
    ):
        text = spec_yaml("PLACEHOLDER").replace("version: PLACEHOLDER", version_line)
        with pytest.raises(services.ProductError) as err:
            services.create_spec_version(clinic_a, quality, text)
        assert words in " ".join(err.value.errors["spec"])

    @pytest.mark.parametrize(
        "extra", ["released_on: 2026-01-01\n", "logo: !!binary aGVsbG8=\n", "weight: .nan\n"]
    )
    def test_values_that_json_cannot_hold_are_refused(self, clinic_a, quality, extra):
        with pytest.raises(services.ProductError) as err:
            services.create_spec_version(clinic_a, quality, spec_yaml("json-1") + extra)
        assert "only text, numbers and lists" in " ".join(err.value.errors["spec"])


class TestChangingAProductsLabel:
    """The label (particles per vial, vial volume) is what the ±20 % check and per-vial CoA
    values are read against: a release checked against a label that changed afterwards
    said "+0.0 % from label" for a lot now 100 % over it."""

    def test_the_label_cannot_change_once_a_lot_was_decided(self, product, make_lot, quality):
        make_lot(released=True, lot_number="R-1")
        with pytest.raises(services.ProductError) as err:
            services.update_product(product, quality, {"volume_ml": Decimal("2.000")})
        message = " ".join(err.value.errors["volume_ml"])
        assert "Lot R-1 of this product was decided against the current label" in message
        assert "a new product" in message
        product.refresh_from_db()
        assert product.volume_ml == Decimal("1.000") and product.history.count() == 1

    def test_the_storage_range_is_fixed_once_the_product_has_a_lot(
        self, product, make_lot, quality
    ):
        """A frozen product's range was set to 2-8 °C with its lots in a −80 °C freezer."""
        low, high = product.storage_min_temperature_c, product.storage_max_temperature_c
        make_lot(lot_number="Q-1")  # quarantined: its readings are checked against the range
        with pytest.raises(services.ProductError) as err:
            services.update_product(
                product, quality,
                {"storage_min_temperature_c": Decimal("2.0"),
                 "storage_max_temperature_c": Decimal("8.0")},
            )  # fmt: skip
        message = " ".join(err.value.errors["storage_min_temperature_c"])
        assert "Lot Q-1 of this product is stored and checked against the current" in message
        product.refresh_from_db()
        assert (product.storage_min_temperature_c, product.storage_max_temperature_c) == (
            low,
            high,
        )
        # The same range written again (as the form sends it) is no change.
        services.update_product(product, quality, {"storage_min_temperature_c": low})

    def test_the_storage_range_may_be_corrected_before_any_lot(self, product, quality):
        services.update_product(product, quality, {"storage_max_temperature_c": Decimal("-65")})
        product.refresh_from_db()
        assert product.storage_max_temperature_c == Decimal("-65")

    def test_quarantined_coas_are_derived_again_from_the_new_label(
        self, product, make_lot, quality, quality2
    ):
        lot = make_lot(results=good_results(particles_per_ml=1e10, particles_50_400nm_pct=85))
        services.request_override(lot, quality, "Optional purity criterion; CoA reviewed.")
        assert "particles_per_ml" not in [r.field for r in services.release_report(lot).failed]
        services.update_product(product, quality, {"labelled_particles_per_vial": 5e9})
        coa = CertificateOfAnalysis.objects.get(lot=lot)
        assert coa.results["labelled_particles_per_ml"] == 5e9
        assert coa.history.first().history_change_reason == (
            "CoA derived again: product label changed"
        )
        # 1e10 measured against 5e9 labelled: +100 %, no longer releasable.
        assert "particles_per_ml" in [r.field for r in services.release_report(lot).failed]
        with pytest.raises(services.ProductError):
            services.release_lot(lot, quality)
        # The override was asked for the old results.
        assert ReleaseOverride.objects.get(lot=lot).status == "withdrawn"

    def test_a_coa_that_restated_the_old_label_refuses_the_change(self, product, make_lot, quality):
        make_lot(results=good_results(labelled_particles_per_ml=1e10), lot_number="Q-1")
        with pytest.raises(services.ProductError) as err:
            services.update_product(product, quality, {"labelled_particles_per_vial": 5e9})
        assert "The CoA of lot Q-1 does not fit the new label" in err.value.errors["__all__"][0]
        product.refresh_from_db()
        assert product.labelled_particles_per_vial == 1e10

    def test_other_fields_change_freely_with_decided_lots(self, product, make_lot, quality):
        make_lot(released=True)
        services.update_product(product, quality, {"storage_requirement": "Store at −80 °C."})
        assert product.history.count() == 2


class TestEditsThatChangeNothing:
    def test_saving_a_product_unchanged_writes_no_history(self, product, quality):
        services.update_product(product, quality, {"name": product.name, "form": product.form})
        assert product.history.count() == 1  # only the creation
        services.update_product(product, quality, {"storage_requirement": "Store at −80 °C."})
        assert product.history.count() == 2

    def test_saving_settings_unchanged_writes_no_history(self, clinic_a, quality):
        days = services.settings_for(clinic_a).expiry_warning_days + 15
        first = services.update_settings(clinic_a, quality, expiry_warning_days=days)
        versions = first.history.count()
        services.update_settings(clinic_a, quality, expiry_warning_days=days)
        assert first.history.count() == versions


class TestLotPage:
    def test_every_decision_form_on_the_page_has_its_own_ids(self, client, make_lot, quality):
        # Out of spec (an optional criterion, so an override is offered) and quarantined:
        # release, override, reject and waste forms side by side, each asking for a reason.
        lot = make_lot(results=good_results(particles_50_400nm_pct=85))
        client.force_login(quality)
        page = client.get(f"/products/lots/{lot.pk}/").content.decode()
        assert 'id="id_override_reason"' in page and 'id="id_reject_reason"' in page
        assert duplicate_ids(page) == [] and dangling_references(page) == []


class TestReplacingACoa:
    """A replacement CoA derives purity and the labelled amount again from what it holds."""

    def test_the_service_recomputes_derived_purity_on_every_save(self, make_lot, quality):
        lot = make_lot(results=good_results(particles_per_ml=1e10, protein_ug_per_ml=1))
        coa = CertificateOfAnalysis.objects.get(lot=lot)
        assert coa.results["particles_per_ug_protein"] == pytest.approx(1e10)
        assert set(coa.derived_fields) == {"particles_per_ug_protein", "labelled_particles_per_ml"}
        coa = services.record_coa(
            lot,
            quality,
            certificate_lot_number=lot.lot_number,
            testing_laboratory="Lab",
            results=good_results(particles_per_ml=1e10, protein_ug_per_ml=500),
        )
        assert coa.results["particles_per_ug_protein"] == pytest.approx(2e7)
        report = services.release_report(lot)
        assert not report.releasable
        assert [r.field for r in report.failed] == ["particles_per_ug_protein"]

    def test_an_entered_purity_is_kept_and_not_marked_derived(self, make_lot, quality):
        lot = make_lot(
            results=good_results(
                particles_per_ml=1e10, protein_ug_per_ml=2, particles_per_ug_protein=5.1e9
            )
        )
        coa = CertificateOfAnalysis.objects.get(lot=lot)
        assert coa.results["particles_per_ug_protein"] == 5.1e9
        assert coa.derived_fields == ["labelled_particles_per_ml"]

    def test_a_stale_purity_that_does_not_match_concentration_and_protein_is_refused(
        self, make_lot, quality
    ):
        # An API client re-sending the old derived purity with a new protein value.
        lot = make_lot()
        with pytest.raises(services.ProductError) as err:
            services.record_coa(
                lot,
                quality,
                certificate_lot_number=lot.lot_number,
                testing_laboratory="Lab",
                results=good_results(
                    particles_per_ml=1e10, protein_ug_per_ml=500, particles_per_ug_protein=1e10
                ),
            )
        message = " ".join(err.value.errors["particles_per_ug_protein"])
        assert "2 × 10⁷" in message and "e+" not in message

    def test_a_purity_is_checked_against_a_per_vial_concentration_too(self, make_lot, quality):
        # Found while documenting the CoA fields: with particles per vial the check was
        # skipped, so an entered purity of 1e12 (the data give ~5e9) passed the >= 2e9 rule.
        lot = make_lot()
        per_vial = {"value": 1.05e10, "unit": "particles/vial"}
        with pytest.raises(services.ProductError) as err:
            services.record_coa(
                lot, quality, certificate_lot_number=lot.lot_number, testing_laboratory="Lab",
                results=good_results(particles_per_ml=per_vial, protein_ug_per_ml=1,
                                     particles_per_ug_protein=1e12),
            )  # fmt: skip
        assert "does not match" in " ".join(err.value.errors["particles_per_ug_protein"])

    def test_protein_in_mg_per_ml_is_converted_for_the_derived_purity(self, make_lot, quality):
        # A CoA printing protein as 0.5 mg/mL: it was refused ("unit must be µg/mL").
        lot = make_lot()
        protein = {"value": 0.5, "unit": "mg/mL"}
        coa = services.record_coa(
            lot, quality, certificate_lot_number=lot.lot_number, testing_laboratory="Lab",
            results=good_results(particles_per_ml=1e12, protein_ug_per_ml=protein),
        )  # fmt: skip
        assert coa.results["protein_ug_per_ml"] == protein  # as printed on the certificate
        assert coa.results["particles_per_ug_protein"] == pytest.approx(1e12 / 500)

    @pytest.mark.parametrize(
        ("protein", "message"),
        [({"value": 0.5, "unit": "mg"}, "unknown unit 'mg'"),
         ({"value": 200, "unit": "mg/mL"}, "is not a possible result"),
         ({"value": 0, "unit": "mg/mL"}, "must be greater than 0")],
    )  # fmt: skip
    def test_protein_in_a_wrong_or_impossible_unit_is_refused(
        self, make_lot, quality, protein, message
    ):
        lot = make_lot(results=good_results())
        before = CertificateOfAnalysis.objects.get(lot=lot).results
        with pytest.raises(services.ProductError) as err:
            services.record_coa(
                lot, quality, certificate_lot_number=lot.lot_number, testing_laboratory="Lab",
                results=good_results(protein_ug_per_ml=protein),
            )  # fmt: skip
        assert message in " ".join(err.value.errors["protein_ug_per_ml"])
        assert CertificateOfAnalysis.objects.get(lot=lot).results == before

    def test_a_negative_concentration_is_refused_under_its_own_name_only(self, make_lot, quality):
        # The purity derived from it was refused too, and its mismatch reported with it.
        lot = make_lot()
        with pytest.raises(services.ProductError) as err:
            services.record_coa(
                lot, quality, certificate_lot_number=lot.lot_number, testing_laboratory="Lab",
                results=good_results(particles_per_ml=-1),
            )  # fmt: skip
        assert set(err.value.errors) == {"particles_per_ml"}

    @pytest.mark.parametrize(
        ("field", "limit"),
        [("testing_laboratory", 200), ("cgmp_statement", 300), ("nta_method", 120)],
    )
    def test_over_long_coa_text_is_refused_not_cut(self, make_lot, quality, field, limit):
        lot = make_lot()
        text = {"testing_laboratory": "Lab", field: "x" * (limit + 1)}
        with pytest.raises(services.ProductError) as err:
            services.record_coa(
                lot, quality, certificate_lot_number=lot.lot_number, results=good_results(), **text
            )
        assert err.value.errors[field] == [f"At most {limit} characters (got {limit + 1})."]
        assert not CertificateOfAnalysis.objects.filter(lot=lot).exists()

    @pytest.mark.parametrize("field", ["size_mean_nm", "size_d10_nm", "size_d50_nm", "size_d90_nm"])
    def test_a_size_in_an_unknown_unit_is_refused_once(self, make_lot, quality, field):
        lot = make_lot()
        with pytest.raises(services.ProductError) as err:
            services.record_coa(
                lot, quality, certificate_lot_number=lot.lot_number, testing_laboratory="Lab",
                results=good_results(**{field: {"value": 130, "unit": "furlong"}}),
            )  # fmt: skip
        messages = err.value.errors[field]
        assert len(messages) == 1 and "furlong" in messages[0]

    def test_the_replace_form_leaves_derived_values_blank_and_saving_recomputes_them(
        self, client, make_lot, quality
    ):
        lot = make_lot(results=good_results(particles_per_ml=1e10, protein_ug_per_ml=1))
        client.force_login(quality)
        url = f"/products/lots/{lot.pk}/coa/"
        form = client.get(url).context["form"]
        assert form["particles_per_ug_protein"].value() in (None, "")
        assert form["labelled_particles_per_ml"].value() in (None, "")
        assert float(form["protein_ug_per_ml"].value()) == 1
        # Post the form back as a browser would, with the protein changed to 500 µg/mL.
        data = {
            name: ("" if form[name].value() is None else form[name].value())
            for name in form.fields
            if name != "pdf"
        }
        data["third_party_laboratory"] = "on"
        data["protein_ug_per_ml"] = "500"
        response = client.post(url, data)
        assert response.status_code == 302, response.context["form"].errors
        coa = CertificateOfAnalysis.objects.get(lot=lot)
        assert coa.results["particles_per_ug_protein"] == pytest.approx(2e7)
        assert coa.results["labelled_particles_per_ml"] == pytest.approx(1e10)
        assert not services.release_report(lot).releasable


def test_a_refused_decision_on_the_lot_page_keeps_what_was_typed(client, make_lot, quality):
    lot = make_lot(quantity=3, released=True)
    client.force_login(quality)
    reason = "Dropped on the floor during thawing — vial cracked"
    response = client.post(f"/products/lots/{lot.pk}/waste/", {"quantity": 5, "reason": reason})
    assert response.status_code == 400
    form = response.context["waste_form"]
    assert form["reason"].value() == reason and form["quantity"].value() == "5"
    assert "Only 3 vial(s) are on hand." in form.errors["quantity"]
    assert reason in response.content.decode()
    lot.refresh_from_db()
    assert lot.quantity_on_hand == 3
    # A form error (no reason) comes back the same way; a good one goes back to the page.
    assert client.post(f"/products/lots/{lot.pk}/waste/", {"quantity": 1}).status_code == 400
    done = client.post(f"/products/lots/{lot.pk}/waste/", {"quantity": 1, "reason": reason})
    assert done.status_code == 302


def test_a_lot_filter_that_cannot_be_read_lists_no_lots(client, make_lot, quality):
    lot = make_lot()
    client.force_login(quality)
    listed = client.get("/products/", {"state": "quarantined"})
    assert listed.status_code == 200 and lot.lot_number in listed.content.decode()
    refused = client.get("/products/", {"state": "bogus"})
    assert refused.status_code == 400 and refused.context["page"].paginator.count == 0
    fragment = client.get(
        "/products/", {"state": "bogus"}, headers={"HX-Request": "true", "HX-Target": "lot-results"}
    )
    assert "No lots listed" in fragment.content.decode()
    assert lot.lot_number not in fragment.content.decode()


def test_the_pages_of_a_lot_filter_keep_the_filter(client, make_lot, quality, settings):
    # The next link was "?page=2": page 2 listed every lot, not the quarantined ones.
    settings.ANAGEN_PAGE_SIZE = 2
    for _ in range(3):
        make_lot()
    make_lot(released=True, lot_number="REL-1")
    client.force_login(quality)
    first = client.get("/products/", {"state": "quarantined"}).content.decode()
    assert 'href="?state=quarantined&amp;page=2"' in first
    second = client.get("/products/", {"state": "quarantined", "page": "2"})
    assert second.context["page"].paginator.count == 3
    assert "REL-1" not in second.content.decode()


def test_the_product_form_takes_components_and_shows_a_label_refusal_on_its_field(
    client, product, make_lot, quality
):
    make_lot(released=True, lot_number="R-9")
    client.force_login(quality)
    url = f"/products/catalogue/{product.pk}/edit/"
    form = client.get(url).context["form"]
    data = {k: v for k, v in form.initial.items() if v is not None and k != "is_active"}
    data.update(is_active="on", components_text="Trehalose, human serum albumin\nmannitol")
    saved = client.post(url, data)
    assert saved.status_code == 302, saved.content.decode()[:500]
    product.refresh_from_db()
    assert product.components == ["Trehalose", "human serum albumin", "mannitol"]
    refused = client.post(url, {**data, "volume_ml": "2.000"})
    assert refused.status_code == 400
    assert "Lot R-9 of this product was decided" in " ".join(
        refused.context["form"].errors["volume_ml"]
    )
    too_long = client.post(url, {**data, "components_text": "x" * 200})
    assert "components_text" in too_long.context["form"].errors


def test_an_inverted_storage_range_on_the_form_is_refused_in_words(client, product, quality):
    client.force_login(quality)
    url = f"/products/catalogue/{product.pk}/edit/"
    form = client.get(url).context["form"]
    data = {k: v for k, v in form.initial.items() if v is not None and k != "is_active"}
    data.update(is_active="on", storage_min_temperature_c="-60", storage_max_temperature_c="-90")
    refused = client.post(url, data)
    assert refused.status_code == 400
    page = refused.content.decode()
    assert "Constraint" not in page and "product_storage_range_ordered" not in page
    assert "must not be below the" in page


def test_a_vial_volume_of_zero_on_the_form_is_refused_on_its_field(client, product, quality):
    """It answered "Constraint “product_volume_positive” is violated." above the form."""
    client.force_login(quality)
    url = f"/products/catalogue/{product.pk}/edit/"
    form = client.get(url).context["form"]
    data = {k: v for k, v in form.initial.items() if v is not None and k != "is_active"}
    data.update(is_active="on", volume_ml="0")
    refused = client.post(url, data)
    assert refused.status_code == 400
    assert refused.context["form"].errors["volume_ml"] == ["Must be greater than 0 mL."]
    assert "Constraint" not in refused.content.decode()
    product.refresh_from_db()
    assert product.volume_ml > 0


def test_the_migration_writes_received_lot_numbers_as_they_print(make_lot):
    import importlib

    from django.apps import apps

    migration = importlib.import_module("anagen.products.migrations.0007_lot_number_printed_form")
    wide = make_lot(lot_number="X-1")
    Lot.objects.filter(pk=wide.pk).update(lot_number="ＡＤ-２６０５")  # received before NFKC
    kept = make_lot(lot_number="Y-1")
    Lot.objects.filter(pk=kept.pk).update(lot_number="ＺＺ-1")
    make_lot(lot_number="ZZ-1")  # its printed form is taken: it stays for a person to decide
    migration.normalise_lot_numbers(apps, None)
    assert Lot.objects.get(pk=wide.pk).lot_number == "AD-2605"
    assert Lot.objects.get(pk=kept.pk).lot_number == "ＺＺ-1"


def test_two_people_editing_one_product_lose_neither_change(client, product, quality):
    """The product form sent every field: saved whole, it put back a field that another
    quality user had changed since the form was opened."""
    from ..html import post_form_data

    client.force_login(quality)
    url = f"/products/catalogue/{product.pk}/edit/"
    opened = post_form_data(client.get(url).content.decode(), url)
    Product.objects.filter(pk=product.pk).update(storage_requirement="Store at -80 °C or colder")
    sent = {**opened, "components_text": ["trehalose"]}
    assert client.post(url, sent).status_code == 302
    product.refresh_from_db()
    assert product.components == ["trehalose"]
    assert product.storage_requirement == "Store at -80 °C or colder"
    refused = client.post(url, {**opened, "storage_requirement": ["Keep at 2-8 °C"]})
    assert refused.status_code == 400
    assert "Changed by someone else" in " ".join(
        refused.context["form"].errors["storage_requirement"]
    )


@pytest.mark.django_db(transaction=True)
def test_a_release_and_a_label_change_at_once_one_wins_the_other_is_refused(
    product, make_lot, quality
):
    """The release locked the lot with its product (and clinic), the label change the product
    and then its lots: at once on PostgreSQL they deadlocked, and one of them was a 500."""
    from ..races import at_once

    lot = make_lot(results=good_results())
    outcomes = at_once(
        [
            lambda: services.release_lot(Lot.objects.get(pk=lot.pk), quality),
            lambda: services.update_product(
                Product.objects.get(pk=product.pk), quality, {"volume_ml": Decimal("2.000")}
            ),
        ],
        services.ProductError,
    )
    assert outcomes == ["ok", "refused"]
    lot.refresh_from_db()
    product.refresh_from_db()
    # Released against the label it was checked on, or refused against the new one.
    assert (lot.status == "released") == (product.volume_ml == Decimal("1.000"))


class TestResultsOfTheOtherKind:
    def test_a_sterility_pass_is_refused_not_stored_as_a_failed_safety_test(self, make_lot):
        # Stored, it made the lot FAIL sterility: "a safety criterion ... reject the lot".
        lot = make_lot()
        with pytest.raises(services.ProductError) as err:
            services.record_coa(
                lot,
                lot.received_by,
                certificate_lot_number=lot.lot_number,
                testing_laboratory="Independent Lab Ltd",
                results=good_results(sterility="Pass", tsg101="conforms"),
            )
        assert "positive or negative" in err.value.errors["sterility"][0]
        assert "positive or negative" in err.value.errors["tsg101"][0]
        assert not CertificateOfAnalysis.objects.filter(lot=lot).exists()

    def test_a_stored_one_is_named_at_release_not_failed(self, make_lot, quality):
        lot = make_lot(results=good_results())
        CertificateOfAnalysis.objects.filter(lot=lot).update(
            results={**lot.coa.results, "sterility": "pass"}
        )
        with pytest.raises(services.ProductError) as err:
            services.release_lot(lot, quality)
        message = err.value.errors["sterility"][0]
        assert "positive or negative" in message and "reject" not in message
        lot.refresh_from_db()
        assert lot.status == LotStatus.QUARANTINED


class TestRejectingALotAlreadyGiven:
    """Rejecting blocks further use and contacts nobody: the quality user is told who has
    received the lot already, so that a recall is decided ("Lot rejected." said nothing)."""

    REASON = "Sterility retest by the manufacturer positive"

    @pytest.fixture
    def given_lot(self, make_lot, clinic_a, make_user, make_patient):
        lot = make_lot(quantity=5, released=True)
        nurse = make_user(Role.NURSE, clinic_a)
        for _ in range(2):
            patient = make_patient(clinic_a, nurse)
            services.draw_vials(lot, patient, 1, nurse, on_date=date.today())
        return lot

    def messages_after(self, client, response) -> list[str]:
        assert response.status_code == 302, response.content.decode()[:2000]
        return [str(m) for m in client.get(response.url).context["messages"]]

    def test_the_lot_page_names_the_patients_to_consider_for_a_recall(
        self, client, given_lot, quality
    ):
        client.force_login(quality)
        response = client.post(f"/products/lots/{given_lot.pk}/reject/", {"reason": self.REASON})
        assert self.messages_after(client, response) == [
            "Lot rejected. 2 patients have already received vials of it: trace the lot and "
            "recall it if they must be contacted."
        ]

    def test_so_does_rejecting_it_after_a_cold_chain_excursion(self, client, given_lot, quality):
        location = services.create_location(given_lot.clinic, quality, name="Freezer X")
        Lot.objects.filter(pk=given_lot.pk).update(storage_location=location)
        received = given_lot.received_at
        for minutes, temperature in ((1, -80), (2, -20)):
            services.record_reading(
                location, quality, recorded_at=received + timedelta(minutes=minutes),
                temperature_c=temperature,
            )  # fmt: skip
        client.force_login(quality)
        response = client.post(
            f"/products/lots/{given_lot.pk}/excursions/decide/",
            {"decision": "reject", "reason": "Thawed in the freezer failure"},
        )
        [message] = self.messages_after(client, response)
        assert message.startswith("Lot rejected. 2 patients have already received vials of it")

    def test_a_lot_nobody_received_says_only_that_it_is_rejected(self, client, make_lot, quality):
        lot = make_lot(results=good_results())
        client.force_login(quality)
        response = client.post(f"/products/lots/{lot.pk}/reject/", {"reason": self.REASON})
        assert self.messages_after(client, response) == ["Lot rejected."]
