import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def run_check_deploy(tmp_path, **extra):
    base = {
        k: v
        for k, v in os.environ.items()
        if k not in ("ANAGEN_DEBUG", "ANAGEN_HTTPS", "DJANGO_ALLOW_ASYNC_UNSAFE")
    }
    env = {
        **base,
        "DJANGO_SETTINGS_MODULE": "anagen.settings",
        "ANAGEN_SECRET_KEY": "k" * 64 + "-not-a-real-secret-but-long-and-random-enough-xyz",
        "ANAGEN_ALLOWED_HOSTS": "clinic.example.org",
        "ANAGEN_VAR_DIR": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path}/x.sqlite3",
        **extra,
    }
    return subprocess.run(
        [sys.executable, "-m", "django", "check", "--deploy", "--fail-level", "WARNING"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_settings_pass_check_deploy_without_warnings(tmp_path):
    result = run_check_deploy(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_debug_on_in_production_is_reported_by_check_deploy(tmp_path):
    result = run_check_deploy(tmp_path, ANAGEN_DEBUG="1")
    assert result.returncode != 0 and "DEBUG" in result.stdout + result.stderr


def test_a_malformed_boolean_setting_is_a_clear_error(tmp_path):
    result = run_check_deploy(tmp_path, ANAGEN_DEBUG="maybe")
    assert result.returncode != 0 and "ANAGEN_DEBUG must be a boolean" in result.stderr


@pytest.mark.parametrize(
    ("name", "value"),
    [("ANAGEN_SESSION_SECONDS", "30m"), ("ANAGEN_LOGIN_FAILURE_LIMIT", "0"),
     ("ANAGEN_MAX_BODY_BYTES", "2MB"), ("ANAGEN_DB_CONN_MAX_AGE", "-1")],
)  # fmt: skip
def test_a_malformed_number_setting_is_a_clear_error_naming_it(tmp_path, name, value):
    """ "30m" was "invalid literal for int() with base 10", naming no variable; a failure
    limit of 0 started, and locked every sign-in out (review)."""
    result = run_check_deploy(tmp_path, **{name: value})
    assert result.returncode != 0
    assert f"{name} must be a whole number of at least" in result.stderr, result.stderr


@pytest.mark.parametrize("key", ["changeme", "x" * 60, "django-insecure-" + "k3y" * 20])
def test_a_weak_secret_key_stops_a_production_start(tmp_path, key):
    """ANAGEN_SECRET_KEY=changeme started with debugging off: only `check --deploy` warned,
    and a key that weak lets anyone forge a session (review)."""
    result = run_check_deploy(tmp_path, ANAGEN_SECRET_KEY=key)
    assert result.returncode != 0
    assert "ANAGEN_SECRET_KEY is too weak" in result.stderr, result.stderr
    # The demo (debugging on) may keep a short one.
    demo = run_check_deploy(tmp_path, ANAGEN_SECRET_KEY=key, ANAGEN_DEBUG="1")
    assert "ANAGEN_SECRET_KEY is too weak" not in demo.stderr


def test_the_database_task_backend_passes_check_deploy_and_a_typo_is_a_clear_error(tmp_path):
    result = run_check_deploy(tmp_path, ANAGEN_TASKS="database")
    assert result.returncode == 0, result.stdout + result.stderr
    result = run_check_deploy(tmp_path, ANAGEN_TASKS="celery")
    assert result.returncode != 0 and "ANAGEN_TASKS must be one of" in result.stderr


@pytest.mark.django_db
def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(tmp_path):
    if connection.vendor != "sqlite":
        pytest.skip("SQLite-only setting")
    from django.conf import settings

    options = settings.DATABASES["default"]["OPTIONS"]
    assert options["timeout"] >= 5
    # The test database is in memory (no WAL there); open a file database with our options.
    import sqlite3

    conn = sqlite3.connect(tmp_path / "wal.sqlite3", timeout=options["timeout"])
    for statement in options["init_command"].split(";"):
        if statement.strip():
            conn.execute(statement)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_security_headers_and_csp_are_sent(client, db):
    response = client.get("/accounts/login/")
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "'unsafe-inline'" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"


@pytest.mark.django_db
def test_every_model_change_has_a_migration():
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    try:
        call_command("makemigrations", "--check", "--dry-run", stdout=out, stderr=out)
    except SystemExit as exc:  # --check exits 1 when a migration is missing
        pytest.fail(f"missing migrations (exit {exc.code}):\n{out.getvalue()}")


def test_the_test_suite_stores_uploads_where_two_readers_do_not_share_a_position():
    """The live server serves one photo to two requests at once (its image and its overlay):
    each opener must get its own handle, as with the production storage."""
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    name = default_storage.save("storage-check/photo.bin", ContentFile(b"0123456789"))
    try:
        with default_storage.open(name, "rb") as first, default_storage.open(name, "rb") as other:
            assert first.read() == b"0123456789"
            assert other.read(4) == b"0123"
    finally:
        default_storage.delete(name)
