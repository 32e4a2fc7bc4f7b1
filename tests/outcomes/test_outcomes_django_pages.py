"""Outcomes pages: progress, cohort (filters, de-identified researcher view), comparison."""

from __future__ import annotations

import json
import re
from html import unescape

import pytest

from anagen.accounts.roles import Role
from anagen.patients.models import Patient

pytestmark = pytest.mark.django_db


def no_inline_script(html: str) -> None:
    """Every <script> either loads a file or is a JSON data island (CSP without inline JS), and
    scripts and stylesheets come from this server, not a CDN."""
    for tag in re.findall(r"<script[^>]*>", html):
        assert "src=" in tag or 'type="application/json"' in tag, tag
    # Attributes only: a random CSRF token may contain the letters "cdn".
    for tag in re.findall(r"<(?:script|link)\b[^>]*>", html):
        for url in re.findall(r'(?:src|href)="([^"]*)"', tag):
            assert url.startswith("/") and not url.startswith("//"), tag


def test_cohort_page_shows_every_result_with_missing_data_statements(client, clinician, sim_cohort):
    client.force_login(clinician)
    response = client.get("/outcomes/cohort/")
    assert response.status_code == 200
    html = response.content.decode()
    for section in ("by-visit", "responders", "ancova", "mmrm", "adverse-events", "patients"):
        assert f'id="{section}"' in html
    assert html.count("Missing data handling:") >= 7  # 4 analyses + 3 AE tables
    ae = html[html.index('id="adverse-events"') :]
    assert ae.count("Patients with an event / patients") == 3  # by modality, product, lot
    assert re.search(
        r'<td class="num">\d+ / \d+</td><td class="num">[\d.]+ \([\d.]+ to [\d.]+\)</td>', ae
    )
    assert 'id="cohort-spec" type="application/json"' in html
    assert "vega-interpreter.min.js" in html
    assert "Kenward-Roger" in html
    no_inline_script(html)
    assert "Content-Security-Policy" in response.headers
    csp = response.headers["Content-Security-Policy"]
    assert "unsafe-eval" not in csp and "unsafe-inline" not in csp
    # Clinicians may open patients from the listing.
    assert "/outcomes/patients/" in html


def test_the_cohort_listing_reads_in_words_not_codes(client, clinician, sim_cohort):
    """It showed aga_male, minoxidil+prp and female; the API keeps the codes."""
    import re

    client.force_login(clinician)
    html = client.get("/outcomes/cohort/").content.decode()
    listing = html[html.index('id="patients"') :]
    cells = re.findall(r"<td>([^<]*)</td>", listing)
    assert cells and not {"male", "female", "none"} & set(cells)
    assert not [c for c in cells if re.fullmatch(r"[a-z]+(_[a-z]+)+|[a-z]+\+[a-z]+", c)]
    assert "Male" in cells or "Female" in cells


def test_the_cohort_listing_pages_keep_the_filters(client, clinician, sim_cohort):
    client.force_login(clinician)
    n_female = Patient.objects.filter(sex_at_birth="female").count()
    n_all = Patient.objects.count()
    assert n_all > 50  # the page size
    html = client.get("/outcomes/cohort/").content.decode()
    listing = html[html.index('id="patients"') :]
    assert f"(1–50 of {n_all})" in listing and "Page 1 of 2" in listing
    assert 'href="?page=2#patients"' in listing
    second = client.get("/outcomes/cohort/", {"page": "2"}).content.decode()
    rows = second[second.index('id="patients"') :].count("/outcomes/patients/")
    assert rows == n_all - 50 and f"(51–{n_all} of {n_all})" in second
    # The page number is not a filter: the filters stay, and the next link keeps them.
    options = client.get("/outcomes/cohort/", {"threshold": "20"}).content.decode()
    assert 'href="?threshold=20&amp;page=2#patients"' in options
    filtered = client.get("/outcomes/cohort/", {"sex": "female", "page": "2"})
    assert filtered.status_code == 200
    assert f"<strong>{n_female}</strong> patients match" in filtered.content.decode()


