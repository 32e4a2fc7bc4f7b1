"""A server process imports the URLconf when it starts, not on its first request."""

from __future__ import annotations

import os
import subprocess
import sys

PROBE = """
import sys
import {module}
print("anagen.api.v1" in sys.modules, "anagen.outcomes.views" in sys.modules)
"""


def _imported_after(module: str, tmp_path) -> str:
    env = os.environ | {
        "DJANGO_SETTINGS_MODULE": "anagen.settings",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'probe.sqlite3'}",
    }
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(module=module)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout.strip()


def test_django_alone_leaves_the_urlconf_for_the_first_request(tmp_path):
    # Why the warm-up exists: setting Django up imports no view.
    probe = "django\nimport django; django.setup()"
    assert _imported_after(probe, tmp_path) == "False False"


def test_the_wsgi_and_asgi_applications_import_every_view_at_start(tmp_path):
    assert _imported_after("anagen.wsgi", tmp_path) == "True True"
    assert _imported_after("anagen.asgi", tmp_path) == "True True"
