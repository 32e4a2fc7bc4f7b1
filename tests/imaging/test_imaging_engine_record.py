"""The accuracy record shown beside results is the benchmark's, for this engine version."""

from __future__ import annotations

import math
import re
from dataclasses import replace
from pathlib import Path

import pytest

from anagen.imaging.engine import ACCURACY_RECORD, ENGINE_VERSION, accuracy_record
from anagen.imaging.engine.compare import ANAGEN_NOT_VALIDATED
from anagen.imaging.engine.record import TRICHOGRAM_RECORD

RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "results_imaging.md"


def _accuracy_section() -> str:
    text = RESULTS.read_text()
    start = text.index("\n## Accuracy\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end > 0 else None]


def _target_row(section: str, label: str) -> float:
    match = re.search(rf"^\| {re.escape(label)} \| [^|]+ \| (-?[\d.]+) % \|", section, re.M)
    assert match, f"no row {label!r} in the Accuracy section"
    return float(match.group(1))


def test_the_record_is_the_benchmark_run_of_record():
    section = _accuracy_section()
    assert f"- date: {ACCURACY_RECORD.run}" in section
    assert f"- engine version: {ACCURACY_RECORD.engine_version}" in section
    assert _target_row(section, "count MAE overall") == ACCURACY_RECORD.count_mae_pct
    assert _target_row(section, "count bias overall") == ACCURACY_RECORD.count_bias_pct
    assert _target_row(section, "test-retest CV (count)") == ACCURACY_RECORD.retest_cv_count_pct
    assert (
        _target_row(section, "test-retest CV (mean diameter)")
        == ACCURACY_RECORD.retest_cv_mean_diameter_pct
    )
    assert (
        _target_row(section, "test-retest CV (cumulative thickness)")
        == ACCURACY_RECORD.retest_cv_thickness_pct
    )
    suite = re.search(r"Suite: (\d+) images .* \+ (\d+) images of the dense stratum", section)
    assert suite and int(suite.group(1)) + int(suite.group(2)) == ACCURACY_RECORD.images
    faint = re.search(
        r"^\| quality flag faint_hairs raised \| (\d+) \([^|]+\| [^|]+\| ([-\d.]+) \| ([-\d.]+) \|",
        section,
        re.M,
    )
    assert faint, "no faint_hairs row in the per-stratum table"
    assert int(faint.group(1)) == ACCURACY_RECORD.faint_images
    assert float(faint.group(2)) == ACCURACY_RECORD.faint_count_mae_pct
    assert float(faint.group(3)) == ACCURACY_RECORD.faint_count_bias_pct


def test_the_record_belongs_to_this_engine_version():
    # A new ENGINE_VERSION (its results changed) needs a new benchmark run and record.
    assert ACCURACY_RECORD.engine_version == ENGINE_VERSION
    assert accuracy_record(ENGINE_VERSION) is ACCURACY_RECORD
    assert accuracy_record("0.0.1") is None


def test_the_summary_says_how_far_to_trust_the_count_and_what_to_do():
    text = ACCURACY_RECORD.summary()
    assert f"{ACCURACY_RECORD.count_mae_pct:g} %" in text
    assert "undercounting" in text  # the record's bias is negative
    assert "Check the overlay" in text
    assert "faint hairs" not in text


def test_a_faint_hair_image_also_gets_the_figures_of_such_images():
    text = ACCURACY_RECORD.summary(["faint_hairs"])
    assert "flagged for faint hairs, like this one, it missed by " in text
    assert f"{ACCURACY_RECORD.faint_count_mae_pct:g} %" in text
    assert text.endswith("Check the overlay and correct it before relying on the count.")


def test_the_summary_gives_the_smallest_change_between_visits_that_is_not_noise():
    # Two measurements with a CV of 5 % differ by their sqrt(2) x 5 % SD; 95 % lie within
    # 1.96 times that: 13.9 %.
    record = replace(
        ACCURACY_RECORD,
        retest_cv_count_pct=5.0,
        retest_cv_mean_diameter_pct=2.0,
        retest_cv_thickness_pct=10.0,
    )
    assert record.least_significant_change_pct == pytest.approx(1.96 * math.sqrt(2) * 5.0)
    assert record.least_significant_change_pct == pytest.approx(13.86, abs=0.01)
    assert record.least_significant_change_mean_diameter_pct == pytest.approx(5.54, abs=0.01)
    assert record.least_significant_change_thickness_pct == pytest.approx(27.72, abs=0.01)
    assert (
        "between two visits a change under about 14 % in the count (under 6 % in the mean "
        "diameter) can be measurement noise alone" in record.summary()
    )


def _newest_trichogram_section() -> str:
    text = RESULTS.read_text()
    start = re.search(r"^## [^\n]*: two-visit trichogram ", text, re.M)
    assert start, "no two-visit trichogram section in results_imaging.md"
    end = text.find("\n## ", start.start() + 1)
    return text[start.start() : end if end > 0 else None]


def _points_row(section: str, label: str) -> str:
    match = re.search(rf"^\| {re.escape(label)} \| ([^|]+) \|", section, re.M)
    assert match, f"no row {label!r} in the trichogram section"
    return match.group(1).strip()


def test_the_anagen_note_gives_the_newest_trichogram_benchmark_of_this_engine():
    section = _newest_trichogram_section()
    r = TRICHOGRAM_RECORD
    assert section.startswith(f"## {r.run}: two-visit trichogram")
    assert f"Engine {r.engine_version};" in section and r.engine_version == ENGINE_VERSION
    assert f"; {r.pairs} pairs used" in section
    assert (
        _points_row(section, "anagen % error, mean (bias)") == f"{r.mean_error_points:+.1f} points"
    )
    assert _points_row(section, "anagen % error, mean absolute") == f"{r.mae_points:.1f} points"
    assert (
        _points_row(section, "anagen % error, range")
        == f"{r.min_error_points:+.1f} to {r.max_error_points:+.1f} points"
    )
    assert _points_row(section, "grown hairs called anagen (per hair)").startswith(
        f"{r.grown_called_anagen_pct:.0f} %"
    )
    assert _points_row(section, "resting hairs called telogen (per hair)").startswith(
        f"{r.resting_called_telogen_pct:.0f} %"
    )
    note = ANAGEN_NOT_VALIDATED
    assert note.startswith("Not validated") and f"{r.mae_points:g} points" in note
    assert "not recorded" in note and "enter the anagen % by hand" in note
