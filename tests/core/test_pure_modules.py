"""The pure domain modules stay free of Django (DESIGN.md), and scripts/pure_modules.py, which
lists them for mypy, finds Django however indirectly it is imported."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load():
    spec = importlib.util.spec_from_file_location("pure_modules", ROOT / "scripts/pure_modules.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


pure_modules = _load().pure_modules


# The modules DESIGN.md names pure, and the imaging engine, simulator and statistics packages.
@pytest.mark.parametrize(
    "name",
    [
        "anagen.assessment.scales",
        "anagen.assessment.screening",
        "anagen.products.release",
        "anagen.monitoring.ctcae",
        "anagen.imaging.engine.analyze",
        "anagen.imaging.engine.synth",
        "anagen.outcomes.stats.mmrm",
        "anagen.simulation.engine",
        "anagen.simulation.trial",
    ],
)
def test_the_domain_logic_modules_import_no_django(name):
    assert name in pure_modules()


def test_views_and_models_are_not_pure():
    found = pure_modules()
    assert "anagen.assessment.views" not in found
    assert "anagen.monitoring.models" not in found


def _write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / "anagen" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_django_imported_through_another_module_or_a_package_init_makes_a_module_impure(tmp_path):
    src = _write(
        tmp_path,
        {
            "__init__.py": "",
            "a/__init__.py": "",
            "a/models.py": "from django.db import models\n",
            "a/uses_models.py": "from .models import models\n",
            "a/uses_relative_package.py": "from . import models\n",
            "a/pure.py": "import math\nfrom anagen.a import sibling\n",
            "a/sibling.py": "import numpy\n",
            "b/__init__.py": "import ninja\n",
            "b/leaf.py": "import math\n",
            "c/__init__.py": "",
            "c/calls_b.py": "from anagen.b.leaf import x\n",
        },
    )
    found = set(pure_modules(src))
    assert {"anagen.a.pure", "anagen.a.sibling", "anagen.a", "anagen"} <= found
    assert not found & {
        "anagen.a.models",
        "anagen.a.uses_models",
        "anagen.a.uses_relative_package",
        "anagen.b",
        "anagen.b.leaf",  # importing it runs b/__init__.py
        "anagen.c.calls_b",
    }


def test_the_script_prints_file_paths_for_mypy():
    out = subprocess.run(
        [sys.executable, "scripts/pure_modules.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert "src/anagen/imaging/engine/analyze.py" in out
    assert all((ROOT / p).is_file() for p in out)
