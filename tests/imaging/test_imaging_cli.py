"""`anagen image ...`: analyze, batch (progress bar + CSV), calibrate, compare, synth, errors."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from PIL import Image

from anagen.imaging import cli, engine
from anagen.imaging.engine import ACCURACY_RECORD, ENGINE_VERSION, synth
from anagen.imaging.engine.compare import ANAGEN_NOT_VALIDATED


@pytest.fixture(scope="module")
def image_file(tmp_path_factory):
    d = tmp_path_factory.mktemp("img")
    img, truth = synth.generate(
        synth.SynthParams(width=400, height=320, um_per_px=5.0, glare=0.0, density_per_cm2=200),
        3,
    )
    path = d / "field.png"
    Image.fromarray(img).save(path)
    return path, truth


def test_analyze_prints_a_readable_summary(image_file, capsys):
    path, _ = image_file
    assert cli.main(["analyze", str(path), "--um-per-px", "5"]) == 0
    out = capsys.readouterr().out
    assert "hairs:" in out and "/cm²" in out and "cumulative thickness" in out
    # ... and how far the count can be trusted, from the engine's benchmark record.
    assert f"accuracy: On {ACCURACY_RECORD.images} generated test images" in out


def test_analyze_explains_each_quality_flag(tmp_path, capsys):
    img, _ = synth.generate(
        synth.SynthParams(width=640, height=512, um_per_px=5.0, glare=0.0, density_per_cm2=200,
                          hair_colour="blond", fitzpatrick=5),
        1,
    )  # fmt: skip
    path = tmp_path / "blond.png"
    Image.fromarray(img).save(path)
    assert cli.main(["analyze", str(path), "--um-per-px", "5"]) == 0
    out = capsys.readouterr().out
    assert "quality flags: faint_hairs" in out
    assert "faint_hairs: Faint hairs: the hairs barely stand out" in out
    assert "flagged for faint hairs, like this one" in out


def test_analyze_json_and_overlay(image_file, tmp_path, capsys):
    path, truth = image_file
    ov = tmp_path / "out" / "overlay.png"
    assert cli.main(["analyze", str(path), "--um-per-px", "5", "--json", "--overlay", str(ov)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["um_per_px"] == 5.0
    assert data["summary"]["count"] == len([h for h in data["hairs"] if h["counted"]])
    assert abs(data["summary"]["count"] - truth.count) <= max(3, 0.3 * truth.count)
    with Image.open(ov) as im:
        assert im.size == (400, 320) and im.mode == "RGB"


def test_analyze_with_known_field_of_view(image_file, capsys):
    path, _ = image_file
    assert cli.main(["analyze", str(path), "--field-width-mm", "2.0", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["um_per_px"] == pytest.approx(5.0)


def test_missing_calibration_is_one_line_and_exit_2(image_file, capsys):
    path, _ = image_file
    assert cli.main(["analyze", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "calibration" in err and "\n" not in err


@pytest.mark.parametrize(
    ("payload", "needle"),
    [(b"hello, not an image", "not a recognised image"), (None, "no such file")],
)
def test_bad_files_are_one_line_errors(tmp_path, capsys, payload, needle):
    f = tmp_path / "x.png"
    if payload is not None:
        f.write_bytes(payload)
    assert cli.main(["analyze", str(f), "--um-per-px", "5"]) == 2
    err = capsys.readouterr().err
    assert needle in err and err.count("\n") == 1 and "Traceback" not in err


def test_usage_errors_exit_2(capsys):
    assert cli.main(["analyze"]) == 2
    assert cli.main(["frobnicate"]) == 2
    assert "error:" in capsys.readouterr().err


def test_batch_writes_csv_with_a_row_per_image_and_reports_failures(image_file, tmp_path, capsys):
    path, _ = image_file
    folder = tmp_path / "batch"
    folder.mkdir()
    for i in range(2):
        (folder / f"f{i}.png").write_bytes(path.read_bytes())
    # A file name that a spreadsheet would run as a formula stays text in the CSV.
    (folder / "=broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    (folder / "notes.txt").write_text("ignored: not an image suffix")
    out_csv = tmp_path / "res.csv"
    code = cli.main(
        [
            "batch",
            str(folder),
            "--um-per-px",
            "5",
            "--csv",
            str(out_csv),
            "--overlay-dir",
            str(tmp_path / "ov"),
        ]
    )
    assert code == 1  # one file failed; the others are in the CSV
    captured = capsys.readouterr()
    assert "analysing" in captured.err and "3/3" in captured.err  # tqdm progress bar
    assert "2 of 3 images analysed" in captured.out
    assert "skipped 1 file not of the types the batch analyses" in captured.err
    assert captured.err.count("notes.txt") == 1
    rows = list(csv.DictReader(out_csv.open()))
    assert [r["file"] for r in rows] == ["'=broken.jpg", "f0.png", "f1.png"]
    assert rows[0]["status"] == "error" and rows[0]["error"]
    assert rows[1]["status"] == "ok" and int(rows[1]["count"]) > 0
    assert rows[1]["count"] == rows[2]["count"]
    assert "density_per_cm2" in rows[1] and "diameter_bin_<30" in rows[1]
    # Each row says which scale and which engine version made it.
    assert rows[1]["um_per_px"] == "5.0" and rows[1]["engine_version"] == ENGINE_VERSION
    assert float(rows[1]["hair_contrast_snr"]) > 0 and "quality_flags" in rows[1]
    assert sorted(p.name for p in (tmp_path / "ov").iterdir()) == [
        "f0.png.overlay.png",
        "f1.png.overlay.png",
    ]


def test_batch_says_which_files_of_other_types_it_skipped(image_file, tmp_path, capsys):
    """A .gif is read by `anagen image analyze` but not by the batch: the batch says so
    instead of leaving it out of the CSV in silence."""
    folder = _batch_folder(image_file, tmp_path, n=1)
    with Image.open(image_file[0]) as im:
        im.save(folder / "field.gif")
    (folder / ".DS_Store").write_bytes(b"\0")
    (folder / "sub").mkdir()
    out_csv = tmp_path / "res.csv"
    assert cli.main(["batch", str(folder), "--um-per-px", "5", "--csv", str(out_csv)]) == 0
    err = capsys.readouterr().err
    assert "skipped 1 file not of the types the batch analyses (.bmp, " in err
    assert err.rstrip().splitlines()[0].endswith(": field.gif")
    assert [r["file"] for r in csv.DictReader(out_csv.open())] == ["f0.png"]


def _batch_folder(image_file, tmp_path, n=3):
    path, _ = image_file
    folder = tmp_path / "batch"
    folder.mkdir()
    for i in range(n):
        (folder / f"f{i}.png").write_bytes(path.read_bytes())
    return folder


def _raise_on_second_image(monkeypatch, exc: BaseException) -> None:
    """The engine raises ``exc`` on the batch's second image and analyses the others."""
    real = engine.analyze
    calls = []

    def analyze(img, *a, **kw):
        calls.append(1)
        if len(calls) == 2:
            raise exc
        return real(img, *a, **kw)

    monkeypatch.setattr(engine, "analyze", analyze)


