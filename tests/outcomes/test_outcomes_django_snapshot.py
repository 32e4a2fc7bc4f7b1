"""The persisted analysis snapshot: the cohort page reads the clinic's analysis tables from a
precomputed snapshot that a background task keeps current, instead of re-reading every visit
and measurement after each write.

- a snapshot read back equals the tables read from the clinical records, dtypes included;
- it is used only while its data fingerprint is the clinic's current one; a write makes it
  stale; pages and the API may then show it, with a notice, while a worker rebuilds it;
  PDF reports never do (they are archived documents: they read the records again);
- with the immediate task backend (no worker) nothing is rebuilt on write; a stale snapshot
  is rebuilt when a page needs it;
- a committed transaction enqueues one rebuild per clinic it wrote to, however many rows;
- every clinic has its own snapshot; nothing crosses clinics;
- `anagen outcomes rebuild-snapshot [--clinic SLUG]` rebuilds on demand.
"""

from __future__ import annotations

import io

import pandas as pd
import pytest
from django.core.cache import cache
from django.core.management import CommandError, call_command
from django.db import transaction
from django.tasks import default_task_backend

from anagen.accounts.roles import Role
from anagen.outcomes import selectors, services, snapshot
from anagen.outcomes.models import AnalysisSnapshot
from anagen.outcomes.tasks import rebuild_snapshot
from anagen.patients.models import Patient

pytestmark = pytest.mark.django_db

DUMMY_TASKS = {"default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend"}}


@pytest.fixture
def worker_mode(settings):
    """Tasks are queued for a worker (as with ANAGEN_TASKS=database) and not run here."""
    settings.TASKS = DUMMY_TASKS
    default_task_backend.clear()
    yield default_task_backend
    default_task_backend.clear()


def rebuilds_enqueued(backend) -> list[tuple]:
    return [tuple(r.args) for r in backend.results if r.task.name == rebuild_snapshot.name]


def assert_same_tables(a: selectors.AnalysisTables, b: selectors.AnalysisTables) -> None:
    for name in snapshot.TABLES:
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name), check_dtype=True)


def add_patient_with_visits(clinic, user, make_patient, record_visit, **patient):
    p = make_patient(clinic, user, **patient)
    record_visit(p, user, 0, baseline=True, density_per_cm2=120.0)
    record_visit(p, user, 84, density_per_cm2=130.0)
    return p


# --- the snapshot itself -------------------------------------------------------------------


def test_snapshot_round_trip_gives_the_tables_read_from_the_records(
    clinic_a, clinician, sim_cohort, make_patient, record_visit
):
    # The simulated cohort plus a hand-made patient with manual measurements and one who has
    # no visit at all (empty and missing values must survive too).
    add_patient_with_visits(clinic_a, clinician, make_patient, record_visit, sex_at_birth="male")
    make_patient(clinic_a, clinician)
    fresh = selectors.build_analysis_tables(clinic_a)
    snap = services.rebuild_analysis_snapshot(clinic_a)
    cache.clear()
    loaded = selectors.analysis_tables(clinic_a)
    assert loaded.timings.get("snapshot_s") is not None  # read from the snapshot, not the records
    assert loaded.fingerprint == snap.fingerprint == selectors.data_fingerprint(clinic_a)
    assert loaded.built_at == snap.built_at and not loaded.stale
    assert_same_tables(loaded, fresh)
    assert snap.n_patients == Patient.objects.filter(clinic=clinic_a).count()
    assert snap.n_visits == len(fresh.visits)
    assert 0 < snap.size_bytes == sum(len(bytes(getattr(snap, f))) for f in snap.TABLE_FIELDS)
    assert snap.format_version == snapshot.FORMAT_VERSION and snap.build_seconds > 0


def test_snapshot_of_a_clinic_without_data_round_trips(clinic_b):
    fresh = selectors.build_analysis_tables(clinic_b)
    services.rebuild_analysis_snapshot(clinic_b)
    cache.clear()
    assert_same_tables(selectors.analysis_tables(clinic_b), fresh)