def test_cohort_filters_narrow_the_selection_and_threshold_is_configurable(
    client, clinician, sim_cohort
):
    client.force_login(clinician)
    html = client.get(
        "/outcomes/cohort/", {"sex": "female", "threshold": "20", "landmark": "24"}
    ).content.decode()
    n_female = Patient.objects.filter(sex_at_birth="female").count()
    assert f"<strong>{n_female}</strong> patients match" in html
    assert "Responders at week 24: change ≥ 20 hairs/cm²" in html
    assert '<th scope="col" class="num">Responders / n</th>' in html
    worse = client.get("/outcomes/cohort/", {"threshold": "-5"}).content.decode()
    assert '<th scope="col" class="num">Worsened / n</th>' in worse
    assert "the rate is too low." in worse
    html = client.get("/outcomes/cohort/", {"outcome": "mean_diameter_um"}).content.decode()
    assert "Mean hair diameter (µm)" in html


def test_a_de_identified_selection_of_fewer_than_five_says_it_may_point_to_a_person(
    client, researcher, clinician, sim_cohort, api_token
):
    from anagen.outcomes.selectors import SMALL_CELL
    from anagen.reports.cohort import filter_form, report_context

    client.force_login(researcher)
    form = client.get("/outcomes/cohort/").context["form"]
    small = None
    for sex in ("female", "male"):
        for band, _ in form.fields["age_band"].choices[1:]:
            for combo, _ in form.fields["combination"].choices[1:]:
                query = {"sex": sex, "age_band": band, "combination": combo}
                n = client.get("/outcomes/cohort/", query).context["result"].n_patients
                if 0 < n < SMALL_CELL:
                    small = query
                    break
            if small:
                break
        if small:
            break
    assert small, "the simulated cohort has no selection of 1-4 patients"
    html = client.get("/outcomes/cohort/", small).content.decode()
    assert 'id="small-cell-notice"' in html
    assert 'id="small-cell-notice"' not in client.get("/outcomes/cohort/").content.decode()
    client.force_login(clinician)  # not de-identified: sees the patients anyway
    assert 'id="small-cell-notice"' not in client.get("/outcomes/cohort/", small).content.decode()
    # The cohort report (always de-identified, the thing most likely shared) says it too.
    from django.template.loader import render_to_string
    from django.utils import timezone

    from anagen.accounts.models import Clinic

    clinic = Clinic.objects.get(pk=researcher.memberships.first().clinic_id)
    context = report_context(clinic, filter_form(clinic, small), generated_at=timezone.now())
    assert 'id="small-cell-notice"' in render_to_string("reports/cohort.html", context)
    # And the API says so, for its clients to show.
    headers = {"Authorization": f"Bearer {api_token(researcher, clinic)}"}
    api = client.get("/api/v1/outcomes/cohort", small, headers=headers).json()
    assert api["small_selection"] is True
    whole = client.get("/api/v1/outcomes/cohort", headers=headers).json()
    assert whole["small_selection"] is False


def test_a_large_selection_with_thin_cells_says_how_many_rest_on_fewer_than_five(
    client, researcher, clinician, sim_cohort, api_token
):
    from anagen.accounts.models import Clinic
    from anagen.outcomes.selectors import SMALL_CELL

    client.force_login(researcher)
    form = client.get("/outcomes/cohort/").context["form"]
    found = None
    for sex in ("female", "male"):
        for band, _ in form.fields["age_band"].choices[1:]:
            query = {"sex": sex, "age_band": band}
            page = client.get("/outcomes/cohort/", query)
            result = page.context["result"]
            rows = (
                result.sections["by_visit"].data["rows"] if result.sections["by_visit"].ok else []
            )
            thin = [r for r in rows if 0 < r["n"] < SMALL_CELL]
            if result.n_patients >= SMALL_CELL and thin:
                found = query
                break
        if found:
            break
    assert found, "the simulated cohort has no selection of 5 or more with a thin cell"
    html = page.content.decode()
    assert 'id="small-cells-notice"' in html and 'id="small-cell-notice"' not in html
    n = page.context["view"].small_cells
    assert n >= len(thin) and f"{n} results rest on fewer than {SMALL_CELL} patients" in html
    clinic = Clinic.objects.get(pk=researcher.memberships.first().clinic_id)
    headers = {"Authorization": f"Bearer {api_token(researcher, clinic)}"}
    assert client.get("/api/v1/outcomes/cohort", found, headers=headers).json()["small_cells"] == n
    client.force_login(clinician)  # not de-identified: no notice
    assert 'id="small-cells-notice"' not in client.get("/outcomes/cohort/", found).content.decode()