def test_batch_goes_on_after_an_internal_error_in_one_image(
    image_file, tmp_path, monkeypatch, capsys
):
    folder = _batch_folder(image_file, tmp_path)
    _raise_on_second_image(monkeypatch, RuntimeError("boom\nsecond line"))
    out_csv = tmp_path / "res.csv"
    assert cli.main(["batch", str(folder), "--um-per-px", "5", "--csv", str(out_csv)]) == 1
    rows = list(csv.DictReader(out_csv.open()))
    assert [r["status"] for r in rows] == ["ok", "error", "ok"]
    assert rows[1]["error"] == "internal error (RuntimeError: boom"
    assert "2 of 3 images analysed" in capsys.readouterr().out


def test_an_interrupted_batch_keeps_the_rows_it_finished(image_file, tmp_path, monkeypatch, capsys):
    folder = _batch_folder(image_file, tmp_path)
    _raise_on_second_image(monkeypatch, KeyboardInterrupt())
    out_csv = tmp_path / "res.csv"
    assert cli.main(["batch", str(folder), "--um-per-px", "5", "--csv", str(out_csv)]) == 130
    rows = list(csv.DictReader(out_csv.open()))
    assert [(r["file"], r["status"]) for r in rows] == [("f0.png", "ok")]
    assert "interrupted: 1 of 3 images done" in capsys.readouterr().err


