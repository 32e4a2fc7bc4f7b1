# ruff: noqa: F811 — pytest fixtures imported from the support module are redefined as arguments.
"""Lot + CoA import (JSON, CSV, CLI: all or nothing, errors name row and field), and
traceability and recall (patients, CSV, PDF notice, reverse trace)."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse
from django.utils import timezone

from anagen.accounts.roles import Role
from anagen.core.text import PHONE_NUMBER
from anagen.products import selectors, services
from anagen.products.models import CertificateOfAnalysis, Lot, LotStatus

from .test_products_django_support import (
    good_results,
    make_lot,
    product,
    quality,
    quality2,
)

pytestmark = pytest.mark.django_db
EXPIRY = (date.today() + timedelta(days=200)).isoformat()


def lot_entry(number="IMP-1", **changes):
    entry = {
        "manufacturer": "Cordis Bio",
        "product_name": "UC-MSC Exosome 10B",
        "lot_number": number,
        "expiry_date": EXPIRY,
        "quantity_received": 10,
        "coa": {
            "certificate_lot_number": number,
            "testing_laboratory": "Independent Lab",
            "third_party_laboratory": True,
            "results": good_results(),
        },
    }
    entry.update(changes)
    if isinstance(entry.get("coa"), dict):
        # A CoA given in the test states the row's lot number unless the test says otherwise.
        entry["coa"] = {"certificate_lot_number": number, **entry["coa"]}
    return entry


def as_json(*entries) -> bytes:
    return json.dumps({"lots": list(entries)}).encode()


class TestJsonImport:
    def test_a_good_file_imports_quarantined_lots_with_their_coas(self, product, quality):
        lots = services.import_lots(
            product.clinic, quality, "lots.json", as_json(lot_entry("A"), lot_entry("B"))
        )
        assert [lot.lot_number for lot in lots] == ["A", "B"]
        assert all(lot.status == LotStatus.QUARANTINED for lot in lots)
        assert CertificateOfAnalysis.objects.get(lot=lots[0]).source == "import"
        assert services.release_report(lots[0]).releasable

    @pytest.mark.parametrize(
        ("second", "key", "words"),
        [
            (lot_entry("A"), "row 2, lot_number", "twice"),
            (lot_entry("B", expiry_date="31/12/2027"), "row 2, expiry_date", "YYYY-MM-DD"),
            (lot_entry("B", quantity_received=-4), "row 2, quantity_received", "at least 1"),
            (lot_entry("B", product_name="Nope"), "row 2, product_name", "no product"),
            (
                lot_entry("B", coa={"testing_laboratory": "L", "results": {"size_mode_nm": 2000}}),
                "row 2, coa.results.size_mode_nm",
                "10–1000",
            ),
            (
                lot_entry(
                    "B",
                    coa={
                        "testing_laboratory": "L",
                        "results": good_results(particles_per_ml=-5.0),
                    },
                ),
                "row 2, coa.results.particles_per_ml",
                "negative",
            ),
            (
                lot_entry(
                    "B",
                    coa={
                        "testing_laboratory": "L",
                        "results": good_results(endotoxin_eu_per_ml={"value": 1, "unit": "ng"}),
                    },
                ),
                "row 2, coa.results.endotoxin_eu_per_ml",
                "unknown unit",
            ),
            (
                lot_entry("B", coa={"testing_laboratory": "L", "results": {"sterility": None}}),
                "row 2, coa.results.sterility",
                "required",
            ),
            (lot_entry("B", colour="red"), "row 2, colour", "unknown field"),
            # A mistyped year would make a lot that never expires.
            (lot_entry("B", expiry_date="9999-12-31"), "row 2, expiry_date", "check the year"),
        ],
    )
    def test_one_bad_row_names_row_and_field_and_nothing_is_stored(
        self, product, quality, second, key, words
    ):
        with pytest.raises(services.ProductError) as err:
            services.import_lots(product.clinic, quality, "f.json", as_json(lot_entry("A"), second))
        assert key in err.value.errors, err.value.errors
        assert words in " ".join(err.value.errors[key])
        assert not Lot.objects.exists() and not CertificateOfAnalysis.objects.exists()

    def test_every_bad_row_is_reported_not_only_the_first_found_while_saving(
        self, product, quality
    ):
        past = (date.today() - timedelta(days=3)).isoformat()
        entries = (lot_entry("A", expiry_date=past), lot_entry("B", quantity_received=200_000))
        with pytest.raises(services.ProductError) as err:
            services.import_lots(product.clinic, quality, "f.json", as_json(*entries))
        assert "before it was received" in " ".join(err.value.errors["row 1, expiry_date"])
        assert "not a plausible" in " ".join(err.value.errors["row 2, quantity_received"])
        assert not Lot.objects.exists()

    def test_a_coa_keeps_the_default_method_and_a_too_long_laboratory_is_refused_not_cut(
        self, product, quality
    ):
        lots = services.import_lots(product.clinic, quality, "f.json", as_json(lot_entry("A")))
        assert CertificateOfAnalysis.objects.get(lot=lots[0]).nta_method == "NTA"
        long_lab = lot_entry("B", coa={"testing_laboratory": "L" * 201, "results": good_results()})
        with pytest.raises(services.ProductError) as err:
            services.import_lots(product.clinic, quality, "f.json", as_json(long_lab))
        assert err.value.errors["row 1, coa.testing_laboratory"] == ["at most 200 characters"]

    def test_a_lot_number_already_received_is_refused(self, product, quality, make_lot):
        make_lot(lot_number="A")
        with pytest.raises(services.ProductError) as err:
            services.import_lots(product.clinic, quality, "f.json", as_json(lot_entry("A")))
        assert "already been received" in err.value.errors["row 1, lot_number"][0]
        assert Lot.objects.count() == 1

    @pytest.mark.parametrize(
        ("name", "content", "key"),
        [
            ("f.json", b'{"lots": [', "file, json"),
            ("f.json", b'{"lot": []}', "file, lots"),
            ("f.json", b'{"lots": []}', "file, lots"),
            ("f.txt", b"{}", "file"),
            ("f.json", b"\xff\xfe", "file"),
            ("f.csv", b"lot_number,expiry\nA\x00,2027-01-01\n", "file"),
            ("f.json", b'{"lots": [{"lot_number": "A\\u0000"}]}', "file, json"),
            # A second list under another key was dropped unseen while the first imported.
            ("f.json", as_json(lot_entry("A"))[:-1] + b', "lots ": []}', "file, lots "),
        ],
    )
    def test_malformed_files_are_refused_with_a_reason(self, product, quality, name, content, key):
        with pytest.raises(services.ProductError) as err:
            services.import_lots(product.clinic, quality, name, content)
        assert key in err.value.errors, err.value.errors
        assert not Lot.objects.exists()

    @pytest.mark.parametrize(
        "content",
        [
            # A result twice: JSON keeps the last, so the positive sterility vanished and the
            # lot was releasable.
            as_json(lot_entry("A")).replace(
                b'"sterility": "negative"', b'"sterility": "positive", "sterility": "negative"'
            ),
            # Two lists of lots (two exports pasted together): only the last was imported.
            b'{"lots": ' + as_json(lot_entry("A"))[9:-1] + b', "lots": '
            + as_json(lot_entry("B"))[9:],
        ],
    )  # fmt: skip
    def test_a_key_given_twice_in_one_object_is_refused_not_the_last_kept(
        self, product, quality, content
    ):
        with pytest.raises(services.ProductError) as err:
            services.import_lots(product.clinic, quality, "f.json", content)
        assert "appears twice" in " ".join(err.value.errors["file, json"])
        assert not Lot.objects.exists() and not CertificateOfAnalysis.objects.exists()

    def test_products_of_another_clinic_are_not_found(self, product, clinic_b, make_user):
        other = make_user(Role.QUALITY, clinic_b)
        with pytest.raises(services.ProductError) as err:
            services.import_lots(clinic_b, other, "f.json", as_json(lot_entry("A")))
        assert "row 1, product_name" in err.value.errors


def csv_file(rows: list[dict]) -> bytes:
    out = io.StringIO()
    columns = list(rows[0])
    writer = csv.DictWriter(out, fieldnames=columns)
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def csv_row(number="C-1", **changes):
    row = {
        "manufacturer": "Cordis Bio",
        "product_name": "UC-MSC Exosome 10B",
        "lot_number": number,
        "expiry_date": EXPIRY,
        "quantity_received": "8",
        "certificate_lot_number": number,
        "testing_laboratory": "Independent Lab",
        "third_party_laboratory": "yes",
        **{k: str(v) for k, v in good_results().items()},
    }
    row.update(changes)
    return row


class TestCsvImport:
    def test_a_good_csv_imports_with_units_in_cells(self, product, quality):
        rows = [csv_row("C-1"), csv_row("C-2", endotoxin_eu_per_ml="0.05 EU/vial")]
        lots = services.import_lots(product.clinic, quality, "lots.csv", csv_file(rows))
        assert len(lots) == 2
        coa = CertificateOfAnalysis.objects.get(lot=lots[1])
        assert coa.results["endotoxin_eu_per_ml"] == {"value": 0.05, "unit": "EU/vial"}
        assert coa.third_party_laboratory is True

    @pytest.mark.parametrize(
        ("change", "key"),
        [
            ({"size_mode_nm": "5"}, "row 2, coa.results.size_mode_nm"),
            ({"particles_per_ml": "lots"}, "row 2, coa.results.particles_per_ml"),
            ({"endotoxin_eu_per_ml": "0.1 mg"}, "row 2, coa.results.endotoxin_eu_per_ml"),
            ({"quantity_received": "2.5"}, "row 2, quantity_received"),
            ({"lot_number": ""}, "row 2, lot_number"),
        ],
    )
    def test_bad_cells_name_row_and_field(self, product, quality, change, key):
        rows = [csv_row("C-1"), csv_row("C-2", **change)]
        with pytest.raises(services.ProductError) as err:
            services.import_lots(product.clinic, quality, "lots.csv", csv_file(rows))
        assert key in err.value.errors, err.value.errors
        assert not Lot.objects.exists()

    def test_an_unknown_or_missing_column_is_refused(self, product, quality):
        rows = [{**csv_row(), "colour": "blue"}]
        with pytest.raises(services.ProductError) as err:
            services.import_lots(product.clinic, quality, "lots.csv", csv_file(rows))
        assert "file, colour" in err.value.errors
        row = csv_row()
        del row["expiry_date"]
        with pytest.raises(services.ProductError) as err:
            services.import_lots(product.clinic, quality, "lots.csv", csv_file([row]))
        assert "file, expiry_date" in err.value.errors


class TestCli:
    def test_anagen_lots_import_stores_the_file(self, product, quality, tmp_path, capsys):
        path = tmp_path / "lots.json"
        path.write_bytes(as_json(lot_entry("CLI-1")))
        call_command("lots", "import", str(path), "--clinic", "clinic-a", "--user", "quality-1")
        assert "Imported 1 lot(s)" in capsys.readouterr().out
        assert Lot.objects.filter(lot_number="CLI-1").exists()

    def test_a_bad_file_is_a_one_line_error_and_stores_nothing(self, product, quality, tmp_path):
        path = tmp_path / "lots.json"
        path.write_bytes(as_json(lot_entry("CLI-1"), lot_entry("CLI-2", expiry_date="soon")))
        with pytest.raises(CommandError) as err:
            call_command("lots", "import", str(path), "--clinic", "clinic-a", "--user", "quality-1")
        message = str(err.value)
        assert "\n" not in message and "row 2, expiry_date" in message
        assert not Lot.objects.exists()

    def test_a_file_of_the_wrong_kind_says_so_once(self, product, quality, tmp_path):
        path = tmp_path / "lots.txt"
        path.write_text("lot_number\nX\n")
        with pytest.raises(CommandError) as err:
            call_command("lots", "import", str(path), "--clinic", "clinic-a", "--user", "quality-1")
        assert str(err.value) == (
            "lots.txt: nothing imported — file: the name must end in .json or .csv"
        )

    def test_a_user_without_lot_receive_may_not_import(
        self, product, tmp_path, clinic_a, make_user
    ):
        make_user(Role.NURSE, clinic_a, username="nurse-cli")
        path = tmp_path / "lots.json"
        path.write_bytes(as_json(lot_entry("CLI-1")))
        with pytest.raises(CommandError, match="may not receive"):
            call_command("lots", "import", str(path), "--clinic", "clinic-a", "--user", "nurse-cli")

    def test_the_real_console_script_exits_non_zero_on_an_unmigrated_database(self, tmp_path):
        import os
        import subprocess
        import sys
        from pathlib import Path

        path = tmp_path / "bad.csv"
        path.write_text("lot_number\nX\n")
        script = Path(sys.executable).parent / "anagen"
        done = subprocess.run(
            [str(script), "lots", "import", str(path), "--clinic", "nope", "--user", "x"],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'empty.sqlite3'}"},
        )
        assert done.returncode == 1
        assert "run `anagen migrate` first" in done.stderr
        assert "Traceback" not in done.stderr


class TestTraceAndRecall:
    @pytest.fixture
    def used_lot(self, make_lot, clinic_a, make_user, make_patient):
        lot = make_lot(quantity=10, released=True, received_at=timezone.now() - timedelta(days=6))
        # Released five days ago, so that the draws below (up to 3 days ago) came after it.
        Lot.objects.filter(pk=lot.pk).update(decided_at=timezone.now() - timedelta(days=5))
        lot.refresh_from_db()
        nurse = make_user(Role.NURSE, clinic_a)
        self.patients = [
            make_patient(clinic_a, nurse, phone="+44 20 7946 0001", email="p1@example.org"),
            make_patient(clinic_a, nurse, phone="+44 20 7946 0002", email="p2@example.org"),
        ]
        today = timezone.localdate()
        services.draw_vials(lot, self.patients[0], 2, nurse, on_date=today - timedelta(days=3))
        services.draw_vials(
            lot, self.patients[1], 1, nurse, on_date=today - timedelta(days=1), dose_volume_ml=1
        )
        services.draw_vials(lot, self.patients[0], 1, nurse, on_date=today, session_ref="S-7")
        return lot

    def test_trace_lists_each_patient_once_with_dates_and_vials(self, used_lot):
        rows = selectors.affected_patients(used_lot)
        by_id = {r["patient"].pk: r for r in rows}
        first, second = self.patients
        assert by_id[first.pk]["vials"] == 3 and len(by_id[first.pk]["dates"]) == 2
        assert by_id[second.pk]["vials"] == 1 and by_id[second.pk]["dose_ml"] == 1
        assert by_id[first.pk]["sessions"] == ["S-7"]
        assert selectors.adverse_events_after(used_lot) == []

    def test_trace_lists_adverse_events_from_the_first_dose_on(self, used_lot, clinic_a, make_user):
        from anagen.monitoring import services as monitoring
        from anagen.monitoring.models import AdverseEvent

        first, second = self.patients
        today = timezone.localdate()
        clinician = make_user(Role.CLINICIAN, clinic_a)

        def event(patient, onset, grade, term="injection_site_reaction"):
            return monitoring.record_adverse_event(
                patient,
                clinician,
                {"term_key": term, "grade": grade, "onset_date": onset},
            )

        event(first, today - timedelta(days=10), 1)  # before the first dose: not listed
        listed = [event(first, today - timedelta(days=2), 2), event(second, today, 3)]
        voided = event(second, today, 1, term="headache")
        AdverseEvent.objects.filter(pk=voided.pk).update(voided_at=timezone.now())

        events = selectors.adverse_events_after(used_lot)
        assert [e.pk for e in events] == [e.pk for e in listed]
        pdf_text = laid_out_text(used_lot, events)
        assert "2 adverse events with onset on or after" in pdf_text
        assert "Injection site reaction" in pdf_text or "injection site" in pdf_text.lower()

    def test_trace_page_links_patients_only_for_roles_that_may_open_them(
        self, used_lot, client, clinic_a, make_user
    ):
        first, _ = self.patients
        record = f'href="/patients/{first.pk}/"'
        client.force_login(make_user(Role.QUALITY, clinic_a))
        page = client.get(f"/products/lots/{used_lot.pk}/trace/").content.decode()
        # Quality staff see who to contact for a recall, without a link to a record they
        # may not open.
        assert first.family_name in page and first.phone in page and record not in page
        assert client.get(f"/patients/{first.pk}/").status_code == 403
        client.force_login(make_user(Role.ADMIN, clinic_a))  # recall.manage and patient.view
        assert record in client.get(f"/products/lots/{used_lot.pk}/trace/").content.decode()

    def test_trace_page_marks_a_voided_patient_record_it_still_lists(
        self, used_lot, client, clinic_a, make_user
    ):
        """The vials were given to someone, so a record voided as a duplicate stays on the
        trace; it was shown as any record to call, as the recall PDF did."""
        from anagen.patients.services import void_patient

        first, second = self.patients
        admin = make_user(Role.ADMIN, clinic_a)
        void_patient(first, admin, "Duplicate of MRN-9999")
        client.force_login(admin)
        page = client.get(f"/products/lots/{used_lot.pk}/trace/").content.decode()
        assert page.count('data-testid="voided-patient"') == 1
        row = page[page.index(first.family_name) : page.index(first.phone)]
        assert "Voided record" in row and "Duplicate of MRN-9999" in row
        assert second.family_name in page

    def test_reverse_trace_lists_every_lot_a_patient_received(self, used_lot, make_lot):
        first = self.patients[0]
        draws = list(selectors.draws_of_patient(used_lot.clinic, first))
        assert {d.lot for d in draws} == {used_lot} and len(draws) == 2

    def test_recall_blocks_the_lot_and_is_audited(self, used_lot, quality):
        with pytest.raises(services.ProductError) as err:
            services.recall_lot(used_lot, quality, "")
        assert "reason" in err.value.errors
        services.recall_lot(used_lot, quality, "Manufacturer recall: sterility failure")
        used_lot.refresh_from_db()
        assert used_lot.status == LotStatus.RECALLED and used_lot.blocked
        assert used_lot.decisions.first().kind == "recall"
        with pytest.raises(services.NotUsable):
            services.draw_vials(
                used_lot, self.patients[0], 1, quality, on_date=timezone.localdate()
            )
        with pytest.raises(services.ProductError, match="already"):
            services.recall_lot(used_lot, quality, "Manufacturer recall again")

    def test_the_recall_csv_has_one_row_per_patient_with_contacts(self, used_lot, quality):
        services.recall_lot(used_lot, quality, "Manufacturer recall: sterility failure")
        rows = list(csv.DictReader(io.StringIO(selectors.recall_csv(used_lot))))
        assert len(rows) == 2
        # A leading "+" would make a spreadsheet read the number as a formula: kept as text.
        # As dialled: a phone number is not a formula (core.text.phone_cell).
        assert {r["phone"] for r in rows} == {"+44 20 7946 0001", "+44 20 7946 0002"}
        assert {r["lot_number"] for r in rows} == {used_lot.lot_number}

    def test_the_recall_csv_runs_no_formula_typed_into_a_record(self, used_lot, quality):
        from anagen.patients.services import update_patient

        first, _ = self.patients
        update_patient(first, quality, {"family_name": '=HYPERLINK("http://x","Call")'})
        rows = list(csv.DictReader(io.StringIO(selectors.recall_csv(used_lot))))
        names = {r["family_name"] for r in rows}
        assert '\'=HYPERLINK("http://x","Call")' in names
        assert not any(
            v.startswith(("=", "+", "-", "@")) for r in rows for k, v in r.items() if k != "phone"
        )
        assert all(PHONE_NUMBER.fullmatch(r["phone"]) for r in rows)

    def test_the_recall_notice_is_a_pdf_naming_the_lot_and_patients(self, used_lot, quality):
        services.recall_lot(used_lot, quality, "Manufacturer recall: sterility failure")
        pdf = selectors.recall_notice_pdf(used_lot, generated_at=timezone.now())
        assert pdf.startswith(b"%PDF-") and b"%%EOF" in pdf[-1024:]
        text = laid_out_text(used_lot)
        assert used_lot.lot_number in text
        assert self.patients[0].medical_record_number in text
        assert "+44 20 7946 0002" in text
        assert "sterility failure" in text
        assert "No adverse events recorded after sessions that used this lot." in text
        assert "not approved for hair loss in most jurisdictions" in text


def laid_out_text(lot, adverse_events=()) -> str:
    """The text WeasyPrint lays out on the notice's pages (no PDF text extractor installed)."""
    from django.template.loader import render_to_string
    from weasyprint import HTML

    html = render_to_string(
        "products/recall_notice.html",
        {
            "lot": lot,
            "recall": getattr(lot, "recall", None),
            "patients": selectors.affected_patients(lot),
            "adverse_events": list(adverse_events),
            "generated_at": timezone.now(),
        },
    )
    document = HTML(string=html).render()

    def texts(box):
        if getattr(box, "text", None):
            yield box.text
        for child in getattr(box, "children", ()):
            yield from texts(child)

    return " ".join(t for page in document.pages for t in texts(page._page_box))


