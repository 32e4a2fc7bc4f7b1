"""Command line for the imaging engine: ``anagen image <command> ...``.

Commands::

    analyze FILE (--um-per-px X | --field-width-mm W) [--json] [--overlay OUT.png]
            [--cutoff 40]
    batch FOLDER (--um-per-px X | --field-width-mm W) --csv OUT.csv [--overlay-dir DIR]
    calibrate FILE [--spacing-um 100]          # stage micrometer -> µm/px
    compare BEFORE AFTER --days D --um-per-px X [--growth-mm-per-day 0.3] [--json]
    synth OUT.png [--seed N] [--um-per-px X] [--density D] [--colour C] [--truth OUT.json]

Options are checked before any work: a bad option, or an output path that is one of the
input images, is refused with exit 2 and nothing written. Batch overlays are named after the
whole input file name (``a.jpg`` -> ``a.jpg.overlay.png``), so no two inputs share one.

Exit status: 0 success; 1 batch finished but some files failed (see the CSV), or compare
gave no anagen % (registration failed or no hair assessable); 2 bad input or usage (one line
``error: ...`` on stderr, never a traceback); 3 internal error (also one line); 130
interrupted. Output cut short by a closed pipe (``| head``) ends quietly with 141.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import numpy as np

if TYPE_CHECKING:
    from .engine.synth import SynthParams

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp"}
OVERLAY_SUFFIX = ".overlay.png"  # batch: a.jpg -> a.jpg.overlay.png
NO_CALIBRATION = (
    "no calibration: densities and diameters need the image scale; give --um-per-px "
    "(from `anagen image calibrate MICROMETER.png`) or --field-width-mm"
)
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, as for a C tool whose reader went away


class CliError(Exception):
    """Usage error: reported as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise CliError(message)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="anagen image", description="Trichoscopy image analysis")
    sub = p.add_subparsers(dest="cmd", required=True, parser_class=_Parser)

    def calib(sp: argparse.ArgumentParser) -> None:
        scale = sp.add_mutually_exclusive_group()
        scale.add_argument("--um-per-px", type=float, help="image scale in micrometres per pixel")
        scale.add_argument(
            "--field-width-mm", type=float, help="width of the imaged field (instead of scale)"
        )
        sp.add_argument("--cutoff", type=float, default=40.0, help="terminal/vellus cut-off µm")

    a = sub.add_parser("analyze", help="analyse one image")
    a.add_argument("file")
    calib(a)
    a.add_argument("--json", action="store_true", help="print the full result as JSON")
    a.add_argument("--overlay", help="write an overlay PNG for checking")

    b = sub.add_parser("batch", help="analyse every image in a folder")
    b.add_argument("folder")
    calib(b)
    b.add_argument("--csv", required=True, help="output CSV, one row per image")
    b.add_argument(
        "--overlay-dir", help="write IMAGE.overlay.png per image here (not the input folder)"
    )

    c = sub.add_parser("calibrate", help="µm/px from a stage micrometer image")
    c.add_argument("file")
    c.add_argument("--spacing-um", type=float, default=100.0)

    m = sub.add_parser("compare", help="two-visit trichogram")
    m.add_argument("before")
    m.add_argument("after")
    m.add_argument("--days", type=float, required=True, help="days between the images (1-7)")
    m.add_argument("--um-per-px", type=float)
    m.add_argument("--growth-mm-per-day", type=float, help="anagen growth threshold (default 0.3)")
    m.add_argument("--json", action="store_true")

    s = sub.add_parser("synth", help="render a synthetic trichoscopy image with known truth")
    s.add_argument("out")
    s.add_argument("--seed", type=int, default=0, help="non-negative integer")
    s.add_argument("--um-per-px", type=float, default=5.0, help="2-8 µm/px")
    s.add_argument("--density", type=float, default=180.0, help="50-350 hairs/cm²")
    s.add_argument("--colour", default="black", help="black, brown, blond, grey or dyed")
    s.add_argument("--truth", help="write the truth (count, hairs) as JSON")
    return p