def test_researcher_sees_no_identifying_data(client, researcher, sim_cohort):
    client.force_login(researcher)
    response = client.get("/outcomes/cohort/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="deidentified-notice"' in html
    for p in Patient.objects.all()[:80]:
        assert p.family_name not in html
        assert p.medical_record_number not in html
        assert p.date_of_birth.isoformat() not in html
    assert not re.search(r"\b20\d\d-\d\d-\d\d\b", html)  # no calendar dates at all
    assert "/outcomes/patients/" not in html
    assert re.search(r"<td>[0-9a-f]{16}</td>", html)  # study ids (the export's pseudo_id)
    # Researchers have no progress page (patient-level data).
    pid = Patient.objects.first().pk
    assert client.get(f"/outcomes/patients/{pid}/").status_code == 403
    assert client.get("/outcomes/comparison/").status_code == 200


def test_progress_page_with_chart_photos_and_labelled_forecast(
    client, clinician, clinic_a, make_patient, record_visit
):
    from anagen.accounts.models import AccessLog
    from anagen.assessment.models import Diagnosis

    p = make_patient(clinic_a, clinician, sex_at_birth="female", family_name="Progressa")
    Diagnosis.objects.create(
        clinic=clinic_a, patient=p, diagnosed_on="2025-01-01", diagnosed_by=clinician,
        condition="aga_female", label="FPHL", stage="II",
    )  # fmt: skip
    record_visit(p, clinician, 0, baseline=True, density_per_cm2=110.0,
                 photos=[("top", (200, 100, 100))])  # fmt: skip
    record_visit(p, clinician, 170, density_per_cm2=121.0, photos=[("top", (90, 200, 90))])
    client.force_login(clinician)
    response = client.get(f"/outcomes/patients/{p.pk}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Progressa" in html
    assert "+11.0" in html and "(+10.0%)" in html
    assert 'id="progress-spec" type="application/json"' in html
    assert 'id="forecast-spec" type="application/json"' in html
    assert "Model forecast, not a prediction of this patient&#x27;s result" in html
    assert html.count("/photos/") >= 4  # side by side + slider
    assert 'type="range"' in html
    no_inline_script(html)
    assert AccessLog.objects.filter(patient=p, path=f"/outcomes/patients/{p.pk}/").exists()
    # Linked from the patient record.
    assert f"/outcomes/patients/{p.pk}/" in client.get(f"/patients/{p.pk}/").content.decode()


def test_progress_page_of_a_patient_without_visits_says_so(client, nurse, clinic_a, make_patient):
    p = make_patient(clinic_a, nurse)
    client.force_login(nurse)
    html = client.get(f"/outcomes/patients/{p.pk}/").content.decode()
    assert "Not enough data: no visit recorded yet." in html
    assert "No forecast" in html


def test_progress_of_another_clinics_patient_is_404(client, clinician, clinic_b, make_user,
                                                     make_patient):  # fmt: skip
    other = make_patient(clinic_b, make_user(Role.ADMIN, clinic_b, username="b-admin"))
    client.force_login(clinician)
    assert client.get(f"/outcomes/patients/{other.pk}/").status_code == 404
    assert client.get(f"/api/v1/outcomes/patients/{other.pk}/progress").status_code == 404


def test_another_clinics_lot_is_not_a_valid_filter(client, clinician, clinic_b, make_user):
    from anagen.outcomes.demo import load_simulated_cohort
    from anagen.products.models import Lot

    load_simulated_cohort(clinic_b, make_user(Role.CLINICIAN, clinic_b, username="cb"), 12,
                          seed=2, mrn_prefix="B")  # fmt: skip
    lot_b = Lot.objects.get(clinic=clinic_b)
    client.force_login(clinician)
    response = client.get("/outcomes/cohort/", {"lot": str(lot_b.pk)})
    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()


def test_a_responder_threshold_of_zero_is_refused_in_words(client, clinician, api_token):
    """ "Change ≥ 0" counted patients with no change as responders (6/7 "responded")."""
    client.force_login(clinician)
    response = client.get("/outcomes/cohort/", {"threshold": "0"})
    assert response.status_code == 400
    assert "0 would count patients with no change as responders" in response.content.decode()
    headers = {
        "Authorization": f"Bearer {api_token(clinician, clinician.memberships.first().clinic)}"
    }
    api = client.get("/api/v1/outcomes/cohort", {"threshold": 0}, headers=headers)
    assert api.status_code == 400
    assert api.json()["detail"].startswith("threshold: 0 would count")


def test_comparison_page_sets_clinic_outcomes_beside_references(client, clinician, sim_cohort):
    client.force_login(clinician)
    html = client.get("/outcomes/comparison/").content.decode()
    for name in ("Topical minoxidil 5%", "Platelet-rich plasma", "Exosome", "Hair transplant"):
        assert name in html
    assert "Kieling 2024" in html and "Olsen 2002" in html
    assert "REFERENCE" not in html  # an internal project file, not shipped: cite the trials
    assert "not interchangeable" in html
    assert "Measured in this clinic" in html
    assert "mean change" in html
    # No patient-level data on the comparison page.
    assert Patient.objects.first().family_name not in html


def test_pages_refuse_post(client, clinician):
    client.force_login(clinician)
    assert client.post("/outcomes/cohort/").status_code == 405


def test_progress_page_shows_the_density_derived_from_count_and_area(
    client, clinician, clinic_a, make_patient, record_visit
):
    p = make_patient(clinic_a, clinician, family_name="Countwell")
    # Counts and areas only, as a clinic records them; the target area changed once.
    record_visit(p, clinician, 0, baseline=True, hair_count=152, target_area_cm2=1.0)
    record_visit(p, clinician, 84, hair_count=80, target_area_cm2=0.5)
    client.force_login(clinician)
    html = client.get(f"/outcomes/patients/{p.pk}/").content.decode()
    assert "No density measured at any visit" not in html
    assert "152.0" in html and "160.0" in html and "+8.0" in html and "(+5.3%)" in html
    assert "target areas of different sizes (1 cm², 0.5 cm²)" in html
    spec = re.search(r'<script id="progress-spec" type="application/json">(.*?)</script>', html)
    assert spec is not None
    plotted = {v["measure"] for v in json.loads(spec.group(1))["data"]["values"]}
    assert plotted == {"Hair density (hairs/cm²)"}  # counts of different areas left out


def test_progress_page_names_treatments_and_the_modelled_plan_in_words(
    client, clinician, sim_cohort
):
    from anagen.treatments.models import TreatmentSession

    session = TreatmentSession.objects.filter(modality="prp").first()
    client.force_login(clinician)
    html = client.get(f"/outcomes/patients/{session.patient_id}/").content.decode()
    recorded = re.search(r"Treatments recorded: ([^<]*)\.</p>", html)
    assert recorded and "Platelet-rich plasma" in recorded.group(1)
    assert "prp" not in recorded.group(1)
    modelled = re.search(r"Plan modelled: <strong>([^<]*)</strong>", html)
    assert modelled and "Platelet-rich plasma" in modelled.group(1)
    assert "prp" not in modelled.group(1)


def test_cohort_filter_offers_protocols_by_their_titles(client, clinician, sim_cohort):
    from anagen.assessment.protocols import TEMPLATES

    client.force_login(clinician)
    html = client.get("/outcomes/cohort/").content.decode()
    select = re.search(r'<select name="protocol"[^>]*>(.*?)</select>', html, re.S)
    assert select
    options = dict(re.findall(r'<option value="([^"]+)"[^>]*>([^<]*)</option>', select.group(1)))
    assert options
    for key, label in options.items():
        assert label == TEMPLATES[key].title  # not "prp standard"


def test_the_comparison_page_warns_of_arms_of_fewer_than_five_patients(
    client, clinician, clinic_a, make_patient, record_visit
):
    """One patient's "mean change" is that patient's change, as on the cohort page."""
    p = make_patient(clinic_a, clinician, family_name="Alone")
    record_visit(p, clinician, 0, baseline=True, density_per_cm2=120.0)
    record_visit(p, clinician, 84, density_per_cm2=128.0)
    client.force_login(clinician)
    html = client.get("/outcomes/comparison/").content.decode()
    assert re.search(r"n = 1\b", html)
    assert "1 arm below rests on fewer than 5 patients" in html


def test_the_comparison_page_has_no_small_arm_warning_with_enough_patients(
    client, clinician, sim_cohort
):
    client.force_login(clinician)
    html = client.get("/outcomes/comparison/").content.decode()
    assert not re.search(r"n = 1\b", html)
    assert 'id="small-cells-notice"' not in html


def _analysed(html: str) -> int:
    found = re.search(r"(\d+) patients? ha(?:s|ve) a baseline", html)
    assert found, "the clinic's measurements name how many patients were analysed"
    return int(found.group(1))


def test_the_comparison_page_compares_within_one_diagnosis(client, clinician, clinic_a, sim_cohort):
    """Pooling conditions with different natural courses misleads: the page takes the
    cohort page's diagnosis (and outcome, stage, sex, age band, landmark) filters."""
    from anagen.outcomes import cohort, selectors

    client.force_login(clinician)
    everyone = client.get("/outcomes/comparison/").content.decode()
    r = client.get("/outcomes/comparison/", {"diagnosis": "aga_female"})
    html = unescape(r.content.decode())
    assert r.status_code == 200
    expected = selectors.cohort_analysis(
        clinic_a,
        cohort.CohortFilters(diagnosis="aga_female"),
        cohort.CohortOptions(),
        deidentified=True,
    ).result.n_analysed
    assert 0 < _analysed(html) == expected < _analysed(everyone)
    assert "Selected: Diagnosis: Androgenetic alopecia, female pattern." in html
    assert re.search(r'<option value="aga_female" selected>', html)
    # The cohort page opens on the same patients.
    assert 'href="/outcomes/cohort/?diagnosis=aga_female"' in html
    # The arm filters belong to the cohort page: every modality is shown here.
    assert 'name="modality"' not in html and 'name="reference"' not in html


def test_the_cohort_link_carries_only_the_filters_the_comparison_took(
    client, clinician, sim_cohort
):
    """The cohort page's arm filters typed into the comparison's address were ignored here
    but carried into the link, which then opened a 400 (a review)."""
    client.force_login(clinician)
    r = client.get(
        "/outcomes/comparison/",
        {"diagnosis": "aga_female", "modality": "foo", "threshold": "abc", "lot": "999"},
    )
    assert r.status_code == 200
    html = unescape(r.content.decode())
    assert 'href="/outcomes/cohort/?diagnosis=aga_female"' in html
    assert client.get("/outcomes/cohort/", {"diagnosis": "aga_female"}).status_code == 200


def test_the_comparison_page_measures_the_chosen_outcome(client, clinician, sim_cohort):
    client.force_login(clinician)
    html = unescape(client.get("/outcomes/comparison/", {"outcome": "hair_count"}).content.decode())
    assert "Mean change in target-area hair count" in html or "Not enough data" in html
    assert "Mean change in hair density" not in html


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"diagnosis": "no_such_condition"}, "diagnosis"),
        ({"outcome": "happiness"}, "outcome"),
        ({"landmark": "7"}, "landmark"),
    ],  # fmt: skip
)
def test_the_comparison_page_refuses_unknown_filters_with_a_form_error(
    client, clinician, sim_cohort, query, field
):
    client.force_login(clinician)
    r = client.get("/outcomes/comparison/", query)
    html = unescape(r.content.decode())
    assert r.status_code == 400
    assert "Select a valid choice" in html
    assert "Correct the filters above" in html and "mean change" not in html
    # The published references stay readable.
    assert "Kieling 2024" in html


