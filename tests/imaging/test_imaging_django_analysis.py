"""Imaging glue: a trichoscopy photo uploaded at a visit is analysed in a background task;
the visit page shows overlay, both summaries and the htmx correction tool; the visit's
measurement is filled; the API exposes the same. Small generated images keep it fast."""

from __future__ import annotations

import dataclasses
import io
import re
from datetime import date, timedelta
from html import unescape

import django.conf
import numpy as np
import pytest

if not django.conf.settings.configured:  # the pure run: pytest -p no:django tests/imaging
    pytest.skip("needs Django (pytest-django)", allow_module_level=True)

from django.core.files.uploadedfile import SimpleUploadedFile  # noqa: E402
from PIL import Image  # noqa: E402

from anagen.accounts.roles import Role  # noqa: E402
from anagen.imaging import services  # noqa: E402
from anagen.imaging.engine import ACCURACY_RECORD, QUALITY_FLAGS, synth  # noqa: E402
from anagen.imaging.models import AnalysisCorrection, ImagingSettings, PhotoAnalysis  # noqa: E402
from anagen.monitoring import services as monitoring_services  # noqa: E402
from anagen.monitoring.models import Measurement  # noqa: E402

UPP = 5.0
JSON = "application/json"
PARAMS = synth.SynthParams(
    width=800,
    height=640,
    um_per_px=UPP,
    glare=0.0,
    density_per_cm2=180,
    unit_probs=(0.6, 0.3, 0.1, 0.0),
)


@pytest.fixture(scope="module")
def png_bytes():
    img, truth = synth.generate(PARAMS, 11)
    out = io.BytesIO()
    Image.fromarray(img).save(out, format="PNG")
    return out.getvalue(), truth


@pytest.fixture(scope="module")
def other_png() -> bytes:
    """Another field of the same kind: a second photo (each visit needs its own file)."""
    img, _ = synth.generate(PARAMS, 13)
    out = io.BytesIO()
    Image.fromarray(img).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture(scope="module")
def retake_png() -> bytes:
    """The field of ``png_bytes`` shot again: the same hairs, new camera noise."""
    img, _ = synth.generate(PARAMS, 11, noise_seed=5)
    out = io.BytesIO()
    Image.fromarray(img).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture
def patient(clinic_a, nurse, make_patient):
    return make_patient(clinic_a, nurse, given_name="Tricho", family_name="Scopy")


@pytest.fixture
def visit(patient, nurse):
    day = (date.today() - timedelta(days=1)).isoformat()
    return monitoring_services.record_visit(patient, nurse, {"visit_date": day})


@pytest.fixture
def calibrated(clinic_a, nurse):
    return services.save_settings(clinic_a, nurse, {"um_per_px": UPP})


def upload(client, patient, visit, data, captured, run_task=True):
    """Upload a trichoscopy photo through the visit page; ``run_task=False`` drops the
    analysis task that the upload enqueues (as if no worker ever got it)."""
    f = SimpleUploadedFile("field.png", data, content_type="image/png")
    with captured(execute=run_task):
        response = client.post(
            f"/monitoring/{patient.pk}/visits/{visit.pk}/photos/",
            {"kind": "trichoscopy", "view": "", "target_area": "vertex tattoo", "image": f},
        )
    assert response.status_code == 302, response.content.decode()[:1500]
    return PhotoAnalysis.objects.get(photo__visit=visit)


@pytest.fixture
def analysed(
    client, nurse, patient, visit, calibrated, png_bytes, django_capture_on_commit_callbacks
):
    client.force_login(nurse)
    return upload(client, patient, visit, png_bytes[0], django_capture_on_commit_callbacks)


def test_upload_is_analysed_and_fills_the_visit_measurement(analysed, png_bytes, visit):
    a = analysed
    truth = png_bytes[1]
    assert a.status == "done", a.error
    s = a.summary_auto
    assert abs(s["count"] - truth.count) <= 0.25 * truth.count
    assert a.um_per_px == UPP and a.calibration_source == "clinic"
    m = Measurement.objects.get(pk=a.measurement_id)
    assert m.source == Measurement.Source.IMAGING and m.visit == visit
    assert m.hair_count == s["count"]
    assert m.density_per_cm2 == pytest.approx(s["density_per_cm2"], abs=0.01)
    assert m.target_area_cm2 == pytest.approx(800 * 640 * (UPP * 1e-4) ** 2, rel=1e-3)
    assert a.history.filter(history_change_reason="analysis done").exists()


def test_visit_page_shows_overlay_summary_and_correction_tool(client, analysed, patient, visit):
    page = client.get(f"/monitoring/{patient.pk}/visits/{visit.pk}/").content.decode()
    assert f'id="analysis-{analysed.pk}"' in page
    assert f"/imaging/{patient.pk}/analyses/{analysed.pk}/overlay.png" in page
    assert "Density (/cm²)" in page and "Cumulative thickness" in page
    assert "Correct the result" in page and 'name="op" value="remove"' in page
    png = client.get(f"/imaging/{patient.pk}/analyses/{analysed.pk}/overlay.png")
    assert png.status_code == 200 and png["Content-Type"] == "image/png"
    with Image.open(io.BytesIO(png.content)) as im:
        assert im.size == (800, 640)


def test_htmx_correction_keeps_automatic_result_and_updates_measurement(client, analysed, patient):
    a = analysed
    before = dict(a.result["summary"])
    first_measurement = a.measurement_id
    hair = next(h for h in a.hairs if h["counted"])["id"]
    url = f"/imaging/{patient.pk}/analyses/{a.pk}/correct/"
    r = client.post(url, {"op": "remove", "hair_id": hair}, headers={"HX-Request": "true"})
    assert r.status_code == 200
    assert f'id="analysis-{a.pk}"' in r.content.decode() and "1 correction" in r.content.decode()
    a.refresh_from_db()
    assert a.result["summary"] == before  # automatic result untouched
    assert a.corrected_summary["count"] == before["count"] - 1
    assert a.measurement_id == first_measurement  # updated in place, not replaced
    m = Measurement.objects.get(pk=a.measurement_id)
    assert m.hair_count == before["count"] - 1 and not m.is_voided
    corr = AnalysisCorrection.objects.get(analysis=a)
    assert corr.edits[0]["op"] == "remove" and corr.edits[0]["author"] == "nurse-clinic-a"
    assert corr.history.first().history_user.username == "nurse-clinic-a"
    # Undo brings the automatic figures back.
    client.post(url, {"op": "undo"}, headers={"HX-Request": "true"})
    a.refresh_from_db()
    assert a.edits == [] and a.corrected_summary is None
    assert Measurement.objects.get(pk=a.measurement_id).hair_count == before["count"]
    # Without JavaScript: the form posts and redirects back to the visit.
    r = client.post(
        url, {"op": "add", "x1": 300, "y1": 300, "x2": 330, "y2": 380, "diameter_um": 55}
    )
    assert r.status_code == 302 and r["Location"].endswith(f"#analysis-{a.pk}")
    a.refresh_from_db()
    assert a.corrected_summary["count"] == before["count"] + 1
    assert a.edits[0]["op"] == "add" and a.edits[0]["diameter_um"] == 55


def test_bad_corrections_are_refused_with_a_message_and_store_nothing(client, analysed, patient):
    url = f"/imaging/{patient.pk}/analyses/{analysed.pk}/correct/"
    r = client.post(url, {"op": "remove", "hair_id": "99999"}, headers={"HX-Request": "true"})
    assert r.status_code == 200
    assert (
        "Hair no.: there is no hair 99999 in this analysis; enter a hair number from the overlay."
        in r.content.decode()
    )
    # The refused form comes back filled in; the other forms stay empty.
    assert 'name="hair_id" inputmode="numeric" size="4" value="99999"' in r.content.decode()
    assert r.content.decode().count('value="99999"') == 1
    r = client.post(url, {"op": "merge", "hair_ids": "3"})
    assert r.status_code == 400 and "at least two" in r.content.decode()
    assert 'name="hair_ids" placeholder="e.g. 3, 4" size="8" value="3"' in r.content.decode()
    r = client.post(url, {"op": "explode"})
    assert r.status_code == 400
    height, width = analysed.result["image_shape"]
    for outside in ({"x1": -100, "y1": -100, "x2": -50, "y2": -50},
                    {"x1": 10, "y1": 10, "x2": width, "y2": 10}):  # fmt: skip
        r = client.post(url, {"op": "add", **outside, "diameter_um": 45})
        assert r.status_code == 400 and "inside the image" in r.content.decode(), outside
        assert (
            f'name="x1" inputmode="numeric" size="4" value="{outside["x1"]}"' in r.content.decode()
        )
        assert 'size="4" value="45"' in r.content.decode()
    assert not AnalysisCorrection.objects.filter(analysis=analysed).exists()


def _correct(client, patient, analysis, **data):
    url = f"/imaging/{patient.pk}/analyses/{analysis.pk}/correct/"
    return client.post(url, data, headers={"HX-Request": "true"})


def _counted_hairs(analysis, n):
    return [h["id"] for h in analysis.hairs if h["counted"]][:n]


def _near_pair(hairs, um_per_px, exclude=()):
    """Two counted hairs whose nearest ends lie within a merge's reach (pieces of one hair,
    as far as a merge can tell)."""
    from anagen.imaging.engine.corrections import joined
    from anagen.imaging.services import MERGE_MAX_GAP_UM

    counted = [h for h in hairs if h["counted"] and h["id"] not in exclude]
    for i, a in enumerate(counted):
        for b in counted[i + 1 :]:
            _, (gap,) = joined([a["centreline_px"], b["centreline_px"]])
            if gap * um_per_px <= MERGE_MAX_GAP_UM / 2:
                return a["id"], b["id"]
    raise AssertionError("no two hairs near each other")


def _far_pair(hairs, um_per_px):
    from anagen.imaging.engine.corrections import joined
    from anagen.imaging.services import MERGE_MAX_GAP_UM

    counted = [h for h in hairs if h["counted"]]
    for i, a in enumerate(counted):
        for b in counted[i + 1 :]:
            _, (gap,) = joined([a["centreline_px"], b["centreline_px"]])
            if gap * um_per_px > 2 * MERGE_MAX_GAP_UM:
                return a["id"], b["id"], gap * um_per_px
    raise AssertionError("no two hairs far apart")