def _scale(args: argparse.Namespace, width_px: int) -> float:
    from .engine.calibration import calibrate_from_field_of_view

    if args.um_per_px is not None:
        return float(args.um_per_px)
    if getattr(args, "field_width_mm", None) is not None:
        from .engine.analyze import MAX_UM_PER_PX, MIN_UM_PER_PX

        um = calibrate_from_field_of_view(width_px, float(args.field_width_mm))
        if not (MIN_UM_PER_PX <= um <= MAX_UM_PER_PX):
            # Said in the user's terms: they gave a width, not a scale.
            raise CliError(
                f"--field-width-mm {args.field_width_mm:g} over an image {width_px} px wide "
                f"gives {um:.3g} µm/px, outside the {MIN_UM_PER_PX:g}-{MAX_UM_PER_PX:g} µm/px "
                "analysis accepts; give the width of the field of view in mm (about 5-20 for "
                "a dermatoscope)"
            )
        return um
    raise CliError(NO_CALIBRATION)


def _check_options(args: argparse.Namespace) -> None:
    """Refuse bad calibration and cut-off options of analyze/batch before any image is read."""
    from .engine.analyze import TERMINAL_CUTOFF_UM_RANGE, validate_calibration

    if args.um_per_px is not None:
        validate_calibration(args.um_per_px)
    elif args.field_width_mm is not None:
        if not (math.isfinite(args.field_width_mm) and args.field_width_mm > 0):
            raise CliError(f"--field-width-mm {args.field_width_mm:g}: give a positive width")
    else:
        raise CliError(NO_CALIBRATION)
    lo, hi = TERMINAL_CUTOFF_UM_RANGE
    if not (lo <= args.cutoff <= hi):
        raise CliError(f"--cutoff {args.cutoff:g}: the cut-off must be {lo:g}-{hi:g} µm")


def _same_file(a: Path, b: Path) -> bool:
    """Whether two paths name one file: the same path, or one existing file through links."""
    try:
        return a.resolve() == b.resolve() or os.path.samefile(a, b)
    except OSError:
        return False


def _refuse_overwriting(output: Path, inputs: list[Path], option: str) -> None:
    for f in inputs:
        if _same_file(output, f):
            raise CliError(f"{option} {output} is the input image {f}: choose another path")


def _summary_row(summary: dict[str, Any], quality: dict[str, Any]) -> dict[str, Any]:
    row = {k: v for k, v in summary.items() if not isinstance(v, dict)}
    for k, v in summary["diameter_bins"].items():
        row[f"diameter_bin_{k}"] = v
    for k, v in summary["hairs_per_unit"].items():
        row[f"units_with_{k}_hairs"] = v
    row["quality_flags"] = ";".join(quality.get("flags", []))
    row["focus_sigma_px"] = quality.get("focus_sigma_px")
    row["glare_fraction"] = quality.get("glare_fraction")
    row["hair_contrast_snr"] = quality.get("hair_contrast_snr")
    return row


def _save_png(arr: np.ndarray, path: str) -> None:
    from PIL import Image

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path, format="PNG")


def _cmd_analyze(args: argparse.Namespace) -> int:
    from .engine import ACCURACY_RECORD, QUALITY_FLAGS, analyze, load_image, render_overlay

    _check_options(args)
    if args.overlay:
        if Path(args.overlay).suffix.lower() != ".png":
            # The overlay is PNG (lossless: thin outlines and numbers): a .jpg name held PNG.
            raise CliError(
                f"--overlay {args.overlay}: the overlay is written as PNG; name it *.png"
            )
        _refuse_overwriting(Path(args.overlay), [Path(args.file)], "--overlay")
        # Where the overlay goes is checked before the analysis, not after it.
        _writable(Path(args.overlay), "--overlay")
    img = load_image(args.file)
    a = analyze(img, _scale(args, img.shape[1]), terminal_cutoff_um=args.cutoff)
    if args.overlay:
        _save_png(render_overlay(img, a), args.overlay)
    if args.json:
        print(json.dumps(a.to_dict(), indent=1))
    else:
        s = a.summary
        fmt = lambda v, f="{:.1f}": "n/a" if v is None else f.format(v)  # noqa: E731
        print(f"file: {args.file}")
        print(f"scale: {a.um_per_px:.3f} µm/px; field {s.field_area_cm2:.4f} cm²")
        print(f"hairs: {s.count} ({s.density_per_cm2:.1f} /cm²)")
        print(
            f"follicular units: {s.follicular_units} ({s.follicular_units_per_cm2:.1f} /cm²), "
            f"{s.hairs_per_unit_mean:.2f} hairs/unit"
        )
        print(
            f"diameter: mean {fmt(s.diameter_mean_um)} µm, median {fmt(s.diameter_median_um)} "
            f"µm, CV {fmt(s.diameter_cv, '{:.2f}')}"
        )
        print(
            f"terminal (> {s.terminal_cutoff_um:g} µm): {fmt(s.terminal_pct)} %; vellus: "
            f"{fmt(s.vellus_pct)} %"
        )
        print(f"cumulative thickness: {s.cumulative_thickness_mm_per_cm2:.2f} mm/cm²")
        print(f"quality flags: {', '.join(a.quality['flags']) or 'none'}")
        for flag in a.quality["flags"]:
            print(f"  {flag}: {QUALITY_FLAGS[flag]}")
        print(f"accuracy: {ACCURACY_RECORD.summary(a.quality['flags'])}")
    return 0


