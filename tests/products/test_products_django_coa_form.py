# ruff: noqa: F811 — pytest fixtures imported from the support module are redefined as arguments.
"""The CoA web form: numbers with a decimal comma are refused, not misread, and the form is
open only while the lot is quarantined (its CoA is final afterwards)."""

from __future__ import annotations

import pytest

from anagen.products import services
from anagen.products.forms import CoaForm, decimal_comma_message
from anagen.products.models import CertificateOfAnalysis

from .test_products_django_support import good_results, make_lot, product, quality

pytestmark = pytest.mark.django_db


def test_support_names_are_used():
    assert good_results and make_lot and product and quality


def form_with(**numbers: str) -> CoaForm:
    return CoaForm(
        {"testing_laboratory": "Independent Lab Ltd", "certificate_lot_number": "L-001", **numbers}
    )


class TestNumbersWithCommas:
    def test_a_decimal_comma_is_refused_with_the_number_written_properly(self):
        form = form_with(endotoxin_eu_per_ml="0,05")
        assert not form.is_valid()
        assert form.errors["endotoxin_eu_per_ml"] == ["Use a decimal point: 0.05, not 0,05."]

    @pytest.mark.parametrize("text", ["1,5", "0,250", "1.234,5", "1,2,3", "12,34e9"])
    def test_commas_that_are_not_thousands_grouping_are_refused(self, text):
        form = form_with(particles_per_ml=text)
        assert not form.is_valid()
        assert "Use a decimal point" in form.errors["particles_per_ml"][0]

    @pytest.mark.parametrize(
        ("text", "value"),
        [("1,200,000", 1200000.0), ("12,000.5", 12000.5), ("1,200,000.5", 1200000.5),
         ("0.05", 0.05)],
    )  # fmt: skip
    def test_thousands_grouping_that_cannot_be_misread_is_read(self, text, value):
        form = form_with(particles_per_ml=text)
        assert form.is_valid(), form.errors
        assert form.cleaned_data["particles_per_ml"] == value

    @pytest.mark.parametrize(
        ("text", "plain", "decimal"),
        [("1,250", "1250", "1.250"), ("12,000", "12000", "12.000"),
         ("1,500e7", "1500e7", "1.500e7")],
    )  # fmt: skip
    def test_one_comma_group_without_a_point_is_refused_naming_both_readings(
        self, text, plain, decimal
    ):
        form = form_with(protein_ug_per_ml=text)
        assert not form.is_valid()
        assert form.errors["protein_ug_per_ml"] == [
            f"“{text}” reads as {plain} in English and as {decimal} in much of Europe: "
            f"write {plain} or {decimal}, without the comma."
        ]

    def test_the_message_for_european_grouping_moves_the_point(self):
        assert decimal_comma_message("1.234,5") == "Use a decimal point: 1234.5, not 1.234,5."

    def test_posting_0_comma_05_saves_nothing(self, client, make_lot, quality):
        lot = make_lot()
        client.force_login(quality)
        data = {
            "testing_laboratory": "Independent Lab Ltd",
            "certificate_lot_number": lot.lot_number,
            **good_results(),
        }
        data["endotoxin_eu_per_ml"] = "0,05"
        response = client.post(f"/products/lots/{lot.pk}/coa/", data)
        assert response.status_code == 400
        assert "Use a decimal point: 0.05, not 0,05." in response.content.decode()
        assert not CertificateOfAnalysis.objects.filter(lot=lot).exists()