def test_the_cohort_numbers_from_a_snapshot_equal_those_from_the_records(
    clinic_a, clinician, sim_cohort
):
    services.rebuild_analysis_snapshot(clinic_a)
    cache.clear()
    args = (clinic_a, selectors.cohort.CohortFilters(), selectors.cohort.CohortOptions())
    from_snapshot = selectors.cohort_analysis(*args, deidentified=True)
    from_records = selectors.cohort_analysis(*args, deidentified=True, use_cache=False)
    assert "snapshot_s" in from_snapshot.timings
    a, b = from_snapshot.to_dict(), from_records.to_dict()
    a.pop("data_freshness"), b.pop("data_freshness")
    assert a == b


def test_a_snapshot_of_another_format_version_is_ignored(clinic_a, clinician, sim_cohort):
    services.rebuild_analysis_snapshot(clinic_a)
    AnalysisSnapshot.objects.filter(clinic=clinic_a).update(format_version=0, fingerprint="x")
    cache.clear()
    tables = selectors.analysis_tables(clinic_a, allow_stale=True)
    assert "snapshot_s" not in tables.timings and not tables.stale  # read from the records
    assert AnalysisSnapshot.objects.get(clinic=clinic_a).format_version == snapshot.FORMAT_VERSION


def test_a_snapshot_from_before_the_shared_session_lots_rule_is_rebuilt(
    clinic_a, clinician, sim_cohort
):
    """Format 6 took a session's lots by the outcomes module's own rule (returned draws
    counted); its data fingerprint stays current across the upgrade, so it was served."""
    services.rebuild_analysis_snapshot(clinic_a)
    AnalysisSnapshot.objects.filter(clinic=clinic_a).update(format_version=6)
    cache.clear()
    tables = selectors.analysis_tables(clinic_a)
    assert "snapshot_s" not in tables.timings  # read from the records
    assert AnalysisSnapshot.objects.get(clinic=clinic_a).format_version == snapshot.FORMAT_VERSION


# --- staleness -----------------------------------------------------------------------------


def test_a_write_changes_the_fingerprint_and_the_snapshot_is_stale(
    clinic_a, clinician, sim_cohort, make_patient, record_visit
):
    services.rebuild_analysis_snapshot(clinic_a)
    assert services.snapshot_is_fresh(clinic_a)
    before = selectors.data_fingerprint(clinic_a)
    add_patient_with_visits(clinic_a, clinician, make_patient, record_visit)
    assert selectors.data_fingerprint(clinic_a) != before
    assert not services.snapshot_is_fresh(clinic_a)
    # An edit (a new history row, no new id) counts too.
    services.rebuild_analysis_snapshot(clinic_a)
    patient = Patient.objects.filter(clinic=clinic_a).latest("pk")
    patient.given_name = "Grace"
    patient.save()
    assert not services.snapshot_is_fresh(clinic_a)


def test_stale_snapshot_is_served_on_the_page_with_a_notice_while_a_worker_rebuilds(
    client, clinic_a, clinician, sim_cohort, make_patient, record_visit, worker_mode
):
    services.rebuild_analysis_snapshot(clinic_a)
    n_before = Patient.objects.filter(clinic=clinic_a).count()
    add_patient_with_visits(clinic_a, clinician, make_patient, record_visit)
    cache.clear()  # as after a restart: only the snapshot is left
    worker_mode.clear()
    client.force_login(clinician)
    html = client.get("/outcomes/cohort/").content.decode()
    assert 'id="stale-notice"' in html
    assert "Data as of " in html and "minute ago" in html
    assert "newer changes are being included — refresh in a minute" in html
    assert f"<strong>{n_before}</strong> patients match" in html  # the snapshot's numbers
    # One rebuild asked for, however often the stale page is shown.
    client.get("/outcomes/cohort/", {"sex": "male"})
    client.get("/outcomes/comparison/")
    assert rebuilds_enqueued(worker_mode) == [(clinic_a.pk,)]
    # The worker runs it: the next request is fresh, without a notice.
    assert rebuild_snapshot.call(clinic_a.pk) == "rebuilt"
    html = client.get("/outcomes/cohort/").content.decode()
    assert 'id="stale-notice"' not in html
    assert f"<strong>{n_before + 1}</strong> patients match" in html


