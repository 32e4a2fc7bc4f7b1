"""Cohort outcomes in a real browser: charts draw under the strict CSP (no eval), filters
work without JavaScript tricks, researchers get the de-identified view."""

import io
import re
from urllib.parse import urlencode

import pytest
from PIL import Image

from anagen.accounts.models import Clinic, User
from anagen.core.demo import load_demo
from anagen.monitoring.models import Visit
from anagen.monitoring.services import PhotoUpload, add_photos
from anagen.outcomes.demo import load_simulated_cohort
from anagen.patients.models import Patient

from .conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _jpeg(color: tuple[int, int, int]) -> io.BytesIO:
    out = io.BytesIO()
    Image.new("RGB", (320, 240), color).save(out, format="JPEG")
    out.seek(0)
    return out


def _demo_with_cohort() -> None:
    load_demo()
    clinic = Clinic.objects.get(slug="demo")
    load_simulated_cohort(clinic, User.objects.get(username="clinician"), 120, seed=11)


def test_clinician_filters_the_cohort_and_sees_charts_and_statistics(page, screenshot):
    _demo_with_cohort()
    sign_in(page, "clinician", "clinician-demo-2026")
    page.get_by_role("link", name="Outcomes", exact=True).click()  # the nav link
    page.get_by_role("heading", name="Cohort outcomes").wait_for()
    chart = page.locator("#cohort-chart")
    # (wait_for_function would need eval, which the page's CSP forbids: wait on the DOM.)
    page.locator("#cohort-chart[data-rendered]").wait_for(state="attached")
    assert chart.get_attribute("data-rendered") == "true"
    assert chart.locator("svg").count() == 1
    assert "Missing data handling" in page.locator("#mmrm").inner_text()
    assert "Kenward-Roger" in page.locator("#mmrm").inner_text()

    # Filter: women only, responder threshold 15, landmark week 24 (a plain GET form).
    page.get_by_label("Sex").select_option("female")
    page.get_by_label("Responder threshold").fill("15")
    page.get_by_label("Landmark visit").select_option("24")
    page.get_by_role("button", name="Analyse").click()
    page.wait_for_url(re.compile(r".*sex=female.*"))
    page.locator("#cohort-chart[data-rendered]").wait_for(state="attached")
    n_female = Patient.objects.filter(
        clinic__slug="demo", sex_at_birth="female", voided_at__isnull=True
    ).count()
    assert f"{n_female} patients match" in page.locator("#summary").inner_text()
    assert "change ≥ 15 hairs/cm²" in page.locator("#responders").inner_text()
    screenshot(page, "cohort")

    # A filter that matches nobody: a clear message, no numbers.
    # (A Norwood–Hamilton stage is a man's: with sex=female it matches nobody.)
    stages = (
        page.get_by_label("Stage")
        .locator("option")
        .evaluate_all("options => options.map(o => o.value)")
    )
    norwood = next(s for s in stages if s.startswith("Norwood–Hamilton "))
    page.goto(
        "/outcomes/cohort/?"
        + urlencode({"sex": "female", "combination": "none", "age_band": "<30", "stage": norwood})
    )
    assert "Not enough data" in page.locator("#by-visit").inner_text()
    assert page.locator("#cohort-chart").count() == 0

    # Bad input: a field error, nothing computed.
    page.goto("/outcomes/cohort/?threshold=lots")
    assert page.locator(".error").count() >= 1
    assert page.console_errors == []


def test_progress_page_draws_its_charts_under_the_csp(page, screenshot):
    _demo_with_cohort()
    patient = Patient.objects.filter(medical_record_number__startswith="SIM").first()
    visits = list(Visit.objects.filter(patient=patient).order_by("visit_date"))
    user = User.objects.get(username="clinician")
    for visit, color in ((visits[0], (150, 110, 90)), (visits[-1], (90, 140, 110))):
        add_photos(visit, user, [PhotoUpload(_jpeg(color), "global", "vertex")])
    sign_in(page, "clinician", "clinician-demo-2026")
    page.goto(f"/patients/{patient.pk}/")
    page.get_by_role("link", name=re.compile("Change from baseline, charts")).click()
    page.locator("#progress-chart[data-rendered]").wait_for(state="attached")
    page.locator("#forecast-chart[data-rendered]").wait_for(state="attached")
    assert page.locator("#progress-chart").get_attribute("data-rendered") == "true"
    assert page.locator("#forecast-chart").get_attribute("data-rendered") == "true"
    assert "not a prediction" in page.locator("#forecast").inner_text()
    # Photos side by side, and the slider (shown only with JavaScript) moves the clip.
    assert page.locator("#photos .photo-pair img").count() == 2
    slider = page.get_by_label("Slide: baseline (left) ↔ latest (right)")
    slider.fill("20")
    assert "80%" in page.locator(".compare-top").get_attribute("style")
    screenshot(page, "progress")
    # On a phone the small multiples stack in one column that fits the screen.
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    page.locator("#progress-chart[data-rendered]").wait_for(state="attached")
    drawn_width = float(page.locator("#progress-chart svg").first.get_attribute("width"))
    assert drawn_width <= 390, drawn_width
    assert page.console_errors == []


def test_researcher_sees_only_de_identified_cohort_data(page):
    _demo_with_cohort()
    sign_in(page, "researcher", "researcher-demo-2026")
    page.goto("/outcomes/cohort/")
    page.locator("#deidentified-notice").wait_for()
    text = page.locator("main").inner_text()
    assert "Patient000001" not in text and "SIM-000001" not in text
    assert not re.search(r"\b20\d\d-\d\d-\d\d\b", text)
    assert page.console_errors == []