class TestNumbersWithAUnit:
    @pytest.mark.parametrize(
        ("name", "text", "value"),
        [("particles_per_ml", "1.2e11 particles/mL", 1.2e11),
         ("particles_50_400nm_pct", "95 %", 95.0),
         ("endotoxin_eu_per_ml", "0.05EU/mL", 0.05),
         ("protein_ug_per_ml", "120 µg/mL", 120.0),
         ("protein_ug_per_ml", "120 ug/ml", 120.0)],
    )  # fmt: skip
    def test_the_fields_own_unit_after_the_number_is_read_as_the_number(self, name, text, value):
        form = form_with(**{name: text})
        assert form.is_valid(), form.errors
        assert form.cleaned_data[name] == value

    def test_another_unit_after_the_number_is_kept_with_it_for_conversion(self):
        form = form_with(particles_per_ml="2.4e11 particles/vial")
        assert form.is_valid(), form.errors
        assert form.cleaned_data["particles_per_ml"] == {"value": 2.4e11, "unit": "particles/vial"}

    def test_protein_in_mg_per_ml_is_kept_with_its_unit(self):
        form = form_with(protein_ug_per_ml="0.5 mg/mL")
        assert form.is_valid(), form.errors
        assert form.cleaned_data["protein_ug_per_ml"] == {"value": 0.5, "unit": "mg/mL"}

    def test_a_unit_that_does_not_convert_is_refused_naming_the_expected_one(self):
        form = form_with(size_mode_nm="120 furlongs")
        assert not form.is_valid()
        message = form.errors["size_mode_nm"][0]
        assert message.startswith("“furlongs” is not a unit this result can be converted from")
        assert message.endswith("enter the number in nm.")

    def test_times_ten_to_the_is_answered_with_the_e_form(self):
        form = form_with(particles_per_ml="1.2 x 10^11")
        assert not form.is_valid()
        assert form.errors["particles_per_ml"] == [
            "Write a power of ten with e: 1.2e11, not 1.2 x 10^11."
        ]

    @pytest.mark.parametrize("text", ["abc", "-", "e9", "1.2.3", "12 34", "٣"])
    def test_text_that_is_not_a_number_is_refused(self, text):
        form = form_with(size_mode_nm=text)
        assert not form.is_valid()
        assert form.errors["size_mode_nm"] == [f"Enter a number (e.g. 1.2e11), not “{text}”."]

    @pytest.mark.parametrize("text", ["<0.05", "< 0.05 EU/mL", "≤0.05"])
    def test_a_result_below_the_quantitation_limit_is_answered_with_what_to_enter(self, text):
        """ "<0.05" got "Enter a number", though certificates print endotoxin so."""
        form = form_with(endotoxin_eu_per_ml=text)
        assert not form.is_valid()
        message = form.errors["endotoxin_eu_per_ml"][0]
        assert "below the laboratory's quantitation limit: enter the limit itself (0.05)" in message
        size = form_with(particles_per_ml="<1e8")
        assert not size.is_valid()
        assert "ask the laboratory for the measured value" in size.errors["particles_per_ml"][0]

    def test_a_trailing_comma_gets_no_suggestion_ten_times_too_large(self):
        form = form_with(size_mode_nm="1.5,")
        assert not form.is_valid()
        assert "15." not in form.errors["size_mode_nm"][0]

    def test_an_overflowing_number_is_refused(self):
        form = form_with(particles_per_ml="1e400")
        assert not form.is_valid()
        assert form.errors["particles_per_ml"] == ["“1e400” is far too large to be a measurement."]

    def test_a_per_vial_count_is_kept_as_typed_and_shown_per_ml_on_editing(
        self, client, make_lot, quality
    ):
        lot = make_lot()
        vial_ml = float(lot.product.volume_ml)
        client.force_login(quality)
        data = {
            "testing_laboratory": "Independent Lab Ltd",
            "certificate_lot_number": lot.lot_number,
            **good_results(),
        }
        data["particles_per_ml"] = f"{2.4e11 * vial_ml:g} particles/vial"
        response = client.post(f"/products/lots/{lot.pk}/coa/", data)
        assert response.status_code == 302, response.content.decode()[:2000]
        coa = CertificateOfAnalysis.objects.get(lot=lot)
        stored = coa.results["particles_per_ml"]
        assert stored["unit"] == "particles/vial"
        edit = client.get(f"/products/lots/{lot.pk}/coa/")
        assert edit.context["form"].initial["particles_per_ml"] == pytest.approx(2.4e11)


class TestAFinalCoa:
    @pytest.mark.parametrize("decide", ["release", "reject"])
    def test_the_form_is_not_offered_for_a_decided_lot(self, client, make_lot, quality, decide):
        lot = make_lot(results=good_results())
        if decide == "release":
            services.release_lot(lot, quality)
        else:
            services.reject_lot(lot, quality, "Supplier withdrew the certificate")
        client.force_login(quality)
        response = client.get(f"/products/lots/{lot.pk}/coa/", follow=True)
        assert response.redirect_chain == [(f"/products/lots/{lot.pk}/", 302)]
        messages = [str(m) for m in response.context["messages"]]
        assert any("its CoA is final" in m for m in messages), messages

    def test_posting_to_it_changes_nothing(self, client, make_lot, quality):
        lot = make_lot(results=good_results())
        services.release_lot(lot, quality)
        client.force_login(quality)
        data = {
            "testing_laboratory": "Other Lab",
            "certificate_lot_number": lot.lot_number,
            **good_results(sterility="positive"),
        }
        response = client.post(f"/products/lots/{lot.pk}/coa/", data)
        assert response.status_code == 302
        assert CertificateOfAnalysis.objects.get(lot=lot).testing_laboratory != "Other Lab"