def test_the_comparison_page_shows_the_notice_too(
    client, clinic_a, clinician, sim_cohort, make_patient, record_visit, worker_mode
):
    services.rebuild_analysis_snapshot(clinic_a)
    add_patient_with_visits(clinic_a, clinician, make_patient, record_visit)
    client.force_login(clinician)
    html = client.get("/outcomes/comparison/").content.decode()
    assert 'id="stale-notice"' in html


def test_the_api_says_when_the_cohort_summary_is_stale(
    client, clinic_a, clinician, researcher, sim_cohort, make_patient, record_visit, api_token,
    worker_mode,
):  # fmt: skip
    def summary(user) -> dict:
        headers = {"Authorization": f"Bearer {api_token(user, clinic_a)}"}
        response = client.get("/api/v1/outcomes/cohort", headers=headers)
        assert response.status_code == 200
        return response.json()

    fresh = summary(clinician)["data_freshness"]
    assert fresh["stale"] is False and fresh["notice"] == "" and fresh["as_of"]
    add_patient_with_visits(clinic_a, clinician, make_patient, record_visit)
    stale = summary(clinician)["data_freshness"]
    assert stale["stale"] is True and stale["as_of"] == fresh["as_of"]
    assert stale["notice"].startswith("Data as of ")
    assert "refresh in a minute" in stale["notice"]
    assert stale["age_seconds"] >= 0
    # De-identified answers carry no calendar date, not even the snapshot's.
    stale = summary(researcher)["data_freshness"]
    assert stale["stale"] is True and "as_of" not in stale


def test_a_researcher_sees_the_notice_without_a_calendar_date(
    client, clinic_a, clinician, researcher, sim_cohort, make_patient, record_visit, worker_mode
):
    services.rebuild_analysis_snapshot(clinic_a)
    add_patient_with_visits(clinic_a, clinician, make_patient, record_visit)
    client.force_login(researcher)
    html = client.get("/outcomes/cohort/").content.decode()
    notice = html.split('id="stale-notice"', 1)[1].split("</p>", 1)[0]
    assert "Data as of " in notice
    assert str(selectors.timezone.now().year) not in notice


def test_pdf_report_data_is_never_stale(
    clinic_a, clinician, sim_cohort, make_patient, record_visit, worker_mode
):
    from anagen.reports import cohort as report

    services.rebuild_analysis_snapshot(clinic_a)
    add_patient_with_visits(clinic_a, clinician, make_patient, record_visit)
    cache.clear()
    form = report.filter_form(clinic_a, None)
    ctx = report.report_context(clinic_a, form, generated_at=selectors.timezone.now())
    assert ctx["view"].freshness.stale is False
    assert ctx["result"].n_patients == Patient.objects.filter(clinic=clinic_a).count()
    assert services.snapshot_is_fresh(clinic_a)  # read from the records, and stored


def test_without_a_snapshot_the_page_reads_the_records_and_stores_one(
    client, clinic_a, clinician, sim_cohort, worker_mode
):
    assert not AnalysisSnapshot.objects.exists()
    client.force_login(clinician)
    html = client.get("/outcomes/cohort/").content.decode()
    assert 'id="stale-notice"' not in html
    assert services.snapshot_is_fresh(clinic_a)
    assert rebuilds_enqueued(worker_mode) == []


# --- when rebuilds happen ------------------------------------------------------------------