def test_pages_about_exosome_treatment_carry_the_investigational_notice(
    client, clinician, sim_cohort
):
    """A review found the notice on the session pages only: the progress page said
    "Treatments recorded: Exosome / EV injections" without it."""
    from anagen.treatments.models import TreatmentSession

    notice = 'id="investigational-notice"'
    client.force_login(clinician)
    exosome = TreatmentSession.objects.filter(modality="exosome").first()
    treated = client.get(f"/outcomes/patients/{exosome.patient_id}/").content.decode()
    assert notice in treated and "not approved for hair loss" in treated
    other = (
        TreatmentSession.objects.filter(modality="prp")
        .exclude(patient__sessions__modality="exosome")
        .first()
    )
    assert notice not in client.get(f"/outcomes/patients/{other.patient_id}/").content.decode()
    assert notice in client.get("/outcomes/cohort/").content.decode()
    assert notice in client.get("/outcomes/comparison/").content.decode()


def test_the_cohort_chart_gives_a_shares_change_in_percentage_points(client, clinician, sim_cohort):
    """A change in terminal hairs (%) is in percentage points, as the table's title says: the
    chart's axis read "Mean change (%)", a relative change to the reader."""
    client.force_login(clinician)
    html = client.get("/outcomes/cohort/", {"outcome": "terminal_pct"}).content.decode()
    assert "Mean change from baseline in terminal hairs (percentage points)" in html
    spec = re.search(r'<script id="cohort-spec" type="application/json">(.*?)</script>', html)
    titles = {
        layer["encoding"]["y"]["title"]
        for layer in json.loads(spec.group(1))["layer"]
        if "title" in layer["encoding"].get("y", {})
    }
    assert titles == {"Mean change (percentage points) with 95% CI"}