def test_batch_refuses_an_unwritable_results_path_before_analysing(
    image_file, tmp_path, monkeypatch, capsys
):
    folder = _batch_folder(image_file, tmp_path, n=1)
    monkeypatch.setattr(engine, "analyze", lambda *a, **kw: pytest.fail("analysed anyway"))
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    code = cli.main(["batch", str(folder), "--um-per-px", "5", "--csv", str(blocker / "r.csv")])
    assert code == 2
    assert "cannot write the results" in capsys.readouterr().err
    code = cli.main(["batch", str(folder), "--um-per-px", "5", "--csv", str(tmp_path / "r.csv"),
                     "--overlay-dir", str(blocker)])  # fmt: skip
    assert code == 2
    assert "cannot write the results" in capsys.readouterr().err


def test_batch_on_empty_folder_is_an_error(tmp_path, capsys):
    assert (
        cli.main(["batch", str(tmp_path), "--um-per-px", "5", "--csv", str(tmp_path / "r.csv")])
        == 2
    )
    assert "no image files" in capsys.readouterr().err


def test_calibrate_from_micrometer_image(tmp_path, capsys):
    img = synth.render_micrometer(um_per_px=4.0, spacing_um=100.0, size=(320, 320))
    f = tmp_path / "micro.png"
    Image.fromarray(img).save(f)
    assert cli.main(["calibrate", str(f), "--spacing-um", "100"]) == 0
    assert float(capsys.readouterr().out.split()[0]) == pytest.approx(4.0, rel=0.01)