def test_a_transaction_enqueues_one_rebuild_per_clinic_it_wrote_to(
    clinic_a, clinic_b, clinician, make_user, make_patient, record_visit, worker_mode,
    django_capture_on_commit_callbacks,
):  # fmt: skip
    other = make_user(Role.CLINICIAN, clinic_b)
    with django_capture_on_commit_callbacks(execute=True) as callbacks, transaction.atomic():
        for _ in range(3):  # patients, visits, measurements: many rows, one transaction
            add_patient_with_visits(clinic_a, clinician, make_patient, record_visit)
        add_patient_with_visits(clinic_b, other, make_patient, record_visit)
        assert rebuilds_enqueued(worker_mode) == []  # nothing before the commit
    assert len(callbacks) == 1
    assert sorted(rebuilds_enqueued(worker_mode)) == sorted([(clinic_a.pk,), (clinic_b.pk,)])


def test_a_rolled_back_transaction_enqueues_nothing(
    clinic_a, clinician, make_patient, record_visit, worker_mode,
    django_capture_on_commit_callbacks,
):  # fmt: skip
    def abandoned() -> None:
        with transaction.atomic():
            add_patient_with_visits(clinic_a, clinician, make_patient, record_visit)
            raise RuntimeError("abandon")

    with django_capture_on_commit_callbacks(execute=True):
        with pytest.raises(RuntimeError):
            abandoned()
        assert rebuilds_enqueued(worker_mode) == []
        add_patient_with_visits(clinic_a, clinician, make_patient, record_visit)
    assert rebuilds_enqueued(worker_mode) == [(clinic_a.pk,)]


@pytest.mark.django_db(transaction=True)
def test_each_committed_transaction_enqueues_one_rebuild(
    clinic_a, clinician, make_patient, record_visit, worker_mode
):
    patient = make_patient(clinic_a, clinician)  # its own transaction
    assert rebuilds_enqueued(worker_mode) == [(clinic_a.pk,)]
    worker_mode.clear()
    with transaction.atomic():
        record_visit(patient, clinician, 0, baseline=True, density_per_cm2=120.0)
        record_visit(patient, clinician, 84, density_per_cm2=125.0)
    record_visit(patient, clinician, 168, density_per_cm2=128.0)
    assert rebuilds_enqueued(worker_mode) == [(clinic_a.pk,), (clinic_a.pk,)]


def test_queued_rebuilds_after_a_burst_cost_one_rebuild(clinic_a, clinician, sim_cohort):
    assert rebuild_snapshot.call(clinic_a.pk) == "rebuilt"
    built_at = AnalysisSnapshot.objects.get(clinic=clinic_a).built_at
    assert rebuild_snapshot.call(clinic_a.pk) == "fresh"  # the data did not change since
    assert AnalysisSnapshot.objects.get(clinic=clinic_a).built_at == built_at
    assert rebuild_snapshot.call(999_999) == "no such clinic"


def test_immediate_mode_does_not_rebuild_on_write(
    clinic_a, clinician, sim_cohort, make_patient, record_visit, monkeypatch,
    django_capture_on_commit_callbacks,
):  # fmt: skip
    # The default backend (ANAGEN_TASKS=immediate) runs a task inside the request that
    # enqueues it: a visit saved at 100,000 patients must not wait for a rebuild.
    assert not selectors.background_rebuilds()
    snap = services.rebuild_analysis_snapshot(clinic_a)
    enqueued = []
    monkeypatch.setattr(services, "enqueue_rebuild", enqueued.append)
    monkeypatch.setattr(services, "rebuild_analysis_snapshot", lambda *a, **k: 1 / 0)
    with django_capture_on_commit_callbacks(execute=True):
        add_patient_with_visits(clinic_a, clinician, make_patient, record_visit)
    assert enqueued == []
    assert AnalysisSnapshot.objects.get(clinic=clinic_a).built_at == snap.built_at
    assert not services.snapshot_is_fresh(clinic_a)