def test_the_comparison_page_gives_a_shares_change_in_percentage_points(
    client, clinician, sim_cohort
):
    """As the cohort page: "mean change +2.0 %" beside published effects in % of baseline
    (Tak 2020: count +28.1 %) read as a relative change."""
    client.force_login(clinician)
    html = client.get("/outcomes/comparison/", {"outcome": "terminal_pct"}).content.decode()
    html = " ".join(unescape(html).split())
    assert "Mean change in terminal hairs (percentage points) from baseline" in html
    measured = re.findall(r"mean change [+\-−]?[\d.]+ ([^(]+?) \(95% CI", html)
    assert measured and set(measured) == {"percentage points"}


def test_the_comparison_page_says_what_its_clinic_figures_cannot_show(
    client, clinician, sim_cohort
):
    """Arms' intervals side by side read as a comparison (the PRP interval excluding zero
    among five arms); an early landmark (week 4, in the minoxidil shedding phase) was set
    beside 16- to 48-week trial results without a word; a result the sources give only
    second-hand was tagged C (confirmed)."""
    client.force_login(clinician)
    html = unescape(client.get("/outcomes/comparison/", {"landmark": "4"}).content.decode())
    notice = re.search(r'<p id="intervals-notice">([^<]*)</p>', html)
    assert notice and "Each interval describes one arm alone" in notice.group(1)
    assert "no test of a difference between arms" in notice.group(1)
    shown = len(set(re.findall(r"<p>([^<:]+): n = \d+", html)))
    assert f"With {shown} arms shown" in notice.group(1) and shown > 1
    assert 'id="early-landmark-notice"' in html
    assert "Week 4 is earlier than most results below" in html
    assert "(change from baseline, no control group)" in html
    shin = re.search(r"<tr><td>Shin 2015[^\n]*?</tr>", html)
    assert shin and '<span class="cert">M</span>' in shin.group(0)
    later = client.get("/outcomes/comparison/", {"landmark": "24"}).content.decode()
    assert "<strong>week 24</strong>" in later
    assert 'id="early-landmark-notice"' not in later