def _batch_columns(cutoff: float) -> list[str]:
    """CSV columns of a batch, fixed before the first image so rows can be written as they
    finish (an empty field's summary has every key)."""
    from .engine import summarize

    empty = _summary_row(summarize([], 1.0, cutoff).to_dict(), {})
    return ["file", "status", "error", "um_per_px", "engine_version", *empty]


def _utf8(text: str) -> str:
    """``text`` writable as UTF-8: bytes of a file name that are not UTF-8 (a name written
    by another system), which Python holds as lone surrogates, are shown as ``\\xff``. They
    stopped the batch when their row was written."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _cmd_batch(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from anagen.core.text import spreadsheet_safe

    from .engine import ENGINE_VERSION, analyze, load_image, render_overlay

    _check_options(args)
    folder = Path(args.folder)
    if not folder.is_dir():
        raise CliError(f"{folder}: not a folder")
    entries = sorted(folder.iterdir())
    files = [p for p in entries if p.suffix.lower() in IMAGE_SUFFIXES]
    types = ", ".join(sorted(IMAGE_SUFFIXES))
    if not files:
        raise CliError(f"{folder}: no image files ({types})")
    # Said, not left out in silence: `analyze` reads a .gif or a .jfif that the batch skips.
    skipped = [p.name for p in entries if p.is_file() and not p.name.startswith(".")]
    skipped = [n for n in skipped if Path(n).suffix.lower() not in IMAGE_SUFFIXES]
    if skipped:
        shown = ", ".join(skipped[:10]) + (
            f" and {len(skipped) - 10} more" if len(skipped) > 10 else ""
        )
        print(
            f"skipped {len(skipped)} file{'s' if len(skipped) != 1 else ''} not of the types "
            f"the batch analyses ({types}): {shown}",
            file=sys.stderr,
        )
    out = Path(args.csv)
    _refuse_overwriting(out, files, "--csv")
    overlay_dir = Path(args.overlay_dir) if args.overlay_dir else None
    if overlay_dir is not None:
        # Overlays are PNGs: in the input folder they would be read as photos by the next
        # batch (and could replace an input). The batch does not go into subfolders.
        if _same_file(overlay_dir, folder):
            raise CliError(
                f"--overlay-dir {overlay_dir} is the input folder: write overlays elsewhere "
                "(a subfolder is fine)"
            )
        # File names are unique in the folder, but not on a case-insensitive disk.
        names: dict[str, str] = {}
        for f in files:
            if (other := names.setdefault(f.name.casefold(), f.name)) != f.name:
                raise CliError(
                    f"{other} and {f.name} would get one overlay file on a case-insensitive "
                    "disk: rename one"
                )
    # Where the results go is checked before the first image, not after the last.
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        if overlay_dir is not None:
            overlay_dir.mkdir(parents=True, exist_ok=True)
        fh = out.open("w", newline="", encoding="utf-8")
    except OSError as exc:
        raise CliError(f"cannot write the results: {exc.strerror or exc}: {exc.filename}") from exc
    done = failed = 0
    with fh:
        w = csv.DictWriter(fh, fieldnames=_batch_columns(args.cutoff))
        w.writeheader()
        try:
            for f in tqdm(files, desc="analysing", unit="image", file=sys.stderr):
                row: dict[str, Any] = {"file": f.name, "status": "ok", "error": ""}
                try:
                    img = load_image(f)
                    a = analyze(img, _scale(args, img.shape[1]), terminal_cutoff_um=args.cutoff)
                    row.update(um_per_px=a.um_per_px, engine_version=ENGINE_VERSION)
                    row.update(_summary_row(a.summary.to_dict(), a.quality))
                    if overlay_dir is not None:
                        _save_png(
                            render_overlay(img, a), str(overlay_dir / f"{f.name}{OVERLAY_SUFFIX}")
                        )
                except ValueError as exc:  # ImageInputError, CalibrationError
                    row = {"file": f.name, "status": "error", "error": str(exc)}
                except Exception as exc:  # noqa: BLE001 - one image must not stop the batch
                    row = {
                        "file": f.name,
                        "status": "error",
                        "error": f"internal error ({type(exc).__name__}: {exc})".splitlines()[0],
                    }
                if row["status"] == "error":
                    failed += 1
                done += 1
                # Each row is on disk as soon as its image is done: an interrupted batch
                # keeps what it finished. File names and messages are text for a spreadsheet.
                row.update(
                    file=spreadsheet_safe(_utf8(row["file"])),
                    error=spreadsheet_safe(_utf8(row["error"])),
                )
                w.writerow(row)
                fh.flush()
        except KeyboardInterrupt:
            print(
                f"interrupted: {done} of {len(files)} images done; their rows are in {out}",
                file=sys.stderr,
            )
            return 130
    print(f"{done - failed} of {len(files)} images analysed; results in {out}")
    return 1 if failed else 0


def _cmd_calibrate(args: argparse.Namespace) -> int:
    from .engine import calibrate_from_micrometer, load_image

    um = calibrate_from_micrometer(load_image(args.file), args.spacing_um)
    print(f"{um:.4f} µm/px")
    return 0


def _compare_options(args: argparse.Namespace) -> float:
    """Check compare's options as the web service does; returns the growth threshold."""
    from .engine.analyze import validate_calibration
    from .engine.compare import COMPARISON_DAYS, GROWTH_MM_PER_DAY, GROWTH_MM_PER_DAY_RANGE

    lo, hi = COMPARISON_DAYS
    if not (lo <= args.days <= hi):
        raise CliError(
            f"--days {args.days:g}: the phototrichogram needs the second image {lo}-{hi} days "
            "after clipping"
        )
    growth = GROWTH_MM_PER_DAY if args.growth_mm_per_day is None else args.growth_mm_per_day
    glo, ghi = GROWTH_MM_PER_DAY_RANGE
    if not (glo <= growth <= ghi):
        raise CliError(
            f"--growth-mm-per-day {growth:g}: give {glo:g}-{ghi:g} mm/day (scalp hair grows "
            f"about 0.3-0.4; the usual threshold is {GROWTH_MM_PER_DAY:g})"
        )
    if args.um_per_px is None:
        raise CliError(
            "no calibration: hair lengths need the image scale; give --um-per-px (from "
            "`anagen image calibrate MICROMETER.png`)"
        )
    validate_calibration(args.um_per_px)
    return float(growth)