def test_support_names_are_used():
    assert good_results and make_lot and product and quality and quality2


class TestTraceOfTreatmentSessions:
    """Sessions draw vials without a dose and record the volume injected on the session."""

    @pytest.fixture
    def treated(self, clinic_a, make_user, make_patient):
        from anagen.treatments import services as treatments

        from ..builders import exosome_plan, released_lot

        clinician = make_user(Role.CLINICIAN, clinic_a)
        patient = make_patient(clinic_a, clinician, sex_at_birth="male", family_name="Treated")
        plan = exosome_plan(patient, clinician)
        lot = released_lot(clinic_a, clinician, vials=5, number="TR-1")
        today = timezone.localdate()
        session = treatments.record_session(
            clinic_a,
            clinician,
            plan,
            {"modality": "exosome", "performed_on": today, "needle_gauge": 30, "depth_mm": "1.5"},
            map_entries=[{"zone": "frontal", "points": 40, "volume_ml": 1.0}],
            vials=[treatments.VialRequest(lot, 2)],
        )
        # A second draw the same day at the point of care, with its own dose.
        services.draw_vials(lot, patient, 1, clinician, on_date=today, dose_volume_ml="0.5")
        return lot, patient, session, today

    def test_the_dose_is_the_sessions_volume_and_each_date_is_listed_once(self, treated):
        lot, patient, session, today = treated
        [row] = selectors.affected_patients(lot)
        assert row["patient"] == patient
        assert session.total_volume_ml == Decimal("1.00")
        assert row["dose_ml"] == Decimal("1.50")  # the session's 1.00 mL + 0.5 mL drawn
        assert row["dates"] == [today]
        assert row["vials"] == 3
        assert row["sessions"] == [f"session:{session.pk}"]

    def test_the_patients_lot_list_gives_the_dose_and_the_session_as_the_trace_does(
        self, treated, client, clinic_a, quality, make_user
    ):
        """It showed "—" for every session draw and "session:57" (review)."""
        lot, patient, session, today = treated
        client.force_login(quality)
        page = client.get(f"/products/patients/{patient.pk}/lots/").content.decode()
        assert "<td>1.00</td>" in page and "<td>0.50</td>" in page
        assert "session:" not in page and "treatment session" in page  # quality: no link
        client.force_login(make_user(Role.ADMIN, clinic_a, username="adm"))
        page = client.get(f"/products/patients/{patient.pk}/lots/").content.decode()
        link = f'<a href="/sessions/{patient.pk}/{session.pk}/">session of {today:%Y-%m-%d}</a>'
        assert link in page

    def test_the_trace_page_and_recall_csv_show_the_dose(self, treated, client, clinic_a, quality):
        lot, _, _, today = treated
        client.force_login(quality)
        page = client.get(f"/products/lots/{lot.pk}/trace/").content.decode()
        assert "<td>1.50</td>" in page
        # Each use too: the session's draw carries the session's volume, not "—".
        uses = page.split("<h2>Every use</h2>")[1].split("</table>")[0]
        session_cell = f'<td>1.00</td><td class="session">Session of {today:%Y-%m-%d}</td>'
        assert session_cell in uses, uses
        # A recall refused (no reason) shows the same page, with the error: 400, not a crash.
        refused = client.post(f"/products/lots/{lot.pk}/recall/", {"reason": ""})
        assert refused.status_code == 400 and session_cell in refused.content.decode()
        lot.refresh_from_db()
        assert lot.status != LotStatus.RECALLED
        text = client.get(f"/products/lots/{lot.pk}/recall.csv").content.decode("utf-8-sig")
        [record] = list(csv.DictReader(io.StringIO(text)))
        assert record["dose_ml"] == "1.50"
        assert record["dates_treated"] == today.isoformat()

    def test_a_session_drawn_from_three_lots_gives_them_shares_that_add_up_to_its_volume(
        self, client, clinic_a, quality, make_user, make_patient, api_token
    ):
        """Each share was rounded to 0.01 mL on its own: three equal shares of 1.00 mL
        showed 0.33 each, 0.99 mL in all (a review). Now the rounding of one session's
        shares is shared out (largest remainder), and the page, CSV and API agree."""
        from anagen.treatments import services as treatments

        from ..builders import exosome_plan, released_lot

        clinician = make_user(Role.CLINICIAN, clinic_a, username="three")
        patient = make_patient(clinic_a, clinician, sex_at_birth="male", family_name="Thirds")
        lots = [released_lot(clinic_a, clinician, vials=3, number=f"TH-{n}") for n in (1, 2, 3)]
        today = timezone.localdate()
        treatments.record_session(
            clinic_a,
            clinician,
            exosome_plan(patient, clinician),
            {"modality": "exosome", "performed_on": today, "needle_gauge": 30, "depth_mm": "1.5"},
            map_entries=[{"zone": "frontal", "points": 40, "volume_ml": 1.0}],
            vials=[treatments.VialRequest(lot, 1) for lot in lots],
        )
        doses = [selectors.affected_patients(lot)[0]["dose_ml"] for lot in lots]
        assert sum(doses) == Decimal("1.00")
        assert sorted(doses) == [Decimal("0.33"), Decimal("0.33"), Decimal("0.34")]
        client.force_login(quality)
        token = api_token(quality, clinic_a)
        for lot, dose in zip(lots, doses, strict=True):
            page = client.get(f"/products/lots/{lot.pk}/trace/").content.decode()
            uses = page.split("<h2>Every use</h2>")[1].split("</table>")[0]
            assert f"<td>{dose}</td>" in uses
            text = client.get(f"/products/lots/{lot.pk}/recall.csv").content.decode("utf-8-sig")
            [record] = list(csv.DictReader(io.StringIO(text)))
            assert record["dose_ml"] == str(dose)
            trace = client.get(
                f"/api/v1/products/lots/{lot.pk}/trace",
                headers={"Authorization": f"Bearer {token}"},
            ).json()
            assert Decimal(str(trace["patients"][0]["dose_ml"])) == dose

    def test_a_recall_sent_again_from_another_tab_says_the_lot_is_already_recalled(
        self, treated, client, quality
    ):
        """The second came back 400 with no message: the page no longer shows the recall
        form once the lot is recalled (a review)."""
        lot, *_ = treated
        client.force_login(quality)
        reason = {"reason": "Supplier recall notice: sterility concern"}
        assert client.post(f"/products/lots/{lot.pk}/recall/", reason).status_code == 302
        again = client.post(f"/products/lots/{lot.pk}/recall/", reason)
        page = again.content.decode()
        assert again.status_code == 400
        assert 'id="recall-errors"' in page and "This lot has already been recalled." in page

    def test_a_draw_with_no_recorded_dose_shows_no_dose_rather_than_zero(
        self, make_lot, clinic_a, make_user, make_patient
    ):
        lot = make_lot(quantity=5, released=True)
        nurse = make_user(Role.NURSE, clinic_a)
        patient = make_patient(clinic_a, nurse)
        services.draw_vials(lot, patient, 1, nurse, on_date=timezone.localdate())
        [row] = selectors.affected_patients(lot)
        assert row["dose_ml"] is None
        assert list(csv.DictReader(io.StringIO(selectors.recall_csv(lot))))[0]["dose_ml"] == ""

    def test_the_trace_page_shows_sessions_as_dates_and_people_by_full_name(
        self, treated, client, clinic_a, quality, make_user
    ):
        lot, patient, session, today = treated
        quality.first_name, quality.last_name = "Quinn", "Quality"
        quality.save()
        [clinician] = {d.drawn_by for d in lot.draws.all()}
        clinician.first_name, clinician.last_name = "Chloe", "Clinician"
        clinician.save()
        services.recall_lot(lot, quality, "Manufacturer recall: sterility failure")
        client.force_login(quality)
        page = client.get(f"/products/lots/{lot.pk}/trace/").content.decode()
        assert "session:" not in page
        assert "by Quinn Quality:" in page and "by quality-1" not in page
        uses = page.split("<h2>Every use</h2>")[1].split("</table>")[0]
        assert "<td>Chloe Clinician</td>" in uses and "clinician-clinic-a" not in uses
        # Quality staff may not open sessions: the date, without a link.
        session_url = reverse("treatments:detail", args=[patient.pk, session.pk])
        assert f"Session of {today:%Y-%m-%d}" in uses and session_url not in uses
        # An admin may: the date links to the session page.
        client.force_login(make_user(Role.ADMIN, clinic_a))
        page = client.get(f"/products/lots/{lot.pk}/trace/").content.decode()
        assert f'<a href="{session_url}">Session of {today:%Y-%m-%d}</a>' in page

    def test_every_list_naming_the_patients_is_in_their_access_log(
        self, treated, client, quality, api_token, clinic_a
    ):
        """Trace page, patient CSV and trace PDF show names and contact details: the patient's
        access log says who saw them, as for a record opened (and which copies were taken)."""
        from anagen.accounts.models import AccessLog
        from anagen.patients.selectors import access_log_for

        lot, patient, _, _ = treated
        client.force_login(quality)
        for path in ("trace/", "recall.csv", "recall-notice.pdf"):
            assert client.get(f"/products/lots/{lot.pk}/{path}").status_code == 200
        headers = {"Authorization": f"Bearer {api_token(quality, clinic_a)}"}
        for path in ("trace", "recall.csv"):
            answer = client.get(f"/api/v1/products/lots/{lot.pk}/{path}", headers=headers)
            assert answer.status_code == 200
        rows = AccessLog.objects.filter(patient=patient, user=quality)
        assert sorted((r.channel, r.path.rsplit("/", 2)[-2:][-1] or "trace") for r in rows) == [
            ("api", "recall.csv"), ("api", "trace"), ("web", "recall-notice.pdf"),
            ("web", "recall.csv"), ("web", "trace"),
        ]  # fmt: skip
        copies = {c for sitting in access_log_for(patient) for c in sitting.copies}
        assert copies == {"lot patient list (CSV)", "lot trace or recall PDF"}

    def test_the_recall_csv_gives_session_dates_and_is_named_by_the_lot_number(
        self, treated, client, quality
    ):
        lot, _, session, today = treated
        client.force_login(quality)
        response = client.get(f"/products/lots/{lot.pk}/recall.csv")
        assert response["Content-Disposition"] == 'attachment; filename="recall-tr-1.csv"'
        # A byte-order mark first, so that Excel reads the file as UTF-8.
        assert response.content.startswith("\ufeff".encode())
        text = response.content.decode("utf-8-sig")
        assert "session:" not in text
        [record] = list(csv.DictReader(io.StringIO(text)))
        assert record["lot_number"] == lot.lot_number
        assert record["session_dates"] == today.isoformat()
        assert record["treatment_session_ids"] == str(session.pk)
        assert record["other_session_refs"] == ""  # the point-of-care draw gave none
        pdf = client.get(f"/products/lots/{lot.pk}/recall-notice.pdf")
        # Not recalled: the PDF is a trace report, and is named so.
        assert pdf["Content-Disposition"] == 'attachment; filename="trace-report-tr-1.pdf"'


def test_a_typed_session_reference_is_kept_in_its_own_csv_column(
    make_lot, clinic_a, make_user, make_patient
):
    lot = make_lot(quantity=5, released=True)
    nurse = make_user(Role.NURSE, clinic_a)
    patient = make_patient(clinic_a, nurse)
    services.draw_vials(lot, patient, 1, nurse, on_date=timezone.localdate(), session_ref="S-7")
    [record] = list(csv.DictReader(io.StringIO(selectors.recall_csv(lot))))
    assert (record["session_dates"], record["treatment_session_ids"]) == ("", "")
    assert record["other_session_refs"] == "S-7"


@pytest.mark.parametrize(
    ("lot_number", "name"),
    [
        ('UC 26/05 "H"', "recall-uc-2605-h.csv"),
        ("../../etc", "recall-etc.csv"),
        ("«»", None),  # nothing left after slugifying: named by the lot's id
    ],
)
def test_recall_files_are_named_by_a_safe_form_of_the_lot_number(make_lot, lot_number, name):
    lot = make_lot(lot_number=lot_number)
    expected = name or f"recall-lot-{lot.pk}.csv"
    assert selectors.recall_file_name(lot, "recall", "csv") == expected