def test_the_correction_log_says_what_was_done_by_whom_and_when_in_words(
    client, analysed, patient, nurse
):
    nurse.first_name, nurse.last_name = "Nora", "Nurse"
    nurse.save()
    first, second = _counted_hairs(analysed, 2)
    _correct(client, patient, analysed, op="set_diameter", hair_id=first, diameter_um="30")
    _correct(client, patient, analysed, op="remove", hair_id=second)
    r = _correct(client, patient, analysed, op="add", x1=300, y1=310, x2=330, y2=380,
                 diameter_um=55)  # fmt: skip
    html = r.content.decode()
    log = re.search(r'data-testid="correction-log">(.*?)</ol>', html, re.S).group(1)
    entries = [re.sub(r"<[^>]+>", "", li).strip() for li in re.findall(r"<li>.*?</li>", log)]
    new_id = max(h["id"] for h in analysed.hairs) + 1
    stamp = r"\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC"
    assert re.fullmatch(rf"Diameter of hair {first} set to 30 µm · Nora Nurse · {stamp}",
                        entries[0]), entries[0]  # fmt: skip
    assert entries[1].startswith(f"Hair {second} removed · Nora Nurse · ")
    assert entries[2].startswith(
        f"Hair {new_id} added from (300, 310) to (330, 380) px, 55 µm · Nora Nurse"
    )
    assert "set_diameter" not in log and "nurse-clinic-a" not in log and "+00:00" not in log


def _form_of(page: str, op: str) -> str:
    return re.search(rf'<form [^>]*>(?:(?!</form>).)*value="{op}".*?</form>', page, re.S).group(0)


def test_a_refused_correction_names_the_field_inside_the_form_that_was_sent(
    client, analysed, patient
):
    url = f"/imaging/{patient.pk}/analyses/{analysed.pk}/correct/"
    page = client.post(
        url,
        {"op": "set_diameter", "hair_id": "1", "diameter_um": "abc"},
        headers={"HX-Request": "true"},
    ).content.decode()
    message = "Diameter (µm): enter a number."
    assert page.count(message) == 1
    assert message in _form_of(page, "set_diameter")
    page = client.post(
        url,
        {"op": "add", "x1": "a", "y1": "1", "x2": "5", "y2": "5"},
        headers={"HX-Request": "true"},
    ).content.decode()
    assert "Base and tip (px): enter base and tip coordinates in pixels." in _form_of(page, "add")
    assert not AnalysisCorrection.objects.filter(analysis=analysed).exists()


def test_a_refused_re_analysis_names_the_image_scale_in_its_form(client, analysed, patient):
    url = f"/imaging/{patient.pk}/photos/{analysed.photo_id}/analyse/"
    page = client.post(url, {"um_per_px": "abc"}, headers={"HX-Request": "true"}).content.decode()
    form = re.search(r'<form class="imaging-calibrate".*?</form>', page, re.S).group(0)
    assert "Image scale (µm per pixel): enter a number." in form


def test_the_add_form_says_its_numbers_are_pixels_and_the_overlay_can_fill_them(
    client, analysed, patient, visit
):
    page = client.get(f"/monitoring/{patient.pk}/visits/{visit.pk}/").content.decode()
    help_text = re.search(r'data-testid="add-hair-help">(.*?)</small>', page, re.S).group(1)
    assert "pixels of the image (800 × 640 px)" in help_text
    overlay = re.search(r'<img [^>]*data-testid="analysis-overlay"[^>]*>', page).group(0)
    assert f'data-pick-form="add-hair-{analysed.pk}"' in overlay
    assert 'data-width-px="800"' in overlay and 'data-height-px="640"' in overlay
    assert f'id="add-hair-{analysed.pk}"' in page and "imaging/overlay-pick.js" in page


def test_a_merge_of_hairs_far_apart_is_refused_naming_the_distance(client, analysed, patient):
    """Hairs 2 mm apart were joined by a straight bridge across the field (review): a typo
    in a hair number would have changed the count and the units without a word."""
    a, b, gap_um = _far_pair(analysed.hairs, analysed.result["um_per_px"])
    r = _correct(client, patient, analysed, op="merge", hair_ids=f"{a}, {b}")
    page = r.content.decode()
    assert f"Hair numbers: hair {b} is {gap_um / 1000:.2f} mm from the hair(s) before it" in page
    assert "at most 0.30 mm apart" in page
    analysed.refresh_from_db()
    assert analysed.edits == [] and analysed.corrected_summary is None


def test_the_per_hair_table_shows_the_corrected_state_beside_the_automatic_one(
    client, analysed, patient
):
    merged_a, merged_b = _near_pair(analysed.hairs, analysed.result["um_per_px"])
    removed, resized = [i for i in _counted_hairs(analysed, 4) if i not in {merged_a, merged_b}][:2]
    auto = {h["id"]: h for h in analysed.hairs}
    _correct(client, patient, analysed, op="remove", hair_id=removed)
    _correct(client, patient, analysed, op="set_diameter", hair_id=resized, diameter_um="30")
    r = _correct(client, patient, analysed, op="merge", hair_ids=f"{merged_a}, {merged_b}")
    html = r.content.decode()

    def row(hair_id):
        tr = re.search(rf'<tr data-hair="{hair_id}"[^>]*>.*?</tr>', html, re.S).group(0)
        return tr, [re.sub(r"<[^>]+>", "", td) for td in re.findall(r"<td>.*?</td>", tr)]

    merged_into = max(auto) + 1
    tr, cells = row(removed)
    assert 'class="taken-out"' in tr and cells[3:] == ["—", "—", "no", "removed"]
    _, cells = row(resized)
    assert cells[2] == f"{auto[resized]['diameter_um']:.1f}" and cells[3] == "30.0"
    assert cells[-1] == "diameter set to 30 µm"
    _, cells = row(merged_a)
    assert cells[-1] == f"merged into hair {merged_into}"
    _, cells = row(merged_into)
    assert cells[2] == "—" and cells[-1] == f"merged from hairs {merged_a}, {merged_b}"
    # The numbers the table gives are the corrected result's numbers.
    analysed.refresh_from_db()
    final = {h.id for h in services.final_analysis(analysed).hairs}
    assert merged_into in final and not {removed, merged_a, merged_b} & final


def test_a_correction_updates_the_visit_measurement_in_place_and_voids_nothing(
    client, analysed, patient, visit
):
    measurement = Measurement.objects.get(pk=analysed.measurement_id)
    hairs = _counted_hairs(analysed, 3)
    for hair in hairs:
        _correct(client, patient, analysed, op="remove", hair_id=hair)
    _correct(client, patient, analysed, op="undo")
    analysed.refresh_from_db()
    assert analysed.measurement_id == measurement.pk
    assert not Measurement.objects.filter(visit=visit, voided_at__isnull=False).exists()
    measurement.refresh_from_db()
    assert measurement.hair_count == analysed.summary_auto["count"] - 2
    reasons = list(
        measurement.history.order_by("history_date", "history_id").values_list(
            "history_change_reason", "hair_count"
        )
    )
    count = analysed.summary_auto["count"]
    assert reasons[1:] == [
        (f"corrected image analysis: Hair {hairs[0]} removed", count - 1),
        (f"corrected image analysis: Hair {hairs[1]} removed", count - 2),
        (f"corrected image analysis: Hair {hairs[2]} removed", count - 3),
        (f"corrected image analysis: correction undone (Hair {hairs[2]} removed)", count - 2),
    ]
    page = client.get(f"/monitoring/{patient.pk}/visits/{visit.pk}/").content.decode()
    assert 'id="voided-entries"' not in page


def test_the_visit_page_shows_the_manual_and_the_image_analysis_measurement(
    client, analysed, patient, visit, nurse
):
    monitoring_services.add_measurement(visit, nurse, {"density_per_cm2": 150})
    hair = _counted_hairs(analysed, 1)[0]
    visit_url = f"/monitoring/{patient.pk}/visits/{visit.pk}/"
    r = client.post(
        f"/imaging/{patient.pk}/analyses/{analysed.pk}/correct/",
        {"op": "remove", "hair_id": hair},
        headers={"HX-Request": "true", "HX-Current-URL": f"http://testserver{visit_url}"},
    )
    assert 'hx-swap-oob="true"' in r.content.decode()
    for html in (
        client.get(visit_url).content.decode(),
        r.content.decode(),  # the card swapped in after a correction
    ):
        card = re.search(r'<section class="card" id="measurements".*?</section>', html, re.S)
        text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", card.group(0)))
        assert "150.0 /cm²" in text
        assert f"{analysed.summary_auto['count'] - 1} " in text
        assert "Manual used for the change from baseline" in text
        assert "Image analysis, corrected" in text  # the heading
        assert "Source Image analysis of vertex tattoo, corrected (1 correction)" in text
        assert "use the manual measurement" in text


def test_a_hair_already_taken_out_is_refused_with_what_took_it_out(client, analysed, patient):
    hair = _counted_hairs(analysed, 1)[0]
    _correct(client, patient, analysed, op="remove", hair_id=hair)
    r = _correct(client, patient, analysed, op="set_diameter", hair_id=hair, diameter_um="40")
    assert (
        f"Hair no.: hair {hair} was removed by an earlier correction; enter a hair number from "
        "the corrected overlay." in r.content.decode()
    )
    assert len(AnalysisCorrection.objects.get(analysis=analysed).edits) == 1


def test_without_calibration_the_analysis_waits_and_says_why(
    client, nurse, patient, visit, png_bytes, django_capture_on_commit_callbacks
):
    client.force_login(nurse)
    a = upload(client, patient, visit, png_bytes[0], django_capture_on_commit_callbacks)
    assert a.status == "needs_calibration" and a.result is None
    assert not Measurement.objects.filter(visit=visit).exists()
    page = client.get(f"/monitoring/{patient.pk}/visits/{visit.pk}/").content.decode()
    assert "No calibration" in page
    url = f"/imaging/{patient.pk}/photos/{a.photo_id}/analyse/"
    r = client.post(url, {"um_per_px": "900"})
    assert r.status_code == 400 and "between 0.5 and 30" in r.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        r = client.post(url, {"um_per_px": "5"})
    assert r.status_code == 302
    a.refresh_from_db()
    assert a.status == "done" and a.calibration_source == "entered"