def _comparison_failure(registration_score: float, anagen_pct: float | None) -> str | None:
    """The web service's failure rule: why no anagen % can be given, or None."""
    from .engine.compare import MIN_REGISTRATION_SCORE

    if registration_score < MIN_REGISTRATION_SCORE:
        return (
            f"registration failed (score {registration_score:.2f} < "
            f"{MIN_REGISTRATION_SCORE:g}): the images do not seem to show the same site"
        )
    if anagen_pct is None:
        return (
            "no hair of the first image could be assessed (each at the image edge or growing "
            "out of either image): no anagen %"
        )
    return None


def _cmd_compare(args: argparse.Namespace) -> int:
    from .engine import compare, load_image
    from .engine.compare import ANAGEN_NOT_VALIDATED

    growth = _compare_options(args)
    c = compare(
        load_image(args.before),
        load_image(args.after),
        args.days,
        um_per_px=args.um_per_px,
        growth_mm_per_day=growth,
    )
    d = c.to_dict()
    failure = _comparison_failure(c.registration_score, c.anagen_pct)
    if args.json:
        if failure is not None:  # the figures are kept for checking, without a result
            d.update(status="failed", error=failure, anagen_pct=None, telogen_pct=None)
        else:
            d["status"] = "done"
            d["validation_note"] = ANAGEN_NOT_VALIDATED
        print(json.dumps(d, indent=1))
    else:
        print(
            f"registration shift {d['shift_px']} px, turned {d['rotation_deg']:g}°, "
            f"score {d['registration_score']:.2f}"
        )
        if failure is None:
            print(
                f"hairs assessed: {d['n_assessed']}; anagen {d['anagen_pct']} %, telogen "
                f"{d['telogen_pct']} % (growth threshold {d['threshold_um']:.0f} µm)"
            )
            print(ANAGEN_NOT_VALIDATED)
    if failure is not None:
        print(f"error: {failure}", file=sys.stderr)
        return 1
    return 0


