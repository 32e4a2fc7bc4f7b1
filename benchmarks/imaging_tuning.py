"""Development tuning set for the imaging engine (never the frozen stress set or the suite).

Usage:
    python benchmarks/imaging_tuning.py [--n 40] [--dense 8] [--seed 31] [--jobs 2] [--retest]
        [--per-image] [--diagnose] [--set module.NAME=VALUE]

Draws scenes exactly as benchmarks/imaging_accuracy.py does (synth.random_params plus a dense
stratum) but from a different seed (default 31: scene seeds 3,100,000+, disjoint from the suite's
seed 0 and the stress set's 7001-7020), scores them with the same ``evaluate.score`` and prints
the headline metrics plus where the misses are (by unit size, vellus/terminal, hair length). It
writes nothing to results_imaging.md. Use it to try engine changes; report on the suite and the
stress set only at the end.
"""

from __future__ import annotations

import argparse
import sys
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from imaging_accuracy import _cv_pair, build_suite  # noqa: E402

from anagen.imaging.engine import analyze, synth  # noqa: E402
from anagen.imaging.engine.evaluate import match_hairs, score  # noqa: E402


def _free_length_um(h: synth.TruthHair, scene: synth.Scene, um_per_px: float) -> float:
    """Length of ``h`` that lies clear of its nearest unit sibling: farther from its centreline
    than the two half diameters plus two pixels (inf for a hair alone in its unit). Hairs of a
    unit with little clear length touch along their whole shaft and look like one wide hair."""
    own = h.polyline_um(48)
    best = np.inf
    for g in scene.hairs:
        if g is h or g.unit_id != h.unit_id:
            continue
        d = np.min(np.hypot(*(own[:, None, :] - g.polyline_um(48)[None, :, :]).transpose(2, 0, 1)),
                   axis=1)  # fmt: skip
        clear = d > (h.diameter_um + g.diameter_um) / 2 + 2 * um_per_px
        best = min(best, float(np.mean(clear)) * h.length_um)
    return best