def test_blank_image_gives_zero_hairs_and_a_quality_flag(
    client, nurse, patient, visit, calibrated, django_capture_on_commit_callbacks
):
    client.force_login(nurse)
    out = io.BytesIO()
    Image.new("RGB", (800, 640), (200, 160, 140)).save(out, format="PNG")
    a = upload(client, patient, visit, out.getvalue(), django_capture_on_commit_callbacks)
    assert a.status == "done" and a.summary_auto["count"] == 0
    assert "no_hairs_found" in a.quality_flags
    page = client.get(f"/imaging/{patient.pk}/analyses/{a.pk}/").content.decode()
    assert QUALITY_FLAGS["no_hairs_found"] in page


def test_a_flag_this_engine_does_not_know_is_shown_by_its_name(analysed):
    """Results stored by another engine version keep their flags readable."""
    analysed.result["quality"]["flags"] = ["faint_hairs", "some_future_flag"]
    assert analysed.quality_notes == [
        ("faint_hairs", QUALITY_FLAGS["faint_hairs"]),
        ("some_future_flag", "some future flag"),
    ]


def test_the_page_says_how_far_the_automatic_count_can_be_trusted(client, analysed, patient):
    """Beside each result: the accuracy benchmark's record of the engine that made it."""
    assert analysed.engine_version == ACCURACY_RECORD.engine_version
    page = client.get(f"/imaging/{patient.pk}/analyses/{analysed.pk}/").content.decode()
    assert 'data-testid="accuracy-note"' in page
    assert f"by {ACCURACY_RECORD.count_mae_pct:g} % on average" in page
    assert "Check the overlay and correct it" in page


def test_a_result_of_an_engine_without_a_record_says_so(analysed):
    analysed.engine_version = "0.0.1"
    note = analysed.accuracy_note
    assert "No accuracy benchmark is recorded for engine 0.0.1" in note
    assert "%" not in note  # no figures borrowed from another engine


def test_front_desk_sees_but_cannot_correct(client, clinic_a, make_user, analysed, patient):
    client.force_login(make_user(Role.FRONT_DESK, clinic_a))
    assert client.get(f"/imaging/{patient.pk}/analyses/{analysed.pk}/").status_code == 200
    r = client.post(
        f"/imaging/{patient.pk}/analyses/{analysed.pk}/correct/", {"op": "remove", "hair_id": 1}
    )
    assert r.status_code == 403


def test_api_lists_details_corrects_and_reanalyses(
    client, analysed, patient, visit, api_token, nurse, clinic_a, django_capture_on_commit_callbacks
):
    h = {"Authorization": f"Bearer {api_token(nurse, clinic_a)}"}
    base = f"/api/v1/imaging/patients/{patient.pk}"
    rows = client.get(f"{base}/visits/{visit.pk}/analyses", headers=h).json()
    assert [r["id"] for r in rows] == [analysed.pk]
    assert rows[0]["summary_automatic"]["count"] == analysed.summary_auto["count"]
    assert rows[0]["summary_corrected"] is None
    record = rows[0]["accuracy_record"]
    assert record["engine_version"] == analysed.engine_version
    assert record["count_mae_pct"] == ACCURACY_RECORD.count_mae_pct
    assert record["summary"] == analysed.accuracy_note
    assert record["least_significant_change_pct"] == round(
        ACCURACY_RECORD.least_significant_change_pct, 1
    )
    detail = client.get(f"{base}/analyses/{analysed.pk}", headers=h).json()
    assert len(detail["hairs_automatic"]) == len(analysed.hairs)
    ids = list(_near_pair(detail["hairs_automatic"], analysed.result["um_per_px"]))
    r = client.post(
        f"{base}/analyses/{analysed.pk}/corrections",
        {"op": "merge", "hair_ids": ids},
        content_type="application/json",
        headers=h,
    )
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["summary_corrected"]["count"] == body["summary_automatic"]["count"] - 1
    r = client.post(
        f"{base}/analyses/{analysed.pk}/corrections",
        {"op": "remove"},
        content_type="application/json",
        headers=h,
    )
    assert r.status_code == 400 and "hair_id" in r.json()["detail"]
    # The merge is a correction: re-analysing must be told it may discard it.
    r = client.post(
        f"{base}/photos/{analysed.photo_id}/analyse",
        {"um_per_px": 4.0},
        content_type="application/json",
        headers=h,
    )
    assert r.status_code == 400 and "discard_corrections" in r.json()["detail"]
    analysed.refresh_from_db()
    assert len(analysed.edits) == 1 and analysed.um_per_px != 4.0
    with django_capture_on_commit_callbacks(execute=True):
        r = client.post(
            f"{base}/photos/{analysed.photo_id}/analyse",
            {"um_per_px": 4.0, "discard_corrections": True},
            content_type="application/json",
            headers=h,
        )
    assert r.status_code == 202
    analysed.refresh_from_db()
    assert analysed.um_per_px == 4.0 and analysed.edits == [] and analysed.status == "done"


def test_reanalysis_without_a_scale_keeps_the_entered_one_or_the_result(
    analysed, nurse, django_capture_on_commit_callbacks
):
    """With no clinic calibration to fall back on, an empty scale must not throw away a
    finished analysis (it did: the measurement was voided, the status "needs calibration")."""
    ImagingSettings.objects.filter(clinic=analysed.clinic).update(um_per_px=None)
    with django_capture_on_commit_callbacks(execute=True):
        services.request_analysis(analysed.photo, nurse, 4.0)
    analysed.refresh_from_db()
    assert (analysed.status, analysed.calibration_source) == ("done", "entered")
    with django_capture_on_commit_callbacks(execute=True):
        services.request_analysis(analysed.photo, nurse, "")
    analysed.refresh_from_db()
    assert (analysed.status, analysed.um_per_px) == ("done", 4.0)
    # A result analysed with a scale nobody entered (a calibration since removed) is kept.
    analysed.calibration_source = "clinic"
    analysed.save()
    versions = analysed.history.count()
    with pytest.raises(services.ImagingError) as refused:
        services.request_analysis(analysed.photo, nurse, None)
    assert "um_per_px" in refused.value.errors
    analysed.refresh_from_db()
    assert (analysed.status, analysed.history.count()) == ("done", versions)


def test_a_second_photo_or_a_failed_image_does_not_replace_the_visits_measurement(
    client, analysed, patient, visit, other_png, django_capture_on_commit_callbacks
):
    first = Measurement.objects.get(pk=analysed.measurement_id)
    white = io.BytesIO()  # an overexposed image: no hairs, flagged glare and low coverage
    Image.new("RGB", (400, 320), (255, 255, 255)).save(white, format="PNG")
    grey = io.BytesIO()  # a blank frame: it was recorded as 0 hairs/cm² at the visit
    Image.new("RGB", (400, 320), (128, 128, 128)).save(grey, format="PNG")
    for name, data, says in (
        ("white.png", white.getvalue(), "No hairs found on an image flagged"),
        ("grey.png", grey.getvalue(), "flagged featureless, monochrome: not recorded"),
        ("crown.png", other_png, "comes from the analysis of another trichoscopy photo"),
    ):
        f = SimpleUploadedFile(name, data, content_type="image/png")
        with django_capture_on_commit_callbacks(execute=True):
            client.post(
                f"/monitoring/{patient.pk}/visits/{visit.pk}/photos/",
                {"kind": "trichoscopy", "view": "", "target_area": "crown", "image": f},
            )
        added = PhotoAnalysis.objects.filter(photo__visit=visit).latest("pk")
        assert added.status == "done" and added.measurement_id is None
        assert says in added.error, added.error
    assert list(Measurement.objects.filter(visit=visit, voided_at__isnull=True)) == [first]


def settings_error(response, field: str) -> str:
    """The message under a field of the calibration page ("" for none)."""
    found = re.search(rf'<div id="id_{field}_error">(.*?)</div>', response.content.decode(), re.S)
    return re.sub(r"<[^>]+>", " ", found[1]).strip() if found else ""


def test_clinic_settings_page_saves_calibration(client, clinic_a, make_user):
    client.force_login(make_user(Role.ADMIN, clinic_a))
    assert client.get("/imaging/settings/").status_code == 200
    r = client.post("/imaging/settings/", {"um_per_px": "abc", "terminal_cutoff_um": "40"})
    assert r.status_code == 400 and settings_error(r, "um_per_px") == "Enter a number."
    r = client.post("/imaging/settings/", {"um_per_px": "4.2", "terminal_cutoff_um": "30"})
    assert r.status_code == 302
    cfg = ImagingSettings.objects.get(clinic=clinic_a)
    assert cfg.um_per_px == 4.2 and cfg.terminal_cutoff_um == 30
    # The first save is one history entry, with its reason (not a blank row first).
    assert [h.history_change_reason for h in cfg.history.all()] == ["imaging settings changed"]
    # The same values again: nothing to record.
    versions = cfg.history.count()
    client.post("/imaging/settings/", {"um_per_px": "4.2", "terminal_cutoff_um": "30"})
    assert cfg.history.count() == versions
    # A calibration note over 200 characters is refused (it was cut silently).
    r = client.post(
        "/imaging/settings/",
        {"um_per_px": "4.2", "terminal_cutoff_um": "30", "calibration_note": "x" * 201},
    )
    assert r.status_code == 400
    assert settings_error(r, "calibration_note") == "At most 200 characters (got 201)."
    assert ImagingSettings.objects.get(clinic=clinic_a).calibration_note == ""


def test_unusable_stored_images_fail_with_a_clear_message(analysed, monkeypatch):
    monkeypatch.setattr(services, "MAX_ANALYSIS_MEGAPIXELS", 0.1)
    services.request_analysis(analysed.photo, analysed.requested_by)
    a = services.run_analysis(analysed.pk)
    assert a.status == "failed" and "analysis limit is 0.1 MP" in a.error
    assert a.result is None and a.measurement is None
    assert not Measurement.objects.filter(visit=a.photo.visit, voided_at__isnull=True).exists()


@pytest.mark.parametrize(
    "edit",
    [
        {"op": "add", "centreline_px": [[1, 2, 3]]},
        {"op": "add", "centreline_px": [[5, 5], [5, 5]]},
        {"op": "add", "centreline_px": [[1, 1]] * 300},
        {"op": "add", "x1": "a", "y1": 1, "x2": 3, "y2": 4},
        {"op": "set_diameter", "hair_id": 1, "diameter_um": 900},
        {"op": "split", "hair_id": 1, "n": 9},
        # A diameter sent as 0 is out of range like any other, not the default of one left out.
        {"op": "add", "centreline_px": [[100, 120], [160, 200]], "diameter_um": 0},
    ],
)
def test_malformed_edits_are_400s(client, analysed, patient, api_token, nurse, clinic_a, edit):
    h = {"Authorization": f"Bearer {api_token(nurse, clinic_a)}"}
    r = client.post(
        f"/api/v1/imaging/patients/{patient.pk}/analyses/{analysed.pk}/corrections",
        edit,
        content_type="application/json",
        headers=h,
    )
    assert r.status_code in (400, 422), r.content
    assert not AnalysisCorrection.objects.filter(analysis=analysed).exists()