def _synth_params(args: argparse.Namespace) -> SynthParams:
    """SynthParams from the options, each checked against the generator's documented range."""
    from .engine import synth

    if args.seed < 0:
        raise CliError(f"--seed {args.seed}: give a non-negative integer")
    lo, hi = synth.UM_PER_PX_RANGE
    if not (lo <= args.um_per_px <= hi):
        raise CliError(f"--um-per-px {args.um_per_px:g}: the generator renders {lo:g}-{hi:g} µm/px")
    lo, hi = synth.DENSITY_PER_CM2_RANGE
    if not (lo <= args.density <= hi):
        raise CliError(f"--density {args.density:g}: the generator renders {lo:g}-{hi:g} hairs/cm²")
    if args.colour not in synth.HAIR_COLOURS:
        raise CliError(f"--colour {args.colour}: choose one of {', '.join(synth.HAIR_COLOURS)}")
    return synth.SynthParams(
        um_per_px=args.um_per_px, density_per_cm2=args.density, hair_colour=args.colour
    )


def _writable(path: Path, option: str) -> None:
    """Create ``path``'s folder and check a file can be written there, before any work."""
    if path.is_dir():
        raise CliError(f"{option} {path} is a folder: give a file name")
    # mkdir's own words for this case ("File exists: a_file") read as if the file were
    # being overwritten.
    for parent in path.parents:
        if parent.exists() and not parent.is_dir():
            raise CliError(f"cannot write {path}: {parent} is a file, not a folder")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CliError(f"cannot write {path}: {exc.strerror or exc}: {exc.filename}") from exc
    if not os.access(path.parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise CliError(f"cannot write {path}: permission denied")


def _cmd_synth(args: argparse.Namespace) -> int:
    from .engine import synth

    p = _synth_params(args)
    out = Path(args.out)
    if out.suffix.lower() != ".png":
        raise CliError(f"{out}: the image is written as PNG; name it *.png")
    _writable(out, "OUT")
    if args.truth:
        if _same_file(Path(args.truth), out):
            raise CliError("--truth must not be the image file")
        _writable(Path(args.truth), "--truth")
    img, truth = synth.generate(p, args.seed)
    _save_png(img, args.out)
    if args.truth:
        Path(args.truth).write_text(
            json.dumps(
                {
                    "params": p.to_dict(),
                    "seed": args.seed,
                    "count": truth.count,
                    "follicular_units": truth.follicular_units,
                    "density_per_cm2": truth.density_per_cm2,
                    "cumulative_thickness_mm_per_cm2": truth.cumulative_thickness_mm_per_cm2,
                    "hairs": [
                        {
                            "unit_id": h.unit_id,
                            "diameter_um": h.diameter_um,
                            "length_um": h.length_um,
                            "polyline_px": np.round(h.polyline_um() / p.um_per_px, 2).tolist(),
                        }
                        for h in truth.hairs
                    ],
                },
                indent=1,
            )
        )
    print(f"wrote {args.out}: {truth.count} hairs ({truth.density_per_cm2:.0f} /cm²)")
    return 0


COMMANDS = {
    "analyze": _cmd_analyze,
    "batch": _cmd_batch,
    "calibrate": _cmd_calibrate,
    "compare": _cmd_compare,
    "synth": _cmd_synth,
}


def _silence_stdout() -> None:
    """Point stdout at /dev/null so that the exit's flush does not fail on the closed pipe."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # stdout is not a real file (tests)
        pass


def main(argv: list[str] | None = None) -> int:
    """Run the imaging CLI; returns the exit status instead of raising."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = _parser().parse_args(argv)
        code = COMMANDS[args.cmd](args)
        sys.stdout.flush()  # a closed pipe is noticed here, not in the interpreter's exit
        return code
    except SystemExit as exc:  # --help
        return int(exc.code or 0)
    except BrokenPipeError:  # `... | head`: the reader has all it wanted
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:  # ImageInputError, CalibrationError, bad numbers
        print(f"error: {exc}".splitlines()[0], file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: {exc.strerror or exc}: {getattr(exc, 'filename', '')}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - the CLI contract is one line, never a traceback
        msg = f"error: internal error ({type(exc).__name__}: {exc})"
        print(msg.splitlines()[0], file=sys.stderr)
        return 3


if __name__ == "__main__":
    raise SystemExit(main())
