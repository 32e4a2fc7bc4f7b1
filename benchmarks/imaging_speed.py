"""Speed of the trichoscopy engine (issue 6, item 6): seconds per image and peak memory.

Usage:
    python benchmarks/imaging_speed.py [--reps 7] [--no-write]

For each size (1.3 MP = 1280x1024, 5 MP = 2592x1944) a few generated scenes are encoded as
JPEG (q 90), and the whole analysis is timed: decode (load_image) + analyze() + overlay. Wall
and CPU time (process_time: this process, all threads) are reported, because the benchmark
machine is shared. Each size runs in a fresh process so its peak RSS (ru_maxrss) is its own;
the NumPy/Python heap peak of one analysis is measured with tracemalloc in a separate run.
Results go to benchmarks/results_imaging.md (section "Speed").
"""

from __future__ import annotations

import argparse
import io
import multiprocessing as mp
import resource
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

# name: (size, hair colours or None for the random mix, target s). The light-hair rows time
# fields of blond or grey hair only: the engine may look for those in a colour-weighted
# contrast (segment.weigh_colours), a second segmentation pass.
CASES = {
    "1.3 MP (1280x1024)": ((1280, 1024), None, 1.0),
    "5 MP (2592x1944)": ((2592, 1944), None, 3.0),
    "1.3 MP, blond/grey hair only": ((1280, 1024), ("blond", "grey"), 1.0),
    "5 MP, blond/grey hair only": ((2592, 1944), ("blond", "grey"), 3.0),
}


def _jpeg(
    size: tuple[int, int], seed: int, colours: tuple[str, ...] | None = None
) -> tuple[bytes, float]:
    from PIL import Image

    from anagen.imaging.engine import synth

    w, h = size
    rng = np.random.default_rng(seed)
    extra = {"hair_colour": colours[seed % len(colours)]} if colours else {}
    p = synth.random_params(rng, width=w, height=h, jpeg_quality=None, **extra)
    img, _ = synth.generate(p, seed)
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG", quality=90)
    return buf.getvalue(), p.um_per_px


def _whole(data: bytes, upp: float) -> int:
    from anagen.imaging.engine import analyze, load_image, render_overlay

    img = load_image(data)
    a = analyze(img, upp)
    render_overlay(img, a)
    return a.summary.count


def _run_size(
    size: tuple[int, int], colours: tuple[str, ...] | None, reps: int, q: mp.Queue
) -> None:
    import anagen.imaging.engine  # noqa: F401 - import cost outside the timings

    inputs = [_jpeg(size, 500 + i, colours) for i in range(reps)]
    _whole(*inputs[0])  # warm-up (template caches, imports)
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    wall, cpu, counts = [], [], []
    for data, upp in inputs:
        t0, c0 = time.perf_counter(), time.process_time()
        counts.append(_whole(data, upp))
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    _whole(*inputs[0])
    _, heap_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    q.put(
        {
            "wall": wall,
            "cpu": cpu,
            "counts": counts,
            "rss_peak_mib": peak_rss / 1024,
            "rss_before_mib": base_rss / 1024,
            "heap_peak_mib": heap_peak / 2**20,
        }
    )


def main(argv: list[str] | None = None) -> int:
    from imaging_accuracy import machine_header, write_section

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args(argv)
    header = machine_header()
    ctx = mp.get_context("spawn")
    rows = []
    for name, (size, colours, _) in CASES.items():
        q = ctx.Queue()
        proc = ctx.Process(target=_run_size, args=(size, colours, args.reps, q))
        proc.start()
        res = q.get()
        proc.join()
        rows.append((name, res))
    lines = [
        "## Speed",
        "",
        header,
        f"- {args.reps} generated images per size (random parameters across the documented "
        "ranges), JPEG q 90; timed: decode + analyze() + overlay, one image at a time, after "
        "one warm-up run",
        "",
        "| size | median wall s/image | median CPU s/image | min-max wall s | target | "
        "met (wall) | met (CPU) | peak RSS MiB | NumPy heap peak MiB | hairs/image |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in rows:
        w, c = float(np.median(r["wall"])), float(np.median(r["cpu"]))
        t = CASES[name][2]
        lines.append(
            f"| {name} | {w:.2f} | {c:.2f} | {min(r['wall']):.2f}-{max(r['wall']):.2f} | "
            f"≤ {t:g} s | {'met' if w <= t else '**not met**'} | "
            f"{'met' if c <= t else '**not met**'} | {r['rss_peak_mib']:.0f} | "
            f"{r['heap_peak_mib']:.0f} | {int(np.median(r['counts']))} |"
        )
    lines += [
        "",
        "CPU time counts every thread of the process. The engine runs independent steps in "
        "two threads (segment.py: the two polarities, the colour channels, the skeleton), so "
        "wall time is below CPU time when the machine's second core is free; other jobs "
        "sharing the machine inflate the wall figures.",
    ]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        write_section("Speed", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