@pytest.mark.django_db(transaction=True)
def test_with_the_database_task_backend_a_worker_runs_the_analysis_off_the_request(
    client, nurse, patient, visit, calibrated, png_bytes, settings
):
    from django.core.management import call_command
    from django_tasks_db.models import DBTaskResult

    # What production sets with ANAGEN_TASKS=database (Django resets its task backends
    # when TASKS changes).
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    client.force_login(nurse)
    f = SimpleUploadedFile("field.png", png_bytes[0], content_type="image/png")
    response = client.post(
        f"/monitoring/{patient.pk}/visits/{visit.pk}/photos/",
        {"kind": "trichoscopy", "view": "", "target_area": "vertex", "image": f},
    )
    assert response.status_code == 302
    analysis = PhotoAnalysis.objects.get(photo__visit=visit)
    assert analysis.status == PhotoAnalysis.Status.QUEUED  # not run in the request
    assert DBTaskResult.objects.count() == 1
    call_command("db_worker", "--batch", "--no-startup-delay", verbosity=0)
    analysis.refresh_from_db()
    assert analysis.status == PhotoAnalysis.Status.DONE
    assert Measurement.objects.filter(visit=visit).exists()


def test_the_progress_page_and_report_say_how_far_image_analysis_counts_can_be_trusted(
    client, analysed, patient
):
    from django.template.loader import render_to_string
    from django.utils import timezone

    from anagen.reports import selectors as report_selectors

    def report():
        return report_selectors.patient_report(
            patient, generated_at=timezone.now(), generated_by="test"
        )

    note = f"Image-analysis counts: {ACCURACY_RECORD.summary()}"
    first = report()
    assert first.imaging_notes[0] == note
    html = render_to_string("reports/patient_progress.html", report_selectors.report_context(first))
    assert f"by {ACCURACY_RECORD.count_mae_pct:g} % on average" in html
    assert "<br>image analysis</span>" in html  # the visit's column says where it came from
    page = client.get(f"/outcomes/patients/{patient.pk}/").content.decode()
    assert "· image analysis" in page and 'data-testid="imaging-note"' in page
    assert f"by {ACCURACY_RECORD.count_mae_pct:g} % on average" in page
    # Once the image-analysis measurement is voided, no count in the report comes from it.
    Measurement.objects.filter(pk=analysed.measurement_id).update(voided_at=timezone.now())
    assert report().imaging_notes == []
    page = client.get(f"/outcomes/patients/{patient.pk}/").content.decode()
    assert 'data-testid="imaging-note"' not in page


def test_an_analysis_whose_task_was_lost_is_shown_as_stalled_and_can_be_requested_again(
    client, nurse, patient, visit, calibrated, png_bytes, api_token, clinic_a,
    django_capture_on_commit_callbacks,
):  # fmt: skip
    client.force_login(nurse)
    a = upload(
        client, patient, visit, png_bytes[0], django_capture_on_commit_callbacks, run_task=False
    )
    page_url = f"/monitoring/{patient.pk}/visits/{visit.pk}/"
    analyse_url = f"/imaging/{patient.pk}/photos/{a.photo_id}/analyse/"
    # Just requested: the panel polls and offers nothing to do yet.
    page = client.get(page_url).content.decode()
    assert a.status == "queued" and 'hx-trigger="every 2s"' in page
    assert 'data-testid="analysis-stalled"' not in page and analyse_url not in page
    # Eleven minutes later it is still queued: the task was lost.
    PhotoAnalysis.objects.filter(pk=a.pk).update(
        requested_at=a.requested_at - timedelta(minutes=11)
    )
    page = client.get(page_url).content.decode()
    assert 'data-testid="analysis-stalled"' in page and "worker has probably stopped" in page
    assert 'hx-trigger="every 2s"' not in page  # no polling that would wipe the form
    assert analyse_url in page
    h = {"Authorization": f"Bearer {api_token(nurse, clinic_a)}"}
    body = client.get(f"/api/v1/imaging/patients/{patient.pk}/analyses/{a.pk}", headers=h).json()
    assert body["status"] == "queued" and body["stalled"] is True
    with django_capture_on_commit_callbacks(execute=True):
        r = client.post(analyse_url, {"um_per_px": ""})
    assert r.status_code == 302
    a.refresh_from_db()
    assert a.status == "done" and not a.is_stalled
    assert Measurement.objects.filter(pk=a.measurement_id, voided_at__isnull=True).exists()


def test_an_analysis_already_taken_by_a_worker_is_not_run_a_second_time(
    client, nurse, patient, visit, calibrated, png_bytes, monkeypatch,
    django_capture_on_commit_callbacks,
):  # fmt: skip
    client.force_login(nurse)
    a = upload(
        client, patient, visit, png_bytes[0], django_capture_on_commit_callbacks, run_task=False
    )
    real = services.analyze
    runs = []
    second = []

    def analyze_while_delivered_again(image, um_per_px, **kw):
        # The same task is delivered to a second worker while this one is busy.
        runs.append(1)
        if len(runs) == 1:
            second.append(services.run_analysis(a.pk))
        return real(image, um_per_px, **kw)

    monkeypatch.setattr(services, "analyze", analyze_while_delivered_again)
    services.run_analysis(a.pk)
    # The second worker found it running and left it: the engine ran once, one measurement.
    assert len(runs) == 1
    assert second[0].status == "running"
    a.refresh_from_db()
    assert a.status == "done"
    assert Measurement.objects.filter(visit=visit).count() == 1
    assert a.history.filter(history_change_reason="analysis started").count() == 1


def test_a_result_of_a_request_superseded_while_it_ran_is_discarded(
    client, nurse, patient, visit, calibrated, png_bytes, monkeypatch,
    django_capture_on_commit_callbacks,
):  # fmt: skip
    client.force_login(nurse)
    a = upload(
        client, patient, visit, png_bytes[0], django_capture_on_commit_callbacks, run_task=False
    )
    real = services.analyze

    def analyze_while_rerequested(image, um_per_px, **kw):
        # The nurse requests it again, with another scale, while this run is busy.
        with django_capture_on_commit_callbacks(execute=False):
            services.request_analysis(a.photo, nurse, um_per_px=5.5)
        return real(image, um_per_px, **kw)

    monkeypatch.setattr(services, "analyze", analyze_while_rerequested)
    services.run_analysis(a.pk)
    a.refresh_from_db()
    # The stale run (5 µm/px) stored nothing; the newer request waits for its own task.
    assert a.status == "queued" and a.um_per_px == 5.5 and a.result is None
    assert not Measurement.objects.filter(visit=visit).exists()
    monkeypatch.setattr(services, "analyze", real)
    services.run_analysis(a.pk)
    a.refresh_from_db()
    assert a.status == "done" and a.result["um_per_px"] == 5.5
    assert Measurement.objects.filter(visit=visit, voided_at__isnull=True).count() == 1


def test_a_change_between_two_image_analyses_smaller_than_their_noise_is_marked(
    client, nurse, patient, visit, analysed, retake_png, django_capture_on_commit_callbacks
):
    from django.utils import timezone

    from anagen.reports import selectors as report_selectors
    from anagen.reports.pdf import render_html

    # The same field imaged again a day later: no real change, and the page says it could
    # not have told one from noise anyway.
    later = monitoring_services.record_visit(
        patient, nurse, {"visit_date": date.today().isoformat()}
    )
    second = upload(client, patient, later, retake_png, django_capture_on_commit_callbacks)
    assert second.status == "done"
    page = client.get(f"/outcomes/patients/{patient.pk}/").content.decode()
    # No change at all: every measure with a retest figure is marked, the others not.
    assert set(re.findall(r'data-testid="within-noise" data-measure="(\w+)"', page)) == {
        "hair_count", "density_per_cm2", "mean_diameter_um", "cumulative_thickness_mm_per_cm2",
    }  # fmt: skip
    assert "least significant change" in page
    assert "so it can be measurement noise alone" in page  # the legend of the marks
    lsc = f"{ACCURACY_RECORD.least_significant_change_pct:.0f} %"
    assert f"a change under about {lsc} in the count" in page
    report = report_selectors.patient_report(patient, generated_at=timezone.now(), generated_by="t")
    assert report.has_within_noise
    html = render_html("reports/patient_progress.html", report_selectors.report_context(report))
    assert "so it can be measurement noise alone" in html
    # A count by hand at the later visit alone changes nothing: change is taken within one
    # source, and the baseline has no count by hand, so image analysis is still compared.
    monitoring_services.add_measurement(
        later, nurse, {"target_area_cm2": 0.128, "hair_count": 25, "density_per_cm2": 195.3}
    )
    page = client.get(f"/outcomes/patients/{patient.pk}/").content.decode()
    assert 'data-measure="density_per_cm2">within noise' in page
    # With a count by hand at the baseline too, hand is compared with hand: the engine's noise
    # no longer applies to the count (the diameter, measured by the engine alone, keeps it).
    monitoring_services.add_measurement(
        visit, nurse, {"target_area_cm2": 0.128, "hair_count": 24, "density_per_cm2": 187.5}
    )
    page = client.get(f"/outcomes/patients/{patient.pk}/").content.decode()
    marked = set(re.findall(r'data-testid="within-noise" data-measure="(\w+)"', page))
    assert "hair_count" not in marked and "density_per_cm2" not in marked
    assert "mean_diameter_um" in marked


def test_settings_saved_by_two_people_at_once_update_the_first_rather_than_fail(
    clinic_a, nurse, monkeypatch
):
    """Two first saves at once: the second found no row, then could not insert one. (The
    other request's row is rolled back with the failed try here; in production it is
    committed and the second try updates it.)"""
    from django.db import IntegrityError

    real = services.save_with_history
    calls = []

    def other_request_inserted_first(obj, user, reason, **kw):
        calls.append(obj.pk)
        if len(calls) == 1:
            ImagingSettings.objects.create(clinic=clinic_a, um_per_px=3.0)
            raise IntegrityError("UNIQUE constraint failed: imaging_imagingsettings.clinic_id")
        return real(obj, user, reason, **kw)

    monkeypatch.setattr(services, "save_with_history", other_request_inserted_first)
    saved = services.save_settings(clinic_a, nurse, {"um_per_px": UPP})
    assert len(calls) == 2  # refused once, then saved on the second try
    assert ImagingSettings.objects.get(clinic=clinic_a).um_per_px == UPP == saved.um_per_px