def test_the_comparison_page_marks_a_small_untreated_group(
    client, clinician, clinic_a, make_patient, record_visit
):
    """The untreated line gave "n = 1, +8.0 (—)": no small-n mark, no unit, no "95% CI"."""
    p = make_patient(clinic_a, clinician, family_name="Untreated")
    record_visit(p, clinician, 0, baseline=True, density_per_cm2=120.0)
    record_visit(p, clinician, 84, density_per_cm2=128.0)
    client.force_login(clinician)
    html = unescape(client.get("/outcomes/comparison/").content.decode())
    line = re.search(r"<p>Patients with no recorded session: (.*?)</p>", html)
    assert line
    assert "n = 1 " in line.group(1) and "small n — too few to judge" in line.group(1)
    assert "mean change +8.0 hairs/cm² (95% CI —)" in line.group(1)
    assert 'id="intervals-notice"' not in html  # one arm: nothing side by side


def test_the_cohort_page_says_an_arms_change_is_not_a_treatment_effect(
    client, clinician, sim_cohort
):
    """The notes spoke of confounding between arms only; an arm's own change from baseline
    (PRP +34 at week 24, interval above zero) read as what the treatment did."""
    from anagen.outcomes import cohort

    client.force_login(clinician)
    html = unescape(client.get("/outcomes/cohort/").content.decode())
    assert f"<li>{cohort.WITHIN_ARM_NOTE}</li>" in html
    assert html.index(cohort.WITHIN_ARM_NOTE) < html.index('id="by-visit"')


def test_the_cohort_listing_with_names_is_access_logged_for_each_patient_shown(
    client, clinician, researcher, clinic_a, make_patient, record_visit
):
    """The listing names patients with their record numbers; it was not in the access log."""
    from anagen.accounts.models import AccessLog

    shown = [make_patient(clinic_a, clinician) for _ in range(3)]
    for p in shown:
        record_visit(p, clinician, 0, baseline=True, density_per_cm2=120)
    client.force_login(clinician)
    html = client.get("/outcomes/cohort/").content.decode()
    assert all(p.medical_record_number in html for p in shown)
    logged = AccessLog.objects.filter(user=clinician, path="/outcomes/cohort/")
    assert sorted(logged.values_list("patient_id", flat=True)) == sorted(p.pk for p in shown)
    # A researcher's listing has study ids only: nobody identified, nothing to log.
    client.force_login(researcher)
    assert client.get("/outcomes/cohort/").status_code == 200
    assert not AccessLog.objects.filter(user=researcher).exists()
