"""`anagen load_demo` on a database it cannot use says so in one line (it printed a
traceback ending in "no such table" on an unmigrated database)."""

import os
import subprocess
import sys
from pathlib import Path


def test_load_demo_on_an_unmigrated_database_is_one_line_and_exit_1(tmp_path):
    script = Path(sys.executable).parent / "anagen"
    done = subprocess.run(
        [str(script), "load_demo"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'empty.sqlite3'}"},
    )
    assert done.returncode == 1
    assert "the database is not ready" in done.stderr
    assert "run `anagen migrate` first" in done.stderr
    assert "Traceback" not in done.stderr


def test_load_demo_refuses_a_database_with_a_real_clinic_and_adds_nothing(clinic_a, db):
    """The demo's accounts have published passwords ("admin-demo-2026"): loaded into a
    clinic's own database they would be ways in."""
    import pytest
    from django.core.management import call_command
    from django.core.management.base import CommandError

    from anagen.accounts.models import Clinic, User

    with pytest.raises(CommandError, match="holds clinics other than the demo's"):
        call_command("load_demo")
    assert list(Clinic.objects.values_list("slug", flat=True)) == [clinic_a.slug]
    assert not User.objects.filter(username="admin").exists()