def _second_photo(client, patient, visit, data, captured) -> PhotoAnalysis:
    f = SimpleUploadedFile("crown.png", data, content_type="image/png")
    with captured(execute=True):
        client.post(
            f"/monitoring/{patient.pk}/visits/{visit.pk}/photos/",
            {"kind": "trichoscopy", "view": "", "target_area": "crown", "image": f},
        )
    return PhotoAnalysis.objects.filter(photo__visit=visit).latest("pk")


def test_once_the_visits_measurement_is_voided_another_photos_result_can_take_its_place(
    client, analysed, patient, visit, nurse, other_png, django_capture_on_commit_callbacks
):
    second = _second_photo(client, patient, visit, other_png, django_capture_on_commit_callbacks)
    assert second.measurement_id is None
    page = unescape(client.get(f"/monitoring/{patient.pk}/visits/{visit.pk}/").content.decode())
    assert "Record as the visit's measurement" not in page  # the first photo's still stands
    first = Measurement.objects.get(pk=analysed.measurement_id)
    monitoring_services.void_record(first, nurse, "measured the wrong target area")

    page = unescape(client.get(f"/monitoring/{patient.pk}/visits/{visit.pk}/").content.decode())
    # Neither panel claims a measurement any more, and both offer to record theirs.
    assert "Recorded as this visit's image-analysis measurement" not in page
    assert "another trichoscopy photo" not in page
    assert page.count("Record as the visit's measurement") == 2
    assert "(this result's was voided)" in page

    r = client.post(
        f"/imaging/{patient.pk}/analyses/{second.pk}/record/", headers={"HX-Request": "true"}
    )
    assert r.status_code == 200
    assert "Recorded as this visit's image-analysis measurement" in r.content.decode()
    second.refresh_from_db()
    m = Measurement.objects.get(pk=second.measurement_id)
    assert m.source == Measurement.Source.IMAGING and not m.is_voided
    assert m.hair_count == second.summary_auto["count"]
    assert m.history.first().history_user == nurse
    reason = m.history.first().history_change_reason
    assert reason == "measurement (imaging): chosen as the visit measurement"
    assert second.history.filter(history_change_reason="visit measurement filled").exists()
    # The first photo's result cannot now take the place as well.
    r = client.post(f"/imaging/{patient.pk}/analyses/{analysed.pk}/record/")
    assert r.status_code == 302
    analysed.refresh_from_db()
    assert analysed.measurement_id == first.pk  # still the voided one, nothing new
    assert list(Measurement.objects.filter(visit=visit, voided_at__isnull=True)) == [m]
    page = client.get(r.url).content.decode()
    assert "comes from the analysis of another trichoscopy photo (crown)" in page


def test_a_correction_does_not_bring_back_a_measurement_a_person_voided(analysed, nurse, visit):
    """Voided on the visit, the image measurement came back with the next correction, with
    nobody choosing to record it (review)."""
    from anagen.imaging import services as imaging_services

    first = Measurement.objects.get(pk=analysed.measurement_id)
    monitoring_services.void_record(first, nurse, "wrong field, entered in error")
    hair = imaging_services.final_analysis(analysed).hairs[0].id
    imaging_services.add_edit(analysed, nurse, {"op": "remove", "hair_id": hair})
    analysed.refresh_from_db()
    assert not Measurement.objects.filter(visit=visit, voided_at__isnull=True).exists()
    assert "earlier measurement was voided on the visit" in analysed.error
    assert not imaging_services.records_visit_measurement(analysed)
    assert imaging_services.may_record(analysed)  # recording it again stays a choice
    imaging_services.record_as_visit_measurement(analysed, nurse)
    m = Measurement.objects.get(visit=visit, voided_at__isnull=True)
    assert m.hair_count == imaging_services.final_analysis(analysed).summary.count


def test_recording_an_analysis_is_refused_with_the_reason_and_limited_to_its_clinic_and_role(
    client, analysed, patient, visit, nurse, clinic_a, clinic_b, make_user, api_token
):
    h = {"Authorization": f"Bearer {api_token(nurse, clinic_a)}"}
    url = f"/api/v1/imaging/patients/{patient.pk}/analyses/{analysed.pk}/record"
    detail = client.get(url.removesuffix("/record"), headers=h).json()
    assert detail["records_visit_measurement"] is True and detail["may_record"] is False
    r = client.post(url, {}, content_type=JSON, headers=h)
    assert r.status_code == 400 and "already the visit's measurement" in r.json()["detail"]

    monitoring_services.void_record(analysed.measurement, nurse, "entered against wrong area")
    detail = client.get(url.removesuffix("/record"), headers=h).json()
    assert detail["records_visit_measurement"] is False and detail["may_record"] is True

    front_desk = make_user(Role.FRONT_DESK, clinic_a)
    other = make_user(Role.NURSE, clinic_b)

    def post_as(user, clinic):
        auth = {"Authorization": f"Bearer {api_token(user, clinic)}"}
        return client.post(url, {}, content_type=JSON, headers=auth).status_code

    assert post_as(front_desk, clinic_a) == 403
    assert post_as(other, clinic_b) == 404
    client.force_login(other)
    assert client.post(f"/imaging/{patient.pk}/analyses/{analysed.pk}/record/").status_code == 404
    assert not Measurement.objects.filter(visit=visit, voided_at__isnull=True).exists()

    r = client.post(url, {}, content_type=JSON, headers=h)
    assert r.status_code == 200, r.content
    assert r.json()["records_visit_measurement"] is True
    assert Measurement.objects.filter(visit=visit, voided_at__isnull=True).count() == 1


def test_an_unreadable_stored_image_fails_without_showing_the_servers_paths(
    client, analysed, patient, visit
):
    name = analysed.photo.image.name
    analysed.photo.image.storage.delete(name)
    # Before anything is re-run, the page says the file is gone instead of a broken image.
    page = client.get(f"/monitoring/{patient.pk}/visits/{visit.pk}/").content.decode()
    assert "The stored image file is missing on the server" in page
    assert 'data-testid="analysis-overlay"' not in page
    services.request_analysis(analysed.photo, analysed.requested_by)
    a = services.run_analysis(analysed.pk)
    assert a.status == "failed" and a.error == services.IMAGE_UNREADABLE
    page = client.get(f"/monitoring/{patient.pk}/visits/{visit.pk}/").content.decode()
    assert "could not be read" in page and name not in page and "Errno" not in page


def test_the_overlay_of_a_stored_file_gone_or_damaged_says_which(client, analysed, patient):
    url = f"/imaging/{patient.pk}/analyses/{analysed.pk}/overlay.png"
    assert client.get(url)["Content-Type"] == "image/png"
    storage, name = analysed.photo.image.storage, analysed.photo.image.name
    with storage.open(name, "wb") as fh:
        fh.write(b"not an image any more")
    damaged = client.get(url)
    assert damaged.status_code == 404
    assert damaged.content.decode().startswith("The stored image file cannot be read as an image")
    storage.delete(name)
    gone = client.get(url)
    assert gone.status_code == 404 and gone.content.decode() == "The image file is missing."


def test_saving_the_clinic_calibration_analyses_the_photos_that_waited_for_it(
    client,
    nurse,
    patient,
    visit,
    png_bytes,
    clinic_a,
    make_user,
    django_capture_on_commit_callbacks,
):
    client.force_login(nurse)
    a = upload(client, patient, visit, png_bytes[0], django_capture_on_commit_callbacks)
    assert a.status == "needs_calibration"
    page = client.get(f"/monitoring/{patient.pk}/visits/{visit.pk}/").content.decode()
    assert "Set the clinic's calibration" not in page  # a nurse cannot set it
    clinician = make_user(Role.CLINICIAN, clinic_a)
    client.force_login(clinician)
    page = client.get(f"/monitoring/{patient.pk}/visits/{visit.pk}/").content.decode()
    assert 'href="/imaging/settings/">Set the clinic\'s calibration</a>' in page
    # A decimal comma from a comma-decimal tablet is read as a decimal point.
    with django_capture_on_commit_callbacks(execute=True):
        r = client.post(
            "/imaging/settings/", {"um_per_px": "5,0", "terminal_cutoff_um": "40"}, follow=True
        )
    assert "1 photo that waited for it is being analysed." in r.content.decode()
    assert ImagingSettings.objects.get(clinic=clinic_a).um_per_px == 5.0
    a.refresh_from_db()
    assert a.status == "done" and a.calibration_source == "clinic"
    assert a.measurement_id is not None
    # Saved again: nothing waits any more.
    r = client.post(
        "/imaging/settings/", {"um_per_px": "5", "terminal_cutoff_um": "40"}, follow=True
    )
    assert "waited for it" not in r.content.decode()


def test_settings_errors_stand_under_their_fields_and_the_summary_links_them(
    client, clinic_a, make_user
):
    client.force_login(make_user(Role.ADMIN, clinic_a))
    r = client.post("/imaging/settings/", {"um_per_px": "abc", "terminal_cutoff_um": "4"})
    page = r.content.decode()
    assert r.status_code == 400
    assert settings_error(r, "um_per_px") == "Enter a number."
    assert settings_error(r, "terminal_cutoff_um").startswith("Enter a value between")
    assert '<a href="#id_um_per_px">Image scale (µm per pixel)</a>' in page
    assert '<a href="#id_terminal_cutoff_um">Terminal/vellus cut-off (µm)</a>' in page
    assert 'value="abc"' in page  # the refused text stays in its box
    assert "um_per_px:" not in page and "terminal_cutoff_um:" not in page