def test_synth_then_compare(tmp_path, capsys):
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    assert cli.main(["synth", str(a), "--seed", "2", "--truth", str(tmp_path / "t.json")]) == 0
    Image.fromarray(np.asarray(Image.open(a))).save(b)
    truth = json.loads((tmp_path / "t.json").read_text())
    assert truth["count"] > 0 and truth["hairs"]
    capsys.readouterr()
    assert cli.main(["compare", str(a), str(b), "--days", "2", "--um-per-px", "5", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["shift_px"] == [0.0, 0.0] and d["anagen_pct"] == 0.0
    assert d["validation_note"].startswith("Not validated")
    assert cli.main(["compare", str(a), str(b), "--days", "2", "--um-per-px", "5"]) == 0
    assert ANAGEN_NOT_VALIDATED in capsys.readouterr().out


# --- Outputs never replace inputs -----------------------------------------------------------


def _no_analysis(monkeypatch) -> None:
    monkeypatch.setattr(engine, "analyze", lambda *a, **kw: pytest.fail("analysed anyway"))


def test_batch_overlays_keep_the_input_name_so_two_inputs_never_share_one(
    image_file, tmp_path, capsys
):
    path, _ = image_file
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.png").write_bytes(path.read_bytes())
    Image.open(path).convert("RGB").save(folder / "a.jpg", quality=95)
    ov = tmp_path / "ov"
    args = ["batch", str(folder), "--um-per-px", "5", "--csv", str(tmp_path / "r.csv")]
    assert cli.main([*args, "--overlay-dir", str(ov)]) == 0
    assert sorted(p.name for p in ov.iterdir()) == ["a.jpg.overlay.png", "a.png.overlay.png"]


def test_batch_refuses_to_write_overlays_into_the_input_folder(
    image_file, tmp_path, monkeypatch, capsys
):
    folder = _batch_folder(image_file, tmp_path, n=1)
    before = (folder / "f0.png").read_bytes()
    _no_analysis(monkeypatch)
    out_csv = tmp_path / "r.csv"
    code = cli.main(["batch", str(folder), "--um-per-px", "5", "--csv", str(out_csv),
                     "--overlay-dir", str(folder / "." )])  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err
    assert "is the input folder" in err and err.count("\n") == 1
    assert (folder / "f0.png").read_bytes() == before and not out_csv.exists()
    assert sorted(p.name for p in folder.iterdir()) == ["f0.png"]


def test_batch_refuses_overlay_names_that_clash_on_a_case_insensitive_disk(
    image_file, tmp_path, monkeypatch, capsys
):
    path, _ = image_file
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.png").write_bytes(path.read_bytes())
    (folder / "A.png").write_bytes(path.read_bytes())
    if len(list(folder.iterdir())) < 2:
        pytest.skip("this disk is case-insensitive itself")
    _no_analysis(monkeypatch)
    code = cli.main(["batch", str(folder), "--um-per-px", "5", "--csv", str(tmp_path / "r.csv"),
                     "--overlay-dir", str(tmp_path / "ov")])  # fmt: skip
    assert code == 2
    assert "A.png and a.png would get one overlay file" in capsys.readouterr().err


def test_batch_refuses_a_csv_path_that_is_an_input_image(image_file, tmp_path, monkeypatch, capsys):
    folder = _batch_folder(image_file, tmp_path, n=1)
    before = (folder / "f0.png").read_bytes()
    _no_analysis(monkeypatch)
    assert (
        cli.main(["batch", str(folder), "--um-per-px", "5", "--csv", str(folder / "f0.png")]) == 2
    )
    assert "--csv" in capsys.readouterr().err
    assert (folder / "f0.png").read_bytes() == before


def test_analyze_refuses_an_overlay_path_that_is_the_input(
    image_file, tmp_path, monkeypatch, capsys
):
    path, _ = image_file
    f = tmp_path / "x.png"
    f.write_bytes(path.read_bytes())
    _no_analysis(monkeypatch)
    assert cli.main(["analyze", str(f), "--um-per-px", "5", "--overlay", str(f)]) == 2
    assert "is the input image" in capsys.readouterr().err
    assert f.read_bytes() == path.read_bytes()


def test_analyze_refuses_an_overlay_path_it_cannot_write_before_analysing(
    image_file, tmp_path, monkeypatch, capsys
):
    """An overlay path under a file, or naming a folder, was found out only after the
    analysis (minutes on a large image), with the result not printed."""
    path, _ = image_file
    _no_analysis(monkeypatch)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    folder = tmp_path / "looks-like.png"
    folder.mkdir()
    for out, needle in ((blocker / "o.png", f"{blocker} is a file, not a folder"),
                        (blocker / "sub" / "o.png", f"{blocker} is a file, not a folder"),
                        (folder, "is a folder")):  # fmt: skip
        assert cli.main(["analyze", str(path), "--um-per-px", "5", "--overlay", str(out)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: --overlay" if needle == "is a folder" else "error: cannot")
        assert needle in err and len(err.strip().splitlines()) == 1


def test_analyze_refuses_an_overlay_named_other_than_png(image_file, tmp_path, monkeypatch, capsys):
    """--overlay out.jpg wrote PNG data under a .jpg name (review)."""
    path, _ = image_file
    _no_analysis(monkeypatch)
    out = tmp_path / "out.jpg"
    assert cli.main(["analyze", str(path), "--um-per-px", "5", "--overlay", str(out)]) == 2
    assert "the overlay is written as PNG; name it *.png" in capsys.readouterr().err
    assert not out.exists()


# --- Bad options fail up front with exit 2 --------------------------------------------------


@pytest.mark.parametrize(
    ("options", "needle"),
    [
        (["--um-per-px", "-1"], "outside the supported"),
        (["--um-per-px", "nan"], "outside the supported"),
        ([], "no calibration"),
        (["--um-per-px", "5", "--field-width-mm", "2"], "not allowed with"),
        (["--field-width-mm", "0"], "positive width"),
        (["--field-width-mm", "nan"], "positive width"),
        (["--um-per-px", "5", "--cutoff", "5"], "cut-off must be 10-100"),
        (["--um-per-px", "5", "--cutoff", "nan"], "cut-off must be 10-100"),
    ],
)
def test_batch_refuses_a_bad_global_option_before_any_image(
    image_file, tmp_path, monkeypatch, capsys, options, needle
):
    folder = _batch_folder(image_file, tmp_path, n=1)
    _no_analysis(monkeypatch)
    out_csv = tmp_path / "r.csv"
    assert cli.main(["batch", str(folder), *options, "--csv", str(out_csv)]) == 2
    err = capsys.readouterr().err
    assert needle in err and err.count("\n") == 1
    assert not out_csv.exists()


def test_analyze_refuses_both_scales_together(image_file, capsys):
    path, _ = image_file
    code = cli.main(["analyze", str(path), "--um-per-px", "5", "--field-width-mm", "2"])
    assert code == 2
    assert "not allowed with" in capsys.readouterr().err


# --- compare: the web service's limits and failure rule --------------------------------------


def test_compare_uses_the_limits_of_the_web_service():
    from anagen.imaging import models, services
    from anagen.imaging.engine.compare import (
        COMPARISON_DAYS,
        GROWTH_MM_PER_DAY,
        MIN_REGISTRATION_SCORE,
    )

    assert models.COMPARISON_DAYS is COMPARISON_DAYS
    assert services.MIN_REGISTRATION_SCORE is MIN_REGISTRATION_SCORE
    assert services.GROWTH_MM_PER_DAY is GROWTH_MM_PER_DAY


@pytest.mark.parametrize(
    ("options", "needle"),
    [
        (["--days", "inf"], "1-7 days"),
        (["--days", "1e9"], "1-7 days"),
        (["--days", "nan"], "1-7 days"),
        (["--days", "0.5"], "1-7 days"),
        (["--days", "8"], "1-7 days"),
        (["--days", "2", "--growth-mm-per-day", "nan"], "--growth-mm-per-day nan"),
        (["--days", "2", "--growth-mm-per-day", "-1"], "--growth-mm-per-day -1"),
        (["--days", "2", "--growth-mm-per-day", "0"], "--growth-mm-per-day 0"),
        (["--days", "2", "--um-per-px", "0"], "outside the supported"),
    ],
)
def test_compare_refuses_bad_options_before_reading_the_images(
    image_file, monkeypatch, capsys, options, needle
):
    path, _ = image_file
    monkeypatch.setattr(engine, "compare", lambda *a, **kw: pytest.fail("compared anyway"))
    opts = options if "--um-per-px" in options else [*options, "--um-per-px", "5"]
    assert cli.main(["compare", str(path), str(path), *opts]) == 2
    err = capsys.readouterr().err
    assert needle in err and err.count("\n") == 1


def test_compare_without_a_scale_names_the_option_not_the_python_function(
    image_file, monkeypatch, capsys
):
    """The error told CLI users to 'pass um_per_px … calibrate_from_micrometer' (review)."""
    path, _ = image_file
    monkeypatch.setattr(engine, "compare", lambda *a, **kw: pytest.fail("compared anyway"))
    assert cli.main(["compare", str(path), str(path), "--days", "2"]) == 2
    err = capsys.readouterr().err
    assert "give --um-per-px (from `anagen image calibrate MICROMETER.png`)" in err
    assert "calibrate_from_micrometer" not in err


def test_a_field_width_that_gives_an_impossible_scale_is_named_as_given(image_file, capsys):
    """--field-width-mm 1000 was reported as 'um_per_px=781.25 is outside…' (review)."""
    path, _ = image_file
    assert cli.main(["analyze", str(path), "--field-width-mm", "1000"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --field-width-mm 1000 over an image ")
    assert "give the width of the field of view in mm" in err


def _synth_file(folder, name, seed):
    img, _ = synth.generate(
        synth.SynthParams(width=400, height=320, um_per_px=5.0, glare=0.0, density_per_cm2=200),
        seed,
    )
    path = folder / name
    Image.fromarray(img).save(path)
    return path


def test_compare_of_two_different_sites_fails_without_an_anagen_pct(tmp_path, capsys):
    a, b = _synth_file(tmp_path, "a.png", 11), _synth_file(tmp_path, "b.png", 12)
    args = ["compare", str(a), str(b), "--days", "2", "--um-per-px", "5"]
    assert cli.main(args) == 1
    captured = capsys.readouterr()
    assert "anagen" not in captured.out
    assert captured.err.startswith("error: registration failed (score 0.")
    assert "< 0.5" in captured.err and captured.err.count("\n") == 1
    assert cli.main([*args, "--json"]) == 1
    d = json.loads(capsys.readouterr().out)
    assert d["status"] == "failed" and d["registration_score"] < 0.5
    assert d["anagen_pct"] is None and d["telogen_pct"] is None


def test_compare_with_no_hair_followed_fails_without_an_anagen_pct(image_file, monkeypatch, capsys):
    path, _ = image_file
    nothing_matched = engine.Comparison(
        days=2.0, shift_px=(0.0, 0.0), registration_score=0.9, threshold_um=600.0
    )
    monkeypatch.setattr(engine, "compare", lambda *a, **kw: nothing_matched)
    assert cli.main(["compare", str(path), str(path), "--days", "2", "--um-per-px", "5"]) == 1
    captured = capsys.readouterr()
    assert "anagen" not in captured.out
    assert "no hair of the first image could be assessed" in captured.err


# --- synth: every option within the generator's documented range ----------------------------


@pytest.mark.parametrize(
    ("options", "needle"),
    [
        (["--um-per-px", "0"], "--um-per-px 0: the generator renders 2-8 µm/px"),
        (["--um-per-px", "nan"], "2-8 µm/px"),
        (["--colour", "pink"], "--colour pink: choose one of black, brown, blond, grey, dyed"),
        (["--density", "-5"], "50-350 hairs/cm²"),
        (["--density", "1e9"], "50-350 hairs/cm²"),
        (["--density", "nan"], "50-350 hairs/cm²"),
        (["--seed", "-1"], "non-negative"),
    ],
)
def test_synth_refuses_options_outside_the_generators_range(
    tmp_path, monkeypatch, capsys, options, needle
):
    monkeypatch.setattr(synth, "generate", lambda *a, **kw: pytest.fail("generated anyway"))
    out = tmp_path / "s.png"
    assert cli.main(["synth", str(out), *options]) == 2
    err = capsys.readouterr().err
    assert needle in err and err.count("\n") == 1 and "internal error" not in err
    assert not out.exists()


def test_synth_checks_where_the_truth_goes_before_writing_the_image(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(synth, "generate", lambda *a, **kw: pytest.fail("generated anyway"))
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    out = tmp_path / "s.png"
    assert cli.main(["synth", str(out), "--truth", str(blocker / "t.json")]) == 2
    assert "cannot write" in capsys.readouterr().err
    assert not out.exists()
    assert cli.main(["synth", str(out), "--truth", str(out)]) == 2
    assert cli.main(["synth", str(tmp_path / "s.jpg")]) == 2
    assert "name it *.png" in capsys.readouterr().err


def test_synth_writes_the_truth_into_a_new_folder_like_the_image(tmp_path, capsys):
    out, truth = tmp_path / "img" / "s.png", tmp_path / "truth" / "t.json"
    assert cli.main(["synth", str(out), "--density", "60", "--truth", str(truth)]) == 0
    assert out.exists() and json.loads(truth.read_text())["count"] > 0


# --- Output cut short by the reader ---------------------------------------------------------


class _ClosedPipe:
    def write(self, _text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")

    def flush(self) -> None:
        raise BrokenPipeError(32, "Broken pipe")


def test_a_closed_pipe_ends_quietly(image_file, monkeypatch, capsys):
    path, _ = image_file
    monkeypatch.setattr("sys.stdout", _ClosedPipe())
    assert cli.main(["analyze", str(path), "--um-per-px", "5", "--json"]) == cli.EXIT_BROKEN_PIPE
    assert capsys.readouterr().err == ""


def test_a_closed_pipe_ends_quietly_in_a_real_process(image_file):
    import subprocess
    import sys

    path, _ = image_file
    proc = subprocess.Popen(  # like `anagen image analyze ... --json | head -c 0`
        [sys.executable, "-m", "anagen.imaging.cli", "analyze", str(path), "--um-per-px", "5",
         "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # before the analysis can have printed anything
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == cli.EXIT_BROKEN_PIPE
    assert err == ""


def test_batch_goes_on_past_a_file_name_that_is_not_utf8(image_file, tmp_path, capsys):
    """A name written by another system (Latin-1, a zip's code page) stopped the batch with
    "error: 'utf-8' codec can't encode ..." and exit 2 when its row was written: the rows
    after it were lost. Its row names the file with the odd byte escaped."""
    import os

    path, _ = image_file
    folder = tmp_path / "in"
    folder.mkdir()
    for name in (b"a.png", b"b\xff.png", b"c.png"):
        (folder / os.fsdecode(name)).write_bytes(path.read_bytes())
    (folder / os.fsdecode(b"d\xe9.png")).write_bytes(b"not an image")
    out_csv = tmp_path / "res.csv"
    assert cli.main(["batch", str(folder), "--um-per-px", "5", "--csv", str(out_csv)]) == 1
    rows = list(csv.DictReader(out_csv.open(encoding="utf-8")))
    assert [(r["file"], r["status"]) for r in rows] == [
        ("a.png", "ok"), ("b\\xff.png", "ok"), ("c.png", "ok"), ("d\\xe9.png", "error")
    ]  # fmt: skip
    assert rows[3]["error"].endswith("d\\xe9.png: not a recognised image file")
    assert "3 of 4 images analysed" in capsys.readouterr().out