def test_immediate_mode_rebuilds_a_stale_snapshot_when_the_page_needs_it(
    client, clinic_a, clinician, sim_cohort, make_patient, record_visit
):
    services.rebuild_analysis_snapshot(clinic_a)
    add_patient_with_visits(clinic_a, clinician, make_patient, record_visit)
    client.force_login(clinician)
    html = client.get("/outcomes/cohort/").content.decode()
    assert 'id="stale-notice"' not in html  # no worker would ever refresh it: read now
    n = Patient.objects.filter(clinic=clinic_a).count()
    assert f"<strong>{n}</strong> patients match" in html
    assert services.snapshot_is_fresh(clinic_a)


# --- clinics -------------------------------------------------------------------------------


def test_each_clinic_has_its_own_snapshot_and_fingerprint(
    client, clinic_a, clinic_b, clinician, make_user, sim_cohort, make_patient, record_visit,
    worker_mode,
):  # fmt: skip
    other = make_user(Role.CLINICIAN, clinic_b)
    b_patient = add_patient_with_visits(clinic_b, other, make_patient, record_visit)
    services.rebuild_analysis_snapshot(clinic_a)
    services.rebuild_analysis_snapshot(clinic_b)
    cache.clear()
    a_tables = selectors.analysis_tables(clinic_a)
    b_tables = selectors.analysis_tables(clinic_b)
    a_ids = set(Patient.objects.filter(clinic=clinic_a).values_list("pk", flat=True))
    assert set(a_tables.attributes["patient_id"]) == a_ids
    assert set(b_tables.attributes["patient_id"]) == {b_patient.pk}
    assert set(b_tables.visits["patient_id"]) == {b_patient.pk}
    assert a_tables.fingerprint != b_tables.fingerprint
    # A write in clinic B leaves clinic A's snapshot fresh.
    add_patient_with_visits(clinic_b, other, make_patient, record_visit)
    assert services.snapshot_is_fresh(clinic_a)
    assert not services.snapshot_is_fresh(clinic_b)
    # Clinic B's user sees B's (stale) snapshot, never A's numbers.
    client.force_login(other)
    html = client.get("/outcomes/cohort/").content.decode()
    assert "<strong>1</strong> patient matches" in html and 'id="stale-notice"' in html


# --- command line --------------------------------------------------------------------------


def test_cli_rebuilds_one_clinic_or_all(clinic_a, clinic_b, clinician, sim_cohort):
    out = io.StringIO()
    call_command("outcomes", "rebuild-snapshot", "--clinic", "clinic-a", stdout=out)
    assert out.getvalue().startswith("clinic-a: analysis snapshot rebuilt in ")
    assert f"{sim_cohort.patients} patients" in out.getvalue()
    assert services.snapshot_is_fresh(clinic_a)
    assert not AnalysisSnapshot.objects.filter(clinic=clinic_b).exists()
    out = io.StringIO()
    call_command("outcomes", "rebuild-snapshot", stdout=out)
    assert [line.split(":")[0] for line in out.getvalue().splitlines()] == [
        "clinic-a",
        "clinic-b",
    ]
    assert services.snapshot_is_fresh(clinic_b)


def test_cli_names_an_unknown_clinic(clinic_a):
    with pytest.raises(CommandError, match="--clinic: no clinic with slug 'nowhere'"):
        call_command("outcomes", "rebuild-snapshot", "--clinic", "nowhere")
    assert not AnalysisSnapshot.objects.exists()


def test_cli_entry_point_exits_non_zero_with_one_line(clinic_a, capsys):
    from anagen import cli

    with pytest.raises(SystemExit) as exc:
        cli.main(["outcomes", "rebuild-snapshot", "--clinic", "nowhere"])
    assert exc.value.code != 0
    assert "no clinic with slug 'nowhere'" in capsys.readouterr().err
