"""`anagen image ...`: analyze, batch (progress bar + CSV), calibrate, compare, synth, errors."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from PIL import Image

from anagen.imaging import cli, engine
from anagen.imaging.engine import ACCURACY_RECORD, ENGINE_VERSION, synth


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
    rows = list(csv.DictReader(out_csv.open()))
    assert [r["file"] for r in rows] == ["'=broken.jpg", "f0.png", "f1.png"]
    assert rows[0]["status"] == "error" and rows[0]["error"]
    assert rows[1]["status"] == "ok" and int(rows[1]["count"]) > 0
    assert rows[1]["count"] == rows[2]["count"]
    assert "density_per_cm2" in rows[1] and "diameter_bin_<30" in rows[1]
    # Each row says which scale and which engine version made it.
    assert rows[1]["um_per_px"] == "5.0" and rows[1]["engine_version"] == ENGINE_VERSION
    assert float(rows[1]["hair_contrast_snr"]) > 0 and "quality_flags" in rows[1]
    assert sorted(p.name for p in (tmp_path / "ov").iterdir()) == ["f0.png", "f1.png"]


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
