"""A nurse uploads a trichoscopy image at a visit and sees the analysis: overlay, summary,
the visit's measurement filled, and a correction made with the htmx tool."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from PIL import Image

from anagen.accounts.models import Clinic, User
from anagen.accounts.roles import Role
from anagen.accounts.services import set_membership
from anagen.imaging import services as imaging_services
from anagen.imaging.engine import ACCURACY_RECORD, synth
from anagen.imaging.models import PhotoAnalysis
from anagen.monitoring import services as monitoring_services
from anagen.monitoring.models import Measurement
from anagen.patients.services import create_patient

from .conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "imaging-browser-2026"


def _nurse_at_a_visit(page, tmp_path, img) -> tuple:
    """A calibrated clinic, a signed-in nurse and a visit; ``img`` uploaded as a trichoscopy
    photo through the page, its analysis done."""
    clinic = Clinic.objects.create(name="Imaging Clinic", slug="imaging")
    nurse = User.objects.create_user(username="nurse-img", password=PASSWORD)
    set_membership(nurse, clinic, Role.NURSE)
    patient = create_patient(clinic, nurse, {
        "medical_record_number": "IMG-1", "given_name": "Iris", "family_name": "Follicle",
        "date_of_birth": date(1979, 3, 2), "sex_at_birth": "female",
    })  # fmt: skip
    visit = monitoring_services.record_visit(
        patient, nurse, {"visit_date": (date.today() - timedelta(days=1)).isoformat()}
    )
    imaging_services.save_settings(clinic, nurse, {"um_per_px": 5.0})
    sign_in(page, "nurse-img", PASSWORD)
    _upload_trichoscopy(page, patient, visit, img, tmp_path / "dermatoscope.png")
    status = page.get_by_test_id("analysis-status")
    assert status.inner_text() == "Done"
    return patient, visit


def _upload_trichoscopy(page, patient, visit, img, path) -> None:
    """Upload ``img`` at ``visit`` through the visit page and wait for its analysis panel."""
    Image.fromarray(img).save(path)
    page.goto(f"/monitoring/{patient.pk}/visits/{visit.pk}/")
    page.get_by_text("Add a photo").click()
    page.get_by_label("Kind").select_option("trichoscopy")
    page.get_by_label("Target area").fill("vertex tattoo")
    page.get_by_label("Image").set_input_files(str(path))
    page.get_by_role("button", name="Upload").click()
    page.get_by_test_id("analysis-status").wait_for()


def test_nurse_uploads_trichoscopy_and_sees_and_corrects_the_analysis(page, screenshot, tmp_path):
    img, truth = synth.generate(
        synth.SynthParams(width=800, height=640, um_per_px=5.0, glare=0.0, density_per_cm2=180),
        21,
    )
    patient, visit = _nurse_at_a_visit(page, tmp_path, img)
    assert page.get_by_test_id("quality-flags").count() == 0
    analysis = PhotoAnalysis.objects.get(photo__visit=visit)
    count = analysis.summary_auto["count"]
    assert abs(count - truth.count) <= 0.25 * truth.count
    summary = page.get_by_test_id("analysis-summary")
    assert "Density (/cm²)" in summary.inner_text()
    overlay = page.get_by_test_id("analysis-overlay")
    overlay.scroll_into_view_if_needed()
    page.wait_for_function(
        "el => el.complete && el.naturalWidth === 800", arg=overlay.element_handle()
    )
    measurements = page.locator("#measurements").inner_text()
    assert str(count) in measurements and "Image analysis" in measurements
    # Beside the result: how far its count can be trusted (the engine's benchmark record).
    note = page.get_by_test_id("accuracy-note")
    assert note.is_visible() and "known truth" in note.inner_text()
    screenshot(page, "imaging-visit")

    hair = next(h for h in analysis.hairs if h["counted"])["id"]
    tool = page.locator(f"#analysis-{analysis.pk}")
    tool.get_by_label("Remove hair no.").fill(str(hair))
    tool.get_by_role("button", name="Remove").click()
    page.get_by_text("1 correction", exact=True).wait_for()
    analysis.refresh_from_db()
    assert analysis.corrected_summary["count"] == count - 1
    assert analysis.summary_auto["count"] == count  # the automatic result is kept
    assert Measurement.objects.get(pk=analysis.measurement_id).hair_count == count - 1
    row = page.get_by_test_id("analysis-summary").locator("tr", has_text="Hairs counted")
    assert row.inner_text().split() == ["Hairs", "counted", str(count), str(count - 1)]
    # The visit's measurement card above follows the correction without a reload.
    card = page.locator("#measurements").locator("dd").nth(1)
    assert card.inner_text() == str(count - 1)
    overlay = page.get_by_test_id("analysis-overlay")  # swapped in by htmx: a new element
    page.wait_for_function(
        "el => el.complete && el.naturalWidth === 800", arg=overlay.element_handle()
    )
    screenshot(page, "imaging-corrected")
    assert page.console_errors == []


def test_faint_blond_hair_is_flagged_in_words(page, screenshot, tmp_path):
    """Blond hair on type V skin: the page says the count may miss hairs and what to do."""
    img, _ = synth.generate(
        synth.SynthParams(width=800, height=640, um_per_px=5.0, glare=0.0, density_per_cm2=200,
                          hair_colour="blond", fitzpatrick=5),
        1,
    )  # fmt: skip
    _nurse_at_a_visit(page, tmp_path, img)
    flags = page.get_by_test_id("quality-flags")
    assert "Faint hairs: the hairs barely stand out from the skin" in flags.inner_text()
    assert "dye the hairs" in flags.inner_text()
    assert (
        "flagged for faint hairs, like this one"
        in page.get_by_test_id("accuracy-note").inner_text()
    )
    overlay = page.get_by_test_id("analysis-overlay")
    overlay.scroll_into_view_if_needed()
    page.wait_for_function(
        "el => el.complete && el.naturalWidth === 800", arg=overlay.element_handle()
    )
    screenshot(page, "imaging-faint-hairs")
    assert page.console_errors == []


def test_a_stalled_analysis_says_so_and_can_be_run_again(page, screenshot, tmp_path, monkeypatch):
    """The worker lost the task: after ten minutes the panel stops waiting, explains, and the
    nurse runs the analysis again from the page."""
    img, _ = synth.generate(
        synth.SynthParams(width=800, height=640, um_per_px=5.0, glare=0.0, density_per_cm2=180),
        4,
    )
    patient, visit = _nurse_at_a_visit(page, tmp_path, img)
    a = PhotoAnalysis.objects.get(photo__visit=visit)
    # A re-analysis is requested but its task never reaches a worker.
    with monkeypatch.context() as m:
        m.setattr(imaging_services, "_enqueue", lambda analysis_id: None)
        imaging_services.request_analysis(a.photo, a.requested_by)
    PhotoAnalysis.objects.filter(pk=a.pk).update(
        requested_at=a.requested_at - timedelta(minutes=25)
    )
    assert not Measurement.objects.filter(visit=visit, voided_at__isnull=True).exists()
    page.reload()
    assert page.get_by_test_id("analysis-status").inner_text() == "Stalled (queued)"
    stalled = page.get_by_test_id("analysis-stalled")
    assert "requested 25\xa0minutes ago and has not finished" in stalled.inner_text()
    stalled.scroll_into_view_if_needed()
    screenshot(page, "imaging-stalled")
    page.get_by_role("button", name="Analyse").click()
    page.wait_for_function(
        "() => document.querySelector('[data-testid=analysis-status]').innerText === 'Done'"
    )
    assert page.get_by_test_id("analysis-stalled").count() == 0
    assert Measurement.objects.filter(visit=visit, voided_at__isnull=True).count() == 1
    assert page.console_errors == []


def test_the_progress_page_marks_a_change_within_the_image_analysis_noise(
    page, screenshot, tmp_path
):
    """The same field imaged at two visits: the progress page shows the change and says that
    image analysis cannot tell a change of this size from noise."""
    params = synth.SynthParams(width=800, height=640, um_per_px=5.0, glare=0.0, density_per_cm2=180)
    img, _ = synth.generate(params, 21)
    patient, first = _nurse_at_a_visit(page, tmp_path, img)
    nurse = PhotoAnalysis.objects.get(photo__visit=first).requested_by
    later = monitoring_services.record_visit(
        patient, nurse, {"visit_date": date.today().isoformat()}
    )
    again, _ = synth.generate(params, 21, noise_seed=99)  # a second shot: new noise
    _upload_trichoscopy(page, patient, later, again, tmp_path / "again.png")

    page.goto(f"/outcomes/patients/{patient.pk}/")
    marks = page.get_by_test_id("within-noise")
    marked = {marks.nth(i).get_attribute("data-measure") for i in range(marks.count())}
    # A second shot of the same field: count, density and thickness move by a few %, well
    # inside the engine's retest noise; the mean diameter is marked if its change is too.
    a1, a2 = (PhotoAnalysis.objects.get(photo__visit=v).summary_auto for v in (first, later))
    diam_pct = 100 * (a2["diameter_mean_um"] - a1["diameter_mean_um"]) / a1["diameter_mean_um"]
    lsc_diam = ACCURACY_RECORD.least_significant_change_mean_diameter_pct
    assert marked == {"hair_count", "density_per_cm2", "cumulative_thickness_mm_per_cm2"} | (
        {"mean_diameter_um"} if abs(diam_pct) < lsc_diam else set()
    )
    assert "least significant change" in page.locator("#change-table").inner_text()
    page.locator("#change-table").scroll_into_view_if_needed()
    screenshot(page, "progress-within-noise")
    assert page.console_errors == []


def test_clicks_on_the_overlay_place_a_missed_hair_in_image_pixels(page, screenshot, tmp_path):
    img, _ = synth.generate(
        synth.SynthParams(width=800, height=640, um_per_px=5.0, glare=0.0, density_per_cm2=120),
        22,
    )
    _nurse_at_a_visit(page, tmp_path, img)
    analysis = PhotoAnalysis.objects.get()
    overlay = page.get_by_test_id("analysis-overlay")
    overlay.scroll_into_view_if_needed()
    page.wait_for_function(
        "el => el.complete && el.naturalWidth === 800", arg=overlay.element_handle()
    )
    box = overlay.bounding_box()
    scale = 800 / box["width"]  # the overlay is shown smaller than the image
    # A quarter and then a half of the way across: image pixels, not screen pixels.
    overlay.click(position={"x": box["width"] / 4, "y": box["height"] / 4})
    overlay.click(position={"x": box["width"] / 2, "y": box["height"] / 2})
    form = page.locator(f"#analysis-{analysis.pk} form:has(input[name=x2])")
    x1, y1 = (int(form.locator(f"input[name={n}]").input_value()) for n in ("x1", "y1"))
    x2, y2 = (int(form.locator(f"input[name={n}]").input_value()) for n in ("x2", "y2"))
    assert abs(x1 - 200) <= scale and abs(y1 - 160) <= scale
    assert abs(x2 - 400) <= scale and abs(y2 - 320) <= scale
    assert "now click" not in form.inner_text() and "press Add" in form.inner_text()
    assert page.url.endswith(f"/visits/{analysis.photo.visit_id}/")  # no full-size image opened
    form.get_by_role("button", name="Add").click()
    page.get_by_text("1 correction", exact=True).wait_for()
    added = next(c for c in PhotoAnalysis.objects.get().edits if c["op"] == "add")
    assert added["polyline_px"] == [[x1, y1], [x2, y2]]
    screenshot(page, "imaging-click-to-place")
    assert page.console_errors == []


FOCUSED = "() => document.activeElement ? document.activeElement.outerHTML.slice(0, 120) : ''"
HAIR_ID_FOCUSED = "() => document.activeElement?.name === 'hair_id'"


def _field(seed: int, density: float = 180):
    """An 800 × 640 px black-hair field at 5 µm/px."""
    params = synth.SynthParams(
        width=800, height=640, um_per_px=5.0, glare=0.0, density_per_cm2=density
    )
    return synth.generate(params, seed)[0]


def test_a_keyboard_user_stays_in_the_correction_form_after_each_correction(page, tmp_path):
    patient, visit = _nurse_at_a_visit(page, tmp_path, _field(21))
    analysis = PhotoAnalysis.objects.get(photo__visit=visit)
    first, second = [h["id"] for h in analysis.hairs if h["counted"]][:2]
    remove = page.locator(f"#analysis-{analysis.pk}").get_by_label("Remove hair no.")
    remove.fill(str(first))
    remove.press("Enter")  # the whole panel is swapped
    page.get_by_text("1 correction", exact=True).wait_for()
    page.wait_for_function(HAIR_ID_FOCUSED)
    focused = page.evaluate(FOCUSED)
    assert 'name="hair_id"' in focused, focused
    # Typing on goes into the new panel's "Remove hair no." box.
    page.keyboard.type(str(second))
    page.keyboard.press("Enter")
    page.get_by_text("2 corrections", exact=True).wait_for()
    # A refused correction puts the focus on what was wrong, read out as an alert.
    page.wait_for_function(HAIR_ID_FOCUSED)
    page.keyboard.type("99999")
    page.keyboard.press("Enter")
    errors = page.get_by_test_id("correction-errors")
    errors.wait_for()
    page.wait_for_function("() => 'refused' in (document.activeElement?.dataset || {})")
    assert "Hair no.: there is no hair 99999 in this analysis" in errors.inner_text()
    assert page.console_errors == []


def test_a_panel_waiting_for_its_result_does_not_take_the_focus_from_another(page, tmp_path):
    import io

    from django.utils import timezone

    patient, visit = _nurse_at_a_visit(page, tmp_path, _field(21))
    first = PhotoAnalysis.objects.get(photo__visit=visit)
    data = io.BytesIO()
    Image.fromarray(_field(22, density=150)).save(data, format="PNG")
    data.seek(0)
    nurse = User.objects.get(username="nurse-img")
    (photo,) = monitoring_services.add_photos(
        visit, nurse, [monitoring_services.PhotoUpload(data, "trichoscopy", target_area="crown")]
    )
    # Its analysis is still queued: the page asks for it every 2 s.
    PhotoAnalysis.objects.filter(photo=photo).update(status="queued", requested_at=timezone.now())
    page.goto(f"/monitoring/{patient.pk}/visits/{visit.pk}/")
    panel = page.locator(f"#analysis-{first.pk}")
    remove = panel.get_by_label("Remove hair no.")
    remove.fill("99999")
    remove.press("Enter")
    panel = page.locator(f"#analysis-{first.pk}")
    panel.get_by_test_id("correction-errors").wait_for()
    merge = panel.get_by_label("Merge hairs")
    merge.click()
    merge.press_sequentially("3, 4")
    page.wait_for_timeout(4500)  # two polls of the waiting panel
    assert page.evaluate("() => document.activeElement?.name") == "hair_ids"
    assert merge.input_value() == "3, 4"
    assert page.console_errors == []