class TestTwoAdministratorsCalibrating:
    """The calibration page saves what this person changed: a scale saved meanwhile by
    another administrator is not put back by a page opened before it (densities would be
    computed with the old scale, silently)."""

    URL = "/imaging/settings/"

    @pytest.fixture
    def opened(self, client, clinic_a, make_user):
        from ..html import post_form_data

        admin = make_user(Role.ADMIN, clinic_a)
        services.save_settings(clinic_a, admin, {"um_per_px": "4.2", "terminal_cutoff_um": "40"})
        client.force_login(admin)
        form = post_form_data(client.get(self.URL).content.decode(), self.URL)
        assert form["opened-um_per_px"] == ['"4.2"']
        return admin, form

    def test_a_scale_saved_meanwhile_is_kept_when_another_field_changes(
        self, client, clinic_a, opened
    ):
        admin, form = opened
        services.save_settings(clinic_a, admin, {"um_per_px": "5.1", "terminal_cutoff_um": "40"})
        r = client.post(self.URL, {**form, "calibration_note": ["Dino-Lite 50x, 2026-12-05"]})
        assert r.status_code == 302
        cfg = ImagingSettings.objects.get(clinic=clinic_a)
        assert (cfg.um_per_px, cfg.calibration_note) == (5.1, "Dino-Lite 50x, 2026-12-05")

    def test_a_scale_both_changed_is_refused_naming_the_stored_one(self, client, clinic_a, opened):
        admin, form = opened
        services.save_settings(clinic_a, admin, {"um_per_px": "5.1", "terminal_cutoff_um": "40"})
        r = client.post(self.URL, {**form, "um_per_px": ["3.9"]})
        assert r.status_code == 400
        assert "Changed by someone else since you opened this page (now: “5.1”)" in (
            settings_error(r, "um_per_px")
        )
        assert ImagingSettings.objects.get(clinic=clinic_a).um_per_px == 5.1

    def test_an_unchanged_save_says_so_and_records_nothing(self, client, clinic_a, opened):
        _, form = opened
        rows = ImagingSettings.objects.get(clinic=clinic_a).history.count()
        r = client.post(self.URL, form, follow=True)
        assert "Nothing changed." in r.content.decode()
        assert ImagingSettings.objects.get(clinic=clinic_a).history.count() == rows


def test_a_refused_scale_or_hair_number_stays_in_its_box(client, analysed, patient):
    r = client.post(
        f"/imaging/{patient.pk}/photos/{analysed.photo_id}/analyse/",
        {"um_per_px": "900"},
        headers={"HX-Request": "true"},
    )
    form = re.search(r'<form class="imaging-calibrate".*?</form>', r.content.decode(), re.S)[0]
    assert 'value="900"' in form and "between 0.5 and 30" in form
    r = _correct(client, patient, analysed, op="split", hair_id="99999", n="2")
    assert 'value="99999"' in _form_of(r.content.decode(), "split")
    r = _correct(client, patient, analysed, op="set_diameter", hair_id="99999", diameter_um="41")
    form = _form_of(r.content.decode(), "set_diameter")
    assert 'value="99999"' in form and 'value="41"' in form
    r = _correct(client, patient, analysed, op="rotate", hair_id="1")
    assert "set_diameter, undo." in r.content.decode()


def test_a_photo_of_another_size_than_the_calibration_waits_for_its_own_scale(
    client,
    nurse,
    patient,
    visit,
    clinic_a,
    png_bytes,
    other_png,
    django_capture_on_commit_callbacks,
):
    # Calibrated on the dermatoscope's 1600 px images; this photo is an 800 px export.
    services.save_settings(clinic_a, nurse, {"um_per_px": "5", "image_long_side_px": "1600"})
    client.force_login(nurse)
    a = upload(client, patient, visit, png_bytes[0], django_capture_on_commit_callbacks)
    assert a.status == "needs_calibration" and a.result is None and a.um_per_px is None
    assert "This image's longer side is 800 px" in a.error and "longer side is 1600 px" in a.error
    assert "10 µm/px if it is the whole field resized" in a.error
    assert "5 µm/px if it is a crop" in a.error
    assert not Measurement.objects.filter(visit=visit).exists()
    page = client.get(f"/monitoring/{patient.pk}/visits/{visit.pk}/").content.decode()
    assert "This image&#x27;s longer side is 800 px" in page
    # A scale entered for the image is used as it is.
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/imaging/{patient.pk}/photos/{a.photo_id}/analyse/", {"um_per_px": "5"})
    a.refresh_from_db()
    assert a.status == "done" and a.calibration_source == "entered"
    # Analysed again without a scale: the clinic's does not hold, the entered one is kept.
    with django_capture_on_commit_callbacks(execute=True):
        services.request_analysis(a.photo, nurse, None)
    a.refresh_from_db()
    assert a.status == "done" and a.calibration_source == "entered" and a.um_per_px == 5
    # A second photo waits; a calibration that does not hold for it leaves it waiting (its
    # message now of that calibration), one of its size analyses it.
    b = _second_photo(client, patient, visit, other_png, django_capture_on_commit_callbacks)
    assert b.status == "needs_calibration"
    services.save_settings(clinic_a, nurse, {"um_per_px": "5", "image_long_side_px": "1200"})
    assert services.analyse_waiting_photos(clinic_a, nurse) == 0
    b.refresh_from_db()
    assert b.status == "needs_calibration" and "longer side is 1200 px" in b.error
    services.save_settings(clinic_a, nurse, {"um_per_px": "5", "image_long_side_px": "800"})
    with django_capture_on_commit_callbacks(execute=True):
        assert services.analyse_waiting_photos(clinic_a, nurse) == 1
    b.refresh_from_db()
    assert b.status == "done" and b.calibration_source == "clinic" and b.um_per_px == 5


def test_a_portrait_shot_of_the_calibrated_camera_uses_the_clinic_scale(
    client, nurse, patient, visit, clinic_a, png_bytes, django_capture_on_commit_callbacks
):
    services.save_settings(clinic_a, nurse, {"um_per_px": "5", "image_long_side_px": "800"})
    portrait = io.BytesIO()  # the 800 × 640 field turned: 640 × 800
    Image.open(io.BytesIO(png_bytes[0])).transpose(Image.Transpose.ROTATE_90).save(
        portrait, format="PNG"
    )
    client.force_login(nurse)
    a = upload(client, patient, visit, portrait.getvalue(), django_capture_on_commit_callbacks)
    assert (a.photo.width_px, a.photo.height_px) == (640, 800)
    assert a.status == "done" and a.calibration_source == "clinic" and a.um_per_px == 5


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"um_per_px": "5", "image_long_side_px": "1600.5"}, "whole number of pixels"),
        ({"um_per_px": "5", "image_long_side_px": "50"}, "between 128 and 8000 px"),
        ({"um_per_px": "", "image_long_side_px": "1600"}, "Give the scale measured on images"),
        ({"um_per_px": "5", "image_long_side_px": "wide"}, "Enter a number"),
    ],
)
def test_a_bad_calibration_width_is_refused_and_changes_nothing(clinic_a, nurse, data, message):
    services.save_settings(clinic_a, nurse, {"um_per_px": "4", "image_long_side_px": "1000"})
    with pytest.raises(services.ImagingError) as refused:
        services.save_settings(clinic_a, nurse, data)
    assert message in str(refused.value)
    cfg = ImagingSettings.objects.get(clinic=clinic_a)
    assert (cfg.um_per_px, cfg.image_long_side_px) == (4, 1000)


def test_an_uploaded_jpeg_is_analysed_as_the_camera_wrote_it(
    client, nurse, patient, visit, calibrated, django_capture_on_commit_callbacks
):
    from anagen.imaging.engine import analyze, load_image

    img, _ = synth.generate(PARAMS, 12)
    out = io.BytesIO()
    Image.fromarray(img).save(out, format="JPEG", quality=88)
    camera = out.getvalue()
    client.force_login(nurse)
    a = upload(client, patient, visit, camera, django_capture_on_commit_callbacks)
    with a.photo.image.open("rb") as fh:
        stored = fh.read()
    assert np.array_equal(load_image(stored), load_image(camera))
    # The page's figures are those of `anagen image analyze` on the camera's file.
    assert a.summary_auto == analyze(load_image(camera), UPP).summary.to_dict()


def test_the_same_added_hair_sent_twice_is_added_once(client, analysed, patient):
    add = {"op": "add", "x1": "100", "y1": "120", "x2": "160", "y2": "200", "diameter_um": "60"}
    url = f"/imaging/{patient.pk}/analyses/{analysed.pk}/correct/"
    assert client.post(url, add).status_code == 302  # the form without JavaScript
    again = client.post(url, add)  # resubmitted (back button, reload, retry)
    assert again.status_code == 400
    assert "Base and tip (px): this hair was added already (hair no." in again.content.decode()
    corr = AnalysisCorrection.objects.get(analysis=analysed)
    assert [e["op"] for e in corr.edits] == ["add"]
    # One pixel off is the same hair; another tip is another hair.
    assert client.post(url, add | {"x1": "101"}).status_code == 400
    assert client.post(url, add | {"x2": "190"}).status_code == 302
    # Once the first is removed, the same line may be added again.
    added = max(services.final_analysis(analysed).hairs, key=lambda h: h.id).id - 1
    assert client.post(url, {"op": "remove", "hair_id": str(added)}).status_code == 302
    assert client.post(url, add).status_code == 302
    corr.refresh_from_db()
    assert [e["op"] for e in corr.edits] == ["add", "add", "remove", "add"]


def test_a_voided_photos_analysis_is_never_recorded_again(
    client, analysed, patient, visit, nurse, clinic_a, api_token
):
    monitoring_services.void_record(analysed.photo, nurse, "the wrong patient's scalp")
    analysed.refresh_from_db()
    assert Measurement.objects.get(pk=analysed.measurement_id).is_voided
    h = {"Authorization": f"Bearer {api_token(nurse, clinic_a)}"}
    url = f"/api/v1/imaging/patients/{patient.pk}/analyses/{analysed.pk}"
    assert client.get(url, headers=h).json()["may_record"] is False
    r = client.post(f"{url}/record", {}, content_type=JSON, headers=h)
    assert r.status_code == 400 and "voided" in r.json()["detail"]
    assert not Measurement.objects.filter(visit=visit, voided_at__isnull=True).exists()


@pytest.fixture(scope="module")
def blurred_png() -> bytes:
    """The field of ``png_bytes`` out of focus: hairs are found, but flagged out_of_focus (a
    blurred clinical image was recorded at 59.7 hairs/cm² for about 103, 143 µm diameter)."""
    img, _ = synth.generate(dataclasses.replace(PARAMS, blur_px=4.0), 11)
    out = io.BytesIO()
    Image.fromarray(img).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture(scope="module")