def _job(args: tuple[str, int, dict, bool]) -> dict:
    kind, seed, pdict, retest = args
    p = synth.SynthParams.from_dict(pdict)
    scene = synth.make_scene(p, seed)
    img, truth = synth.render(scene, noise_seed=seed)
    c0 = time.process_time()
    a = analyze(img, p.um_per_px)
    cpu = time.process_time() - c0
    sc = score(a, truth)
    m = match_hairs(a, truth)
    matched = {j for _, j in m.pairs}
    unit_n: dict[int, int] = {}
    for h in scene.hairs:
        unit_n[h.unit_id] = unit_n.get(h.unit_id, 0) + 1
    sc["truth_info"] = [
        (unit_n[h.unit_id], bool(h.vellus), float(h.length_um), j in matched)
        for j, h in enumerate(truth.hairs)
    ]
    sc["free_um"] = [(_free_length_um(h, scene, p.um_per_px), j in matched) for j, h in
                     enumerate(truth.hairs)]  # fmt: skip
    sc["diam_err"] = [
        (a.hairs[i].diameter_um - truth.hairs[j].diameter_um, truth.hairs[j].diameter_um)
        for i, j in m.pairs
    ]
    sc["polarity"] = a.meta["hair_polarity"]
    md = {i for i, _ in m.pairs}
    sc["unmatched_det"] = sum(1 for i, h in enumerate(a.hairs) if h.counted and i not in md)
    # Where the unmatched counted detections are: on a hair (duplicate, fragment or a merged
    # pair whose centreline runs between two hairs) or off every hair (skin features).
    allp = np.concatenate(
        [h.polyline_um(48) / p.um_per_px for h in scene.hairs] + [np.zeros((0, 2))]
    )
    near = 0
    for i, h in enumerate(a.hairs):
        if not h.counted or i in md or not len(allp):
            continue
        pl = np.asarray(h.centreline_px, float)
        mid = pl[len(pl) // 2]
        if np.min(np.hypot(*(allp - mid).T)) < 80.0 / p.um_per_px:
            near += 1
    sc["unmatched_near"] = near
    sc.update(kind=kind, seed=seed, params=pdict, cpu_seconds=cpu)
    if retest:
        rng = np.random.default_rng([seed, 99])
        shift = tuple(float(v) for v in rng.uniform(-6, 6, 2))
        img2, _ = synth.render(scene, noise_seed=seed + 10_000_000, shift_px=shift)
        a2 = analyze(img2, p.um_per_px)
        sc["retest_count"] = (a.summary.count, a2.summary.count)
        sc["retest_ctd"] = (
            a.summary.cumulative_thickness_mm_per_cm2,
            a2.summary.cumulative_thickness_mm_per_cm2,
        )
    return sc


def report(rows: list[dict]) -> None:
    en = [r for r in rows if r["n_true"] >= 10]
    ce = np.array([r["count_err_pct"] for r in en])
    ct = np.array([r["ctd_err_pct"] for r in en])
    dt_ = np.concatenate([r["diam_abs_err_terminal"] for r in rows] + [np.zeros(0)])
    dv = np.concatenate([r["diam_abs_err_vellus"] for r in rows] + [np.zeros(0)])
    n_true = sum(r["n_true"] for r in rows)
    dense = [r for r in en if r["kind"] == "dense"]
    print(
        f"images {len(rows)}  count MAE {np.mean(np.abs(ce)):.1f}%  bias {np.mean(ce):+.1f}%  "
        f"dense MAE {np.mean([abs(r['count_err_pct']) for r in dense]) if dense else np.nan:.1f}%"
        f"  recall {100 * sum(r['matched'] for r in rows) / n_true:.1f}%  "
        f"unmatched det {100 * sum(r['unmatched_det'] for r in rows) / n_true:.1f}% "
        f"(near a hair {100 * sum(r['unmatched_near'] for r in rows) / n_true:.1f}%)"
    )
    tv = 100 * sum(r["tv_correct"] for r in rows) / max(1, sum(r["tv_n"] for r in rows))
    print(
        f"diam MAE term {np.mean(dt_):.1f} (med {np.median(dt_):.1f})  vellus {np.mean(dv):.1f} "
        f"(med {np.median(dv):.1f})  TV {tv:.1f}%"
        f"  CTD MAE {np.mean(np.abs(ct)):.1f}% (bias {np.mean(ct):+.1f})  "
        f"median CPU {np.median([r['cpu_seconds'] for r in rows]):.2f}s"
    )
    fe = np.array([r["fu_err_pct"] for r in en])
    base_ok = sum(r["base_end_correct"] for r in rows) / max(1, sum(r["matched"] for r in rows))
    print(
        f"FU MAE {np.mean(np.abs(fe)):.1f}% (bias {np.mean(fe):+.1f})  "
        f"base end right {100 * base_ok:.1f}%"
    )
    if "retest_count" in rows[0]:
        print(
            f"retest CV count {_cv_pair([r['retest_count'] for r in en]):.1f}%  "
            f"CTD {_cv_pair([r['retest_ctd'] for r in en]):.1f}%"
        )
    info = [t for r in rows for t in r["truth_info"]]
    for name, f in (
        ("1-hair units", lambda t: t[0] == 1),
        ("2-hair units", lambda t: t[0] == 2),
        ("3-4-hair units", lambda t: t[0] >= 3),
        ("vellus", lambda t: t[1]),
        ("terminal", lambda t: not t[1]),
        ("len < 150 um", lambda t: t[2] < 150),
        ("len >= 150 um", lambda t: t[2] >= 150),
    ):
        sel = [t for t in info if f(t)]
        if sel:
            print(f"  recall {name:15s} {100 * np.mean([t[3] for t in sel]):5.1f}% (n={len(sel)})")
    for col in ("black", "brown", "blond", "grey"):
        rs = [r for r in en if r["params"]["hair_colour"] == col]
        if rs:
            inf = [t for r in rs for t in r["truth_info"]]
            rec = [
                100 * np.mean([t[3] for t in inf if f(t)]) if any(f(t) for t in inf) else np.nan
                for f in (lambda t: t[0] == 1, lambda t: t[0] >= 2, lambda t: t[1])
            ]
            print(
                f"  {col:6s} recall single {rec[0]:5.1f}% unit {rec[1]:5.1f}% vellus {rec[2]:5.1f}%"
            )
            print(
                f"  {col:6s} count bias {np.mean([r['count_err_pct'] for r in rs]):+6.1f}%  "
                f"MAE {np.mean([abs(r['count_err_pct']) for r in rs]):5.1f}%"
            )


def diagnose(rows: list[dict]) -> None:
    """Where the misses and the diameter errors are (--diagnose)."""
    free = [t for r in rows for t in r["free_um"]]
    print("recall by clear length beyond the nearest hair of the unit (um):")
    for lo, hi in ((0, 50), (50, 100), (100, 250), (250, np.inf)):
        sel = [ok for f, ok in free if lo <= f < hi]
        if sel:
            print(f"  {lo:>4}-{hi:<4} {100 * np.mean(sel):5.1f}% (n={len(sel)}, missed "
                  f"{len(sel) - sum(sel)})")  # fmt: skip
    alone = [ok for f, ok in free if np.isinf(f)]
    if alone:
        print(f"  alone in its unit {100 * np.mean(alone):5.1f}% (n={len(alone)})")
    for name, is_class in (("terminal", lambda d: d > 40.0), ("vellus", lambda d: d <= 40.0)):
        print(f"{name} diameter error by colour, Fitzpatrick type and polarity searched (um):")
        groups: dict[tuple, list[float]] = {}
        for r in rows:
            q = r["params"]
            key = (q["hair_colour"], q["fitzpatrick"], r["polarity"])
            groups.setdefault(key, []).extend(e for e, d in r["diam_err"] if is_class(d))
        for key in sorted(groups):
            e = np.array(groups[key])
            if len(e):
                print(f"  {key[0]:6s} F{key[1]} {key[2]:5s} n={len(e):4d} "
                      f"MAE {np.abs(e).mean():5.1f} bias {e.mean():+6.1f}")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--dense", type=int, default=8)
    ap.add_argument("--seed", type=int, default=31)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--retest", action="store_true")
    ap.add_argument("--per-image", action="store_true")
    ap.add_argument("--diagnose", action="store_true", help="where misses and diameter errors are")
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="MODULE.NAME=VALUE",
        help="override an engine constant for this run, e.g. analyze.BUNDLE_RATIO=1.5",
    )
    args = ap.parse_args(argv)
    if args.seed == 0:
        raise SystemExit("seed 0 is the accuracy suite: tune on another seed")
    import importlib

    for item in args.set:
        name, value = item.split("=", 1)
        mod, attr = name.rsplit(".", 1)
        module = importlib.import_module(f"anagen.imaging.engine.{mod}")
        setattr(module, attr, type(getattr(module, attr))(value))
        print(f"set {name} = {getattr(module, attr)}")
    jobs = [(k, s, p, args.retest) for k, s, p in build_suite(args.n, args.dense, args.seed)]
    t0 = time.time()
    with Pool(args.jobs) as pool:
        rows = pool.map(_job, jobs, chunksize=1)
    if args.per_image:
        for i, r in enumerate(rows):
            q = r["params"]
            print(
                f"{i:3d} {r['kind']:5s} {q['um_per_px']:.1f}um {q['density_per_cm2']:3.0f} "
                f"{q['hair_colour']:5s} F{q['fitzpatrick']} blur {q['blur_px']:.1f} "
                f"true {r['n_true']:3d} est {r['n_est']:3d} matched {r['matched']:3d} "
                f"unmatched {r['unmatched_det']:3d} (near {r['unmatched_near']:3d}) "
                f"base right {r['base_end_correct']:3d}"
            )
    report(rows)
    if args.diagnose:
        diagnose(rows)
    print(f"wall {time.time() - t0:.0f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
