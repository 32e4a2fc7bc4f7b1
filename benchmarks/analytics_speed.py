"""Cohort analytics speed: filters + mean change with CI per visit + MMRM on a large cohort.

For each database (SQLite file, PostgreSQL database) the script creates a throwaway
database, migrates it, loads ``--patients`` simulated patients x 8 visits (weeks
0/4/8/12/16/24/36/48) in chunks with ``anagen.outcomes.demo.load_simulated_cohort``
(``fast=True``: one executemany per table; plain ``bulk_create`` compiles every value in
Python at ~0.5 ms per row, i.e. ~20 minutes per database for 2 million rows here), then
measures:

- page: GET /outcomes/cohort/ through Django's test client as a clinician (the full
  request: session, permission, filter form, all queries, pandas, statistics incl. the
  MMRM, template rendering), unfiltered and filtered; best and median of ``--repeats``:
  (a) with a fresh analysis snapshot and Django's cache cleared before each request (as
  after a restart); (b) right after a visit is recorded (the snapshot is then stale: the
  rebuild is queued with ANAGEN_TASKS=database but no worker runs it here, so the page
  serves the stale snapshot with its notice), cache cleared and warm; warm (data unchanged:
  tables and result cached); and once each with no snapshot and nothing cached (a new
  deployment: the page reads the clinical tables itself);
- (c) the snapshot rebuild (``outcomes.services.rebuild_analysis_snapshot``: what the
  background task does) and the time to save a visit (which only enqueues it);
- the MMRM fit alone (``fit_mmrm`` on the same long table: 100,000 x 7 post-baseline
  visits, 5 arms, baseline x visit), and the breakdown of one page request.

Targets (issue 8): page < 2 s; MMRM fit on 100,000 x 8 < 5 s. Each database runs in its own
process (Django settings are per process). The throwaway databases are dropped at the end.

    .venv/bin/python benchmarks/analytics_speed.py [--patients 100000] [--db sqlite,postgres]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VISIT_WEEKS = (0, 4, 8, 12, 16, 24, 36, 48)


def worker(url: str, patients: int, chunk: int, repeats: int) -> dict:
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "anagen.settings_test")
    # Tasks go to the database queue as in production (ANAGEN_TASKS=database); no worker runs
    # them here, so a write leaves the snapshot stale until the benchmark rebuilds it.
    os.environ["ANAGEN_TASKS"] = "database"
    sys.path.insert(0, str(ROOT / "src"))
    import django

    django.setup()
    # As a server process does at start (anagen.wsgi, anagen.asgi): the URLconf, every view
    # and the API's schemas are imported before the first request, not during it.
    from anagen.core.warmup import load_urlconf

    load_urlconf()
    import numpy as np
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    from anagen.accounts.models import Clinic, User
    from anagen.accounts.roles import Role
    from anagen.accounts.services import set_membership
    from anagen.outcomes import cohort, selectors
    from anagen.outcomes.demo import load_simulated_cohort
    from anagen.outcomes.stats import fit_mmrm

    out: dict = {"database": connection.vendor, "patients": patients}
    t = time.perf_counter()
    call_command("migrate", verbosity=0)
    out["migrate_s"] = time.perf_counter() - t
    clinic = Clinic.objects.create(name="Benchmark clinic", slug="bench")
    user = User.objects.create_user(username="bench-clinician", password="x-bench-password-1")
    set_membership(user, clinic, Role.CLINICIAN)
    sim_s = insert_s = 0.0
    counts = {"visits": 0, "measurements": 0, "sessions": 0, "adverse_events": 0}
    t = time.perf_counter()
    for k, start in enumerate(range(0, patients, chunk)):
        n = min(chunk, patients - start)
        loaded = load_simulated_cohort(
            clinic,
            user,
            n,
            seed=100 + k,
            visit_weeks=VISIT_WEEKS,
            mrn_prefix=f"B{k:03d}",
            dropout_per_year=0.15,
            workers=2,
            fast=True,
        )
        sim_s += loaded.seconds_simulate
        insert_s += loaded.seconds_insert
        for key in counts:
            counts[key] += getattr(loaded, key)
        print(f"  loaded {start + n} patients ({time.perf_counter() - t:.0f} s)", flush=True)
    out.update(load_total_s=time.perf_counter() - t, simulate_s=sim_s, insert_s=insert_s)
    out.update(counts)
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute("ANALYZE")
    client = Client()
    client.force_login(user)

    from datetime import date, timedelta

    from django.core.cache import cache

    from anagen.monitoring.services import record_visit
    from anagen.outcomes.models import AnalysisSnapshot
    from anagen.outcomes.services import rebuild_analysis_snapshot
    from anagen.patients.models import Patient

    def get(params: dict, *, stale: bool) -> float:
        t0 = time.perf_counter()
        r = client.get("/outcomes/cohort/", params)
        elapsed = time.perf_counter() - t0
        assert r.status_code == 200, r.status_code
        assert b"Missing data handling" in r.content
        assert (b'id="stale-notice"' in r.content) is stale, "stale notice expected" if stale \
            else "unexpected stale notice"  # fmt: skip
        return elapsed

    def page(params: dict, *, clear: bool, n: int = repeats) -> list[float]:
        times = []
        for _ in range(n):
            if clear:
                cache.clear()  # as after a restart: nothing in Django's cache
            times.append(get(params, stale=False))
        return times

    filt = {"modality": "exosome", "sex": "male", "landmark": "24"}
    # (c) The snapshot rebuild (what the background task does after a write).
    rebuilds = []
    for _ in range(max(1, repeats - 1)):
        t0 = time.perf_counter()
        snap = rebuild_analysis_snapshot(clinic)
        rebuilds.append(time.perf_counter() - t0)
    out["snapshot_rebuild_s"] = rebuilds
    out["snapshot_bytes"] = snap.size_bytes
    # (a) Fresh snapshot, empty Django cache (e.g. after a restart or a deploy).
    out["page_snapshot_unfiltered_s"] = page({}, clear=True)
    # The process's first page request (after the snapshot rebuild above, as on a server
    # whose worker rebuilt it).
    out["first_request_s"] = out["page_snapshot_unfiltered_s"][0]
    out["page_snapshot_filtered_s"] = page(filt, clear=True)
    # Warm: the data did not change, so the fingerprinted cache answers (first call fills it).
    cache.clear()
    page({}, clear=False, n=1)
    out["page_warm_unfiltered_s"] = page({}, clear=False)
    out["page_warm_new_filter_s"] = page(filt, clear=False, n=1)  # tables cached, result not
    # (b) Right after a write: a visit is recorded (the worker's rebuild is queued, not run:
    # nothing runs `anagen db_worker` here), so the page serves the now stale snapshot with
    # its notice. Worst case: Django's cache empty too; usual case: warm.
    patient = Patient.objects.filter(clinic=clinic).order_by("pk").first()
    writes, after_cold, after_warm = [], [], []
    for k in range(repeats):
        for times, clear in ((after_cold, True), (after_warm, False)):
            t0 = time.perf_counter()
            day = date(2026, 1, 1) + timedelta(days=len(writes))
            values = {"visit_date": day, "target_area_cm2": 1.0, "density_per_cm2": 150.0 + k}
            record_visit(patient, user, values)
            writes.append(time.perf_counter() - t0)
            if clear:
                cache.clear()
            times.append(get({}, stale=True))
    out["visit_write_s"] = writes
    out["page_after_write_cold_s"] = after_cold
    out["page_after_write_warm_s"] = after_warm
    from django_tasks_db.models import DBTaskResult

    out["rebuilds_queued"] = DBTaskResult.objects.filter(
        task_path__endswith="rebuild_snapshot"
    ).count()
    # No snapshot and nothing cached (a new deployment before its first rebuild): the page
    # reads the clinical tables itself and stores the snapshot. Once each.
    rebuild_analysis_snapshot(clinic)
    for key, params in (("page_unfiltered_s", {}), ("page_filtered_s", filt)):
        AnalysisSnapshot.objects.all().delete()
        cache.clear()
        out[key] = [get(params, stale=False)]
    t0 = time.perf_counter()
    selectors.data_fingerprint(clinic)
    out["fingerprint_s"] = time.perf_counter() - t0
    # One request's breakdown (same code as the page, nothing cached).
    view = selectors.cohort_analysis(
        clinic, cohort.CohortFilters(), cohort.CohortOptions(), deidentified=False,
        use_cache=False,
    )  # fmt: skip
    out["breakdown_s"] = view.timings
    out["mmrm_ok"] = view.result.sections["mmrm"].ok
    out["mmrm_message"] = view.result.sections["mmrm"].message
    # The MMRM fit alone on the same long table.
    tables = selectors.analysis_tables(clinic, use_cache=False)
    long = cohort.build_long(tables.visits, tables.measurements, "density_per_cm2")
    rows = long.rows[long.rows["change"].notna()]
    arm = tables.attributes.set_index("patient_id")["arm"]
    base = long.baselines.set_index("patient_id")["baseline"]
    pid = rows["patient_id"].to_numpy()
    fits = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fit = fit_mmrm(
            pid,
            arm.reindex(pid).to_numpy(),
            rows["week"].to_numpy(),
            base.reindex(pid).to_numpy(),
            rows["change"].to_numpy(),
            reference_arm="none",
        )
        fits.append(time.perf_counter() - t0)
    out["mmrm_fit_s"] = fits
    t0 = time.perf_counter()
    fit.with_df_method("kenward-roger")
    out["kenward_roger_s"] = time.perf_counter() - t0
    out["mmrm_subjects"] = fit.n_subjects
    out["mmrm_observations"] = fit.n_observations
    out["mmrm_visits"] = len(fit.visits)
    out["mmrm_arms"] = len(fit.arms)
    out["long_rows"] = int(len(rows))
    out["mean_contrast_week48"] = float(
        np.mean([c.estimate for c in fit.contrasts if c.visit == "48.0"])
    )
    return out


def _pg_admin_url() -> str | None:
    url = subprocess.run(
        [str(ROOT / "scripts" / "postgres-url")], capture_output=True, text=True, cwd=ROOT
    ).stdout.strip()
    return url or None


def run_one(kind: str, args: argparse.Namespace) -> dict:
    cleanup = None
    if kind == "sqlite":
        path = Path(tempfile.mkdtemp(prefix="anagen-bench-")) / "bench.sqlite3"
        url = f"sqlite:///{path}"

        def cleanup() -> None:
            for p in path.parent.glob("bench.sqlite3*"):
                p.unlink()
            path.parent.rmdir()
    else:
        admin = _pg_admin_url()
        if not admin:
            return {"database": "postgresql", "skipped": "no PostgreSQL server answers"}
        import psycopg

        name = f"anagen_bench_{os.getpid()}"
        base = admin.rsplit("/", 1)[0]
        with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
        url = f"{base}/{name}"

        def cleanup() -> None:
            with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    try:
        cmd = [sys.executable, __file__, "--worker", url, "--patients", str(args.patients),
               "--chunk", str(args.chunk), "--repeats", str(args.repeats)]  # fmt: skip
        env = dict(os.environ)
        if args.blas_threads:
            # NumPy reads these once, at import: they must be set before the worker starts.
            for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
                env[var] = str(args.blas_threads)
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env)
        sys.stdout.write(proc.stdout.split("@@RESULT@@")[0])
        if proc.returncode != 0:
            return {"database": kind, "error": proc.stderr[-2000:]}
        return json.loads(proc.stdout.split("@@RESULT@@")[1])
    finally:
        if cleanup is not None:
            cleanup()


def fmt(xs: list[float]) -> str:
    return f"best {min(xs):.2f} s, median {statistics.median(xs):.2f} s"


def report(results: list[dict], args: argparse.Namespace) -> str:
    load = os.getloadavg()
    lines = [
        "# Analytics speed benchmark (cohort page and MMRM)",
        "",
        f"- date: {time.strftime('%Y-%m-%dT%H:%M:%S%z')}",
        f"- machine: `{' '.join(platform.uname())}`",
        f"- nproc: {os.cpu_count()}; python {platform.python_version()}",
        f"- load average at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (2 cores shared "
        "with four other engineers' jobs: figures are noisy and likely pessimistic)",
        f"- command: `.venv/bin/python benchmarks/analytics_speed.py --patients {args.patients}"
        f" --db {args.db} --blas-threads {args.blas_threads}`",
        f"- BLAS threads in the measured process: "
        f"{args.blas_threads or 'library default (one per core)'}",
        f"- data: {args.patients:,} simulated patients (anagen.simulation), visits at weeks "
        f"{', '.join(map(str, VISIT_WEEKS))} (15 %/year dropout), 5 arms, loaded into a "
        "throwaway database with one executemany per table (load_simulated_cohort fast=True)",
        "- page = GET /outcomes/cohort/ via Django's test client (session, permission, form, "
        "queries, pandas, mean change with CI, responders, ANCOVA, MMRM with Kenward-Roger, AE "
        "incidence, template); filtered = modality exosome + male + landmark week 24",
        "",
        "- tasks: ANAGEN_TASKS=database (rebuilds are queued in the database; no worker runs "
        "them during the benchmark, so after a write the page serves the stale snapshot)",
        "",
        "| database | patients | visits | load (simulate + insert) | snapshot rebuild (c) | "
        "page, fresh snapshot, empty cache (a): unfiltered | (a) first request of the process | "
        "(a) filtered | "
        "page right after a write, stale snapshot + notice, empty cache (b) | (b) warm cache | "
        "visit save (enqueues the rebuild) | page warm (cached) | warm, new filter | "
        "page, no snapshot, nothing cached: unfiltered / filtered | MMRM fit alone | targets |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        if "skipped" in r or "error" in r:
            lines.append(f"| {r['database']} | — | — | {r.get('skipped') or 'error'} |" + " |" * 12)
            continue
        snap_ok = (
            min(r["page_snapshot_unfiltered_s"]) < 2 and min(r["page_snapshot_filtered_s"]) < 2
        )
        stale_ok = min(r["page_after_write_cold_s"]) < 2
        warm_ok = min(r["page_warm_unfiltered_s"]) < 2
        cold_ok = min(r["page_unfiltered_s"]) < 2 and min(r["page_filtered_s"]) < 2
        mmrm_ok = min(r["mmrm_fit_s"]) < 5
        lines.append(
            f"| {r['database']} | {r['patients']:,} | {r['visits']:,} | "
            f"{r['load_total_s']:.0f} s ({r['simulate_s']:.0f} + {r['insert_s']:.0f}) | "
            f"{fmt(r['snapshot_rebuild_s'])}, {r['snapshot_bytes'] / 1e6:.1f} MB | "
            f"{fmt(r['page_snapshot_unfiltered_s'])} | {r['first_request_s']:.2f} s | "
            f"{fmt(r['page_snapshot_filtered_s'])} | "
            f"{fmt(r['page_after_write_cold_s'])} | {fmt(r['page_after_write_warm_s'])} | "
            f"{fmt(r['visit_write_s'])} | "
            f"{fmt(r['page_warm_unfiltered_s'])} | {r['page_warm_new_filter_s'][0]:.2f} s | "
            f"{r['page_unfiltered_s'][0]:.2f} s / {r['page_filtered_s'][0]:.2f} s | "
            f"{fmt(r['mmrm_fit_s'])} | page < 2 s: with snapshot {'met' if snap_ok else 'NOT met'}"
            f", after a write {'met' if stale_ok else 'NOT met'}, "
            f"warm {'met' if warm_ok else 'NOT met'}, "
            f"without any snapshot {'met' if cold_ok else 'NOT met'}; "
            f"MMRM < 5 s: {'met' if mmrm_ok else 'NOT met'} |"
        )
    lines.append("")
    for r in results:
        if "breakdown_s" not in r:
            if "error" in r:
                lines += [f"## {r['database']}: error", "", "```", r["error"], "```", ""]
            continue
        b = r["breakdown_s"]
        lines += [
            f"## {r['database']}: one unfiltered request, broken down",
            "",
            f"- read visits {b['visits_s']:.2f} s, measurements {b['measurements_s']:.2f} s, "
            f"patients/diagnoses/sessions/lots/events {b['attributes_s']:.2f} s",
            f"- long table (baseline, windows, change) {b['long_table_s']:.2f} s; statistics "
            f"(CI per visit, responders, ANCOVA, MMRM + Kenward-Roger) {b['statistics_s']:.2f} s",
            f"- total selector {b['total_s']:.2f} s (the rest of the page time is the request "
            "and template)",
            f"- MMRM: {r['mmrm_subjects']:,} subjects, {r['mmrm_observations']:,} observations, "
            f"{r['mmrm_visits']} post-baseline visits, {r['mmrm_arms']} arms; Kenward-Roger on "
            f"top of the fit {r['kenward_roger_s']:.2f} s; page MMRM ok: {r['mmrm_ok']}",
            f"- data fingerprint of the clinic (cache and snapshot key) "
            f"{r['fingerprint_s'] * 1000:.0f} ms; rebuilds queued by "
            f"{len(r['visit_write_s'])} visit saves: {r['rebuilds_queued']}",
            f"- rows: {r['visits']:,} visits, {r['measurements']:,} measurements, "
            f"{r['sessions']:,} sessions, {r['adverse_events']:,} adverse events",
            "",
        ]
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patients", type=int, default=100_000)
    ap.add_argument("--chunk", type=int, default=10_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--db", default="sqlite,postgres")
    ap.add_argument(
        "--blas-threads",
        type=int,
        default=1,
        help="OPENBLAS/OMP threads in the worker (0 = library default)",
    )
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results_analytics.md"))
    ap.add_argument("--worker", metavar="DATABASE_URL")
    args = ap.parse_args()
    if args.worker:
        result = worker(args.worker, args.patients, args.chunk, args.repeats)
        print("@@RESULT@@" + json.dumps(result))
        return 0
    results = []
    for kind in args.db.split(","):
        print(f"{kind}: {args.patients} patients", flush=True)
        results.append(run_one(kind.strip(), args))
        print(json.dumps(results[-1], indent=1), flush=True)
    text = report(results, args)
    Path(args.out).write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