def noise_jpeg() -> bytes:
    """Random noise: no hairs and no quality flag (it was recorded as 0 hairs/cm²)."""
    pixels = np.random.default_rng(0).integers(0, 256, (640, 800, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="JPEG", quality=90)
    return out.getvalue()


def test_a_flagged_image_with_hairs_waits_for_a_clinician_to_record_it(
    client, nurse, patient, visit, calibrated, blurred_png, clinic_a, make_user,
    django_capture_on_commit_callbacks,
):  # fmt: skip
    client.force_login(nurse)
    a = upload(client, patient, visit, blurred_png, django_capture_on_commit_callbacks)
    assert a.status == "done" and a.summary_auto["count"] > 0
    assert "out_of_focus" in a.quality_flags
    assert a.measurement_id is None
    assert not Measurement.objects.filter(visit=visit).exists()
    says = (
        "The image is flagged out of focus: not recorded as the visit's measurement automatically"
    )
    assert says in a.error
    page = unescape(client.get(f"/imaging/{patient.pk}/analyses/{a.pk}/").content.decode())
    assert says in page and "Record as the visit's measurement</button>" in page
    # A correction alone does not record it.
    hair = _counted_hairs(a, 1)[0]
    assert _correct(client, patient, a, op="remove", hair_id=str(hair)).status_code == 200
    a.refresh_from_db()
    assert a.measurement_id is None and says in a.error
    # Who may not correct may not record either; the button is not offered to them.
    front_desk = make_user(Role.FRONT_DESK, clinic_a)
    client.force_login(front_desk)
    page = unescape(client.get(f"/imaging/{patient.pk}/analyses/{a.pk}/").content.decode())
    assert says in page and "Record as the visit" not in page
    assert client.post(f"/imaging/{patient.pk}/analyses/{a.pk}/record/").status_code == 403
    client.force_login(nurse)
    r = client.post(
        f"/imaging/{patient.pk}/analyses/{a.pk}/record/", headers={"HX-Request": "true"}
    )
    assert r.status_code == 200
    assert "Recorded as this visit's image-analysis measurement" in r.content.decode()
    a.refresh_from_db()
    m = Measurement.objects.get(pk=a.measurement_id)
    assert m.hair_count == services.final_analysis(a).summary.count  # the corrected figures
    assert (m.history.first().history_user, m.history.first().history_change_reason) == (
        nurse,
        "measurement (imaging): chosen as the visit measurement after review by a clinician "
        "(the image is flagged out of focus)",
    )
    # Once recorded, a further correction revises that measurement as for any result.
    assert _correct(client, patient, a, op="undo").status_code == 200
    m.refresh_from_db()
    assert not m.is_voided and m.hair_count == a.summary_auto["count"]


def test_no_hairs_found_is_recorded_only_when_a_person_confirms_it_by_the_api(
    client, analysed, patient, visit, nurse, clinic_a, make_user, api_token, noise_jpeg,
    django_capture_on_commit_callbacks,
):  # fmt: skip
    first = Measurement.objects.get(pk=analysed.measurement_id)
    f = SimpleUploadedFile("noise.jpg", noise_jpeg, content_type="image/jpeg")
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            f"/monitoring/{patient.pk}/visits/{visit.pk}/photos/",
            {"kind": "trichoscopy", "view": "", "target_area": "crown", "image": f},
        )
    a = PhotoAnalysis.objects.filter(photo__visit=visit).latest("pk")
    assert a.status == "done" and a.summary_auto["count"] == 0
    assert not set(a.quality_flags) & services.FLAGS_NEEDING_CONFIRMATION
    assert a.measurement_id is None
    assert a.error.startswith(
        "No hairs found: not recorded as the visit's measurement automatically (a bald field"
    )
    # Held back, and another photo measures the visit: both reasons, and no recording.
    assert "comes from the analysis of another trichoscopy photo" in a.error
    h = {"Authorization": f"Bearer {api_token(nurse, clinic_a)}"}
    url = f"/api/v1/imaging/patients/{patient.pk}/analyses/{a.pk}"
    body = client.get(url, headers=h).json()
    assert body["needs_confirmation"].startswith("No hairs found") and not body["may_record"]
    r = client.post(f"{url}/record", {}, content_type=JSON, headers=h)
    assert r.status_code == 400 and "another trichoscopy photo" in r.json()["detail"]

    monitoring_services.void_record(first, nurse, "measured the wrong target area")
    body = client.get(url, headers=h).json()
    assert body["may_record"] is True and body["records_visit_measurement"] is False
    desk = {"Authorization": f"Bearer {api_token(make_user(Role.FRONT_DESK, clinic_a), clinic_a)}"}
    assert client.post(f"{url}/record", {}, content_type=JSON, headers=desk).status_code == 403
    r = client.post(f"{url}/record", {}, content_type=JSON, headers=h)
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["records_visit_measurement"] is True and body["needs_confirmation"] == ""
    m = Measurement.objects.get(pk=body["measurement_id"])
    assert (m.hair_count, m.density_per_cm2) == (0, 0.0)
    assert "after review by a clinician (no hairs found)" in m.history.first().history_change_reason


def test_a_waiting_photos_message_follows_the_clinics_calibration(
    client, nurse, patient, visit, clinic_a, make_user, png_bytes,
    django_capture_on_commit_callbacks,
):  # fmt: skip
    """No calibration, then one of another image size, then none again: the photo's message
    says each time what holds now (it kept "No calibration… Set the clinic's calibration")."""
    client.force_login(nurse)
    a = upload(client, patient, visit, png_bytes[0], django_capture_on_commit_callbacks)
    assert a.status == "needs_calibration" and a.error.startswith("No calibration")
    client.force_login(make_user(Role.ADMIN, clinic_a))
    with django_capture_on_commit_callbacks(execute=True):
        r = client.post(
            "/imaging/settings/",
            {"um_per_px": "5", "image_long_side_px": "1600", "terminal_cutoff_um": "40"},
            follow=True,
        )
    assert "waited for it" not in r.content.decode()
    a.refresh_from_db()
    assert a.status == "needs_calibration" and a.result is None
    assert a.error.startswith("This image's longer side is 800 px") and "10 µm/px" in a.error
    page = unescape(client.get(f"/monitoring/{patient.pk}/visits/{visit.pk}/").content.decode())
    assert "This image's longer side is 800 px" in page and "No calibration" not in page
    assert a.history.first().history_change_reason == (
        "clinic calibration changed: still waits for a scale"
    )
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            "/imaging/settings/",
            {"um_per_px": "", "image_long_side_px": "", "terminal_cutoff_um": "40"},
        )
    a.refresh_from_db()
    assert a.status == "needs_calibration" and a.error.startswith("No calibration")


def test_an_unexpected_failure_is_shown_without_the_exception_name(
    client, analysed, patient, monkeypatch
):
    def broken(*args, **kwargs):
        raise RuntimeError("index 7 is out of bounds for axis 0")

    monkeypatch.setattr(services, "analyze", broken)
    services.request_analysis(analysed.photo, analysed.requested_by)
    a = services.run_analysis(analysed.pk)
    assert a.status == "failed"
    assert a.error == services.INTERNAL_ERROR.format(what="analysis")
    page = client.get(f"/imaging/{patient.pk}/analyses/{a.pk}/").content.decode()
    assert "stopped on an unexpected error" in page
    assert "RuntimeError" not in page and "out of bounds" not in page


def _scale_box(client, patient, analysis) -> str:
    page = client.get(f"/imaging/{patient.pk}/analyses/{analysis.pk}/").content.decode()
    form = page[page.index('class="imaging-calibrate"') :]
    return re.search(r'name="um_per_px"[^>]*value="([^"]*)"', form)[1]


def test_the_re_analyse_box_is_filled_only_with_a_scale_entered_for_the_image(
    client, analysed, patient, nurse, django_capture_on_commit_callbacks
):
    """An analysis with the clinic's calibration leaves the box empty ("Empty: the clinic's
    calibration"); it showed 5.0, and sending it back made the scale "entered"."""
    assert analysed.calibration_source == "clinic"
    assert _scale_box(client, patient, analysed) == ""
    with django_capture_on_commit_callbacks(execute=True):
        r = client.post(
            f"/imaging/{patient.pk}/photos/{analysed.photo_id}/analyse/", {"um_per_px": ""}
        )
    assert r.status_code == 302
    analysed.refresh_from_db()
    assert analysed.calibration_source == "clinic"
    with django_capture_on_commit_callbacks(execute=True):
        services.request_analysis(analysed.photo, nurse, "4.5")
    analysed.refresh_from_db()
    assert analysed.calibration_source == "entered"
    assert _scale_box(client, patient, analysed) == "4.5"


def test_a_fully_transparent_png_is_analysed_as_the_white_field_it_shows(
    client, nurse, patient, visit, calibrated, png_bytes, django_capture_on_commit_callbacks
):
    """Its hidden colour channels hold a field of hairs: they were counted while the page
    showed a blank image. Shown and analysed alike (white), it gives no hairs, not recorded."""
    img = np.asarray(Image.open(io.BytesIO(png_bytes[0])).convert("RGB"))
    out = io.BytesIO()
    Image.fromarray(np.dstack([img, np.zeros(img.shape[:2], np.uint8)]), "RGBA").save(
        out, format="PNG"
    )
    client.force_login(nurse)
    a = upload(client, patient, visit, out.getvalue(), django_capture_on_commit_callbacks)
    with a.photo.image.open("rb") as fh, Image.open(fh) as stored:
        assert stored.mode == "RGB" and (np.asarray(stored) == 255).all()
    assert a.status == "done" and a.summary_auto["count"] == 0
    assert a.measurement_id is None and a.error.startswith("No hairs found")


def test_hairs_found_but_none_counted_is_said_so_not_no_hairs_found():
    """ "No hairs found" stood above an overlay of 41 numbered hairs, all with their bases
    outside the field (review)."""
    from anagen.imaging.models import PhotoAnalysis

    analysis = PhotoAnalysis(
        status="done",
        result={"summary": {"count": 0}, "hairs": [{"id": 1}, {"id": 2}]},
    )
    text = services.needs_confirmation(analysis)
    assert text.startswith(
        "No hair counted: the 2 hairs found have their bases outside the field or at the image "
        "edge: not recorded as the visit's measurement automatically."
    )
    assert "a clinician or nurse may record it" in text


def _basis(client, patient, analysis) -> str:
    """The ``basis`` the correction forms of the analysis panel carry as shown now."""
    page = client.get(f"/imaging/{patient.pk}/analyses/{analysis.pk}/").content.decode()
    (basis,) = set(re.findall(r'name="basis" value="([^"]+)"', page))
    return basis