class TestARefusedSaveWithAPdf:
    """A browser cannot refill a file input, so the refused form says the PDF must be
    chosen again; a refused form without a PDF says nothing about it."""

    AGAIN = "Choose the PDF again: a browser cannot keep a chosen file after a refused save."

    def post(self, client, lot, quality, *, with_pdf: bool):
        from django.core.files.uploadedfile import SimpleUploadedFile

        client.force_login(quality)
        data = {
            "testing_laboratory": "Independent Lab Ltd",
            "certificate_lot_number": lot.lot_number,
            **good_results(),
        }
        data["endotoxin_eu_per_ml"] = "0,05"
        if with_pdf:
            data["pdf"] = SimpleUploadedFile(
                "coa.pdf", b"%PDF-1.4\n%%EOF\n", content_type="application/pdf"
            )
        return client.post(f"/products/lots/{lot.pk}/coa/", data)

    def test_says_to_choose_the_pdf_again_next_to_the_file_field(self, client, make_lot, quality):
        response = self.post(client, make_lot(), quality, with_pdf=True)
        assert response.status_code == 400
        page = response.content.decode()
        assert self.AGAIN in page
        # Next to the file field: after it, before the first group of results.
        assert page.index('name="pdf"') < page.index(self.AGAIN) < page.index("</fieldset>")

    def test_says_nothing_when_no_pdf_was_chosen(self, client, make_lot, quality):
        response = self.post(client, make_lot(), quality, with_pdf=False)
        assert response.status_code == 400
        assert self.AGAIN not in response.content.decode()

    def test_says_nothing_on_the_empty_form(self, client, make_lot, quality):
        client.force_login(quality)
        lot = make_lot()
        assert self.AGAIN not in client.get(f"/products/lots/{lot.pk}/coa/").content.decode()


def test_a_certificate_saved_by_someone_else_meanwhile_is_not_overwritten(
    client, make_lot, quality
):
    """The certificate is saved whole: a form opened before another save put the other
    person's results back as they were when it was opened."""
    from ..html import post_form_data

    lot = make_lot()
    services.record_coa(
        lot,
        quality,
        certificate_lot_number=lot.lot_number,
        testing_laboratory="Lab A",
        results=good_results(),
    )
    client.force_login(quality)
    url = f"/products/lots/{lot.pk}/coa/"
    opened = post_form_data(client.get(url).content.decode(), url)
    services.record_coa(
        lot,
        quality,
        certificate_lot_number=lot.lot_number,
        testing_laboratory="Lab B",
        results=good_results(),
    )
    refused = client.post(url, {**opened, "cgmp_statement": ["Made under cGMP"]})
    assert refused.status_code == 400
    page = refused.content.decode()
    assert "Someone else saved this certificate since you opened this page" in page
    assert "Testing laboratory" in page.split("Someone else saved")[1].split("</p>")[0]
    coa = CertificateOfAnalysis.objects.get(lot=lot)
    assert coa.testing_laboratory == "Lab B" and coa.cgmp_statement != "Made under cGMP"
    # Opened again: saved.
    again = post_form_data(client.get(url).content.decode(), url)
    assert client.post(url, {**again, "cgmp_statement": ["Made under cGMP"]}).status_code == 302


class TestReplacingAnImportedCoa:
    """A CoA imported or sent by the API keeps its results as the certificate spells them
    ("no growth", "neg", "+"); the form's selects offer positive / negative / conforms."""

    SPELLED = {"sterility": "No growth", "antibiotic_residue": "neg", "alix": "+",
               "tem_morphology": "Pass"}  # fmt: skip

    def test_the_form_opens_with_each_result_selected(self, client, make_lot, quality):
        lot = make_lot(results=good_results(**self.SPELLED))
        client.force_login(quality)
        form = client.get(f"/products/lots/{lot.pk}/coa/").context["form"]
        assert {name: form[name].value() for name in self.SPELLED} == {
            "sterility": "negative", "antibiotic_residue": "negative", "alix": "positive",
            "tem_morphology": "conforms",
        }  # fmt: skip

    def test_saving_it_unchanged_keeps_every_result(self, client, make_lot, quality):
        # The selects opened on "— not reported —": the optional results were dropped from
        # the replaced CoA without a word, and sterility was "required by spec".
        lot = make_lot(results=good_results(**self.SPELLED))
        client.force_login(quality)
        form = client.get(f"/products/lots/{lot.pk}/coa/").context["form"]
        data = {}
        for name, field in form.fields.items():
            value = form[name].value()
            if name == "pdf" or value is None:
                continue
            if hasattr(field, "choices") and value not in dict(field.choices):
                value = ""  # as a browser sends a select none of whose options is selected
            data[name] = value
        response = client.post(f"/products/lots/{lot.pk}/coa/", data)
        assert response.status_code == 302, response.content.decode()[:3000]
        results = CertificateOfAnalysis.objects.get(lot=lot).results
        assert (results["antibiotic_residue"], results["alix"]) == ("negative", "positive")