def test_an_undo_sent_twice_undoes_one_correction(client, analysed, patient):
    """A double click on "Undo the last correction" (or a resent form) undid two corrections:
    the second press refers to the state the page showed, which the first one changed."""
    first, second = _counted_hairs(analysed, 2)
    _correct(
        client,
        patient,
        analysed,
        op="remove",
        hair_id=first,
        basis=_basis(client, patient, analysed),
    )
    _correct(
        client,
        patient,
        analysed,
        op="remove",
        hair_id=second,
        basis=_basis(client, patient, analysed),
    )
    shown = _basis(client, patient, analysed)
    r1 = _correct(client, patient, analysed, op="undo", basis=shown)
    r2 = _correct(client, patient, analysed, op="undo", basis=shown)
    assert r1.status_code == 200 and r2.status_code == 200
    analysed.refresh_from_db()
    assert [e["hair_id"] for e in analysed.edits] == [first]
    assert "changed since this page was shown" in unescape(r2.content.decode())
    assert "nothing was changed" in unescape(r2.content.decode())


def test_a_correction_made_on_the_result_before_a_re_analysis_is_refused(
    client, analysed, patient, nurse, django_capture_on_commit_callbacks
):
    """Hair numbers belong to one result: a correction sent from a page showing the result
    before a re-analysis (by someone else, in another tab) was applied to the new result,
    whose hair of that number is another hair."""
    shown = _basis(client, patient, analysed)
    hair = _counted_hairs(analysed, 1)[0]
    with django_capture_on_commit_callbacks(execute=True):
        services.request_analysis(analysed.photo, nurse, 4.0)
    analysed.refresh_from_db()
    assert analysed.status == "done"
    r = _correct(client, patient, analysed, op="remove", hair_id=hair, basis=shown)
    assert r.status_code == 200
    assert "re-analysed" in unescape(r.content.decode())
    analysed.refresh_from_db()
    assert analysed.edits == []
    # The panel that came back carries the new result's basis: the correction goes through.
    r = _correct(
        client,
        patient,
        analysed,
        op="remove",
        hair_id=hair,
        basis=_basis(client, patient, analysed),
    )
    analysed.refresh_from_db()
    assert [e["hair_id"] for e in analysed.edits] == [hair]


def test_the_api_refuses_a_correction_based_on_another_state_naming_basis(
    client, analysed, patient, api_token, nurse, clinic_a
):
    h = {"Authorization": f"Bearer {api_token(nurse, clinic_a)}"}
    url = f"/api/v1/imaging/patients/{patient.pk}/analyses/{analysed.pk}"
    basis = client.get(url, headers=h).json()["basis"]
    hair = _counted_hairs(analysed, 1)[0]
    r = client.post(
        f"{url}/corrections", {"op": "remove", "hair_id": hair, "basis": basis},
        content_type=JSON, headers=h,
    )  # fmt: skip
    assert r.status_code == 200, r.content
    assert r.json()["basis"] != basis
    r = client.post(
        f"{url}/corrections", {"op": "undo", "basis": basis}, content_type=JSON, headers=h
    )
    assert r.status_code == 409 and r.json()["detail"].startswith("basis: ")
    analysed.refresh_from_db()
    assert len(analysed.edits) == 1
    # Without a basis the API keeps its earlier meaning: applied to the current state.
    r = client.post(f"{url}/corrections", {"op": "undo"}, content_type=JSON, headers=h)
    assert r.status_code == 200 and r.json()["edits"] == []


@pytest.mark.parametrize("n", ["2.5", "3,5", "2.0001"])
def test_a_split_into_a_fraction_of_hairs_is_refused_not_rounded_down(n):
    """The form's "into" box took 2.5 and split the hair into 2 without a word."""
    with pytest.raises(services.ImagingError) as refused:
        services.add_edit(
            PhotoAnalysis(status=PhotoAnalysis.Status.DONE, result={}),
            None,
            {"op": "split", "hair_id": "4", "n": n},
        )
    assert refused.value.errors == {"n": ["Enter a whole number of hairs (2, 3 or 4)."]}


def test_record_is_refused_when_the_result_changed_since_it_was_reviewed(
    client, analysed, patient, nurse, visit, api_token, clinic_a
):
    """ "Record as the visit's measurement" confirms the figures the clinician looked at: one
    pressed on a page opened before another correction recorded figures nobody reviewed."""
    monitoring_services.void_record(analysed.measurement, nurse, "entered against wrong area")
    reviewed = _basis(client, patient, analysed)
    page = client.get(f"/imaging/{patient.pk}/analyses/{analysed.pk}/").content.decode()
    assert "Record as the visit" in page
    services.add_edit(analysed, nurse, {"op": "remove", "hair_id": _counted_hairs(analysed, 1)[0]})
    url = f"/imaging/{patient.pk}/analyses/{analysed.pk}/record/"
    r = client.post(url, {"basis": reviewed}, headers={"HX-Request": "true"})
    assert "it has 1 correction now" in unescape(r.content.decode())
    assert not Measurement.objects.filter(visit=visit, voided_at__isnull=True).exists()
    h = {"Authorization": f"Bearer {api_token(nurse, clinic_a)}"}
    api = f"/api/v1/imaging/patients/{patient.pk}/analyses/{analysed.pk}/record"
    r = client.post(f"{api}?basis={reviewed}", {}, content_type=JSON, headers=h)
    assert r.status_code == 409 and r.json()["detail"].startswith("basis: ")
    r = client.post(url, {"basis": _basis(client, patient, analysed)})
    assert r.status_code == 302
    m = Measurement.objects.get(visit=visit, voided_at__isnull=True)
    assert m.hair_count == analysed.summary_auto["count"] - 1


def test_a_re_analysis_does_not_discard_corrections_made_after_the_page_was_opened(
    client, analysed, patient, nurse, api_token, clinic_a
):
    """ "Discard the 1 correction" ticked on a page opened before a colleague added more
    discarded theirs too, unseen."""
    first, second = _counted_hairs(analysed, 2)
    services.add_edit(analysed, nurse, {"op": "remove", "hair_id": first})
    shown = _basis(client, patient, analysed)
    services.add_edit(analysed, nurse, {"op": "remove", "hair_id": second})
    url = f"/imaging/{patient.pk}/photos/{analysed.photo_id}/analyse/"
    r = client.post(
        url, {"um_per_px": "4", "discard_corrections": "1", "basis": shown},
        headers={"HX-Request": "true"},
    )  # fmt: skip
    assert "it has 2 corrections now" in unescape(r.content.decode())
    analysed.refresh_from_db()
    assert len(analysed.edits) == 2 and analysed.um_per_px == UPP
    h = {"Authorization": f"Bearer {api_token(nurse, clinic_a)}"}
    r = client.post(
        f"/api/v1/imaging/patients/{patient.pk}/photos/{analysed.photo_id}/analyse",
        {"um_per_px": 4.0, "discard_corrections": True, "basis": shown},
        content_type=JSON, headers=h,
    )  # fmt: skip
    assert r.status_code == 409 and "basis" in r.json()["detail"]
    analysed.refresh_from_db()
    assert len(analysed.edits) == 2 and analysed.um_per_px == UPP


@pytest.mark.parametrize("voided", ["photo", "visit", "patient record"])
def test_a_voided_photo_visit_or_patients_analysis_offers_no_tool_and_says_why(
    client, analysed, patient, visit, nurse, voided
):
    """The correction tool and Re-analyse stayed on the panel of a voided visit, and every
    press was refused after the fact ("this photo or its visit is voided")."""
    target = {"photo": analysed.photo, "visit": visit, "patient record": patient}[voided]
    if voided == "patient record":
        from anagen.patients import services as patient_services

        patient_services.void_patient(patient, nurse, "entered in error")
    else:
        monitoring_services.void_record(target, nurse, "entered in error")
    page = client.get(f"/imaging/{patient.pk}/analyses/{analysed.pk}/").content.decode()
    assert f"This {voided} is voided: the analysis is kept as it is for the record" in page
    assert 'name="op"' not in page and "Re-analyse" not in page and "data-pick-form" not in page
    assert "Record as the visit" not in page and 'data-testid="recorded"' not in page


def test_a_refusal_without_javascript_is_told_in_words_not_field_names(
    client, analysed, patient, nurse
):
    """Without htmx the refusal went to the page's message as str(exc): "analysis: ..." and,
    for a photo never analysed, "um_per_px: Enter a number."."""
    url = f"/imaging/{patient.pk}/analyses/{analysed.pk}/record/"
    r = client.post(url, {"basis": "1-0"}, follow=True)
    text = unescape(r.content.decode())
    assert "This analysis changed since this page was shown" in text and "basis:" not in text
    r = client.post(url, follow=True)
    text = unescape(r.content.decode())
    assert "Analysis: this result is already the visit's measurement." in text
    PhotoAnalysis.objects.filter(pk=analysed.pk).delete()  # a photo never analysed
    r = client.post(
        f"/imaging/{patient.pk}/photos/{analysed.photo_id}/analyse/", {"um_per_px": "abc"},
        follow=True,
    )  # fmt: skip
    text = unescape(r.content.decode())
    assert "Image scale (µm per pixel): enter a number." in text and "um_per_px:" not in text


def test_the_report_gives_the_cut_off_each_analysis_used_and_warns_when_they_differ(
    client, analysed, patient, nurse, clinic_a, other_png, django_capture_on_commit_callbacks
):
    """Terminal and vellus % depend on the terminal/vellus cut-off; changing the clinic's
    setting changed nothing printed, so a 40 µm baseline and a 30 µm follow-up read as a
    change in the hair."""
    from django.utils import timezone

    from anagen.reports import selectors as report_selectors

    def notes():
        return report_selectors.patient_report(
            patient, generated_at=timezone.now(), generated_by="test"
        ).imaging_notes

    first_day = analysed.photo.visit.visit_date
    assert any("terminal above 40 µm" in n for n in notes())
    services.save_settings(clinic_a, nurse, {"um_per_px": UPP, "terminal_cutoff_um": 30})
    assert any("terminal above 40 µm" in n for n in notes())  # the analysis's, not today's
    later = monitoring_services.record_visit(
        patient, nurse, {"visit_date": date.today().isoformat()}
    )
    upload(client, patient, later, other_png, django_capture_on_commit_callbacks)
    (warning,) = [n for n in notes() if "cut-offs" in n]
    assert f"40 µm on {first_day.isoformat()}; 30 µm on {date.today().isoformat()}" in warning
    assert "not comparable" in warning
