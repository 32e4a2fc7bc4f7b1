"""Whole-field analysis: segmentation -> hairs -> diameters -> follicular units -> summary."""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, replace

import numpy as np
from scipy import ndimage as ndi
from scipy.spatial import cKDTree

from .errors import CalibrationError, ImageInputError
from .io import coerce_image
from .long_hairs import LONG_HAIR_UM, join_long_hairs
from .measure import bilinear, channel_contrast, fit_diameters, sample_profiles
from .models import Analysis, Hair, summarize
from .segment import Chain, Prepared, hair_mask, prepare, trace_chains, weigh_colours

# Stored with every analysis (services.py): raise it when the same image can give different
# results, so that stored analyses and comparisons say which engine made them. 0.5.0: the
# two-visit trichogram reads growth along each hair's path (compare.py; analyze unchanged);
# 0.4.0: profile-fit gate 0.05;
# 0.3.0: the faint_hairs quality flag; 0.2.0: the close polarity vote (all 2026-12-03); 0.1.0
# covers the engine's earlier changes of issue 6.
ENGINE_VERSION = "0.6.0"
MIN_UM_PER_PX = 0.5
MAX_UM_PER_PX = 30.0
TERMINAL_CUTOFF_UM_RANGE = (10.0, 100.0)  # terminal/vellus cut-off (40 µm; 30 as an option)
# Hairs whose bases lie within this distance belong to one follicular unit (they leave one
# ostium; neighbouring units are several hundred µm apart even at 350 hairs/cm²). (250 µm
# tried: tuning seeds 31/32/33 unit MAE 8.1/9.7/12.7 -> 7.4/8.2/10.6 %, the suite unchanged.)
FU_LINK_UM = 190.0
MIN_HAIR_LENGTH_UM = 45.0
# A detected hair whose band is this many times wider than the field's typical isolated
# terminal hair is a bundle of hairs lying side by side.
BUNDLE_RATIO = 1.4
# Centre-to-centre spacing of side-by-side hairs of a unit, in single-hair widths. (0.6 and
# 0.5 tried on tuning seeds 31/32/33: count MAE 11.8/15.3/18.6 -> 11.5/15.8/19.5 and
# 12.3/16.2/20.0 %, dense stratum worse on seeds 32/33.)
BUNDLE_SPACING = 0.7
# ... and its centreline must be at least this many band widths long (not a junction piece).
BUNDLE_MIN_LENGTH = 0.6
BUNDLE_FIT_RATIO = 1.1
# Weight of the ostium cue in the flow-sign vote (votes from ends shared with other hairs
# count 1). Tuning seeds 31/32: images whose every base was put at the tip 6/4 -> 1/2, hairs
# with the wrong base end 19.0/17.2 -> 10.7/13.4 %, follicular-unit error 11.5/12.5 ->
# 10.6/11.9 %; counts unchanged (15.9/16.1 -> 15.7/16.2 %).
OSTIUM_VOTE_WEIGHT = 1.0
# Hairs lighter than the skin: the ostium cue decides only when the convergence votes are
# below this (about two hairs' worth; each converging hair votes up to 50): several fields of
# light hair on dark skin had no converging ends (only the tip halves were found) and came out
# reversed. Tuning seeds 31/32: hairs with the right base end 89.2/90.0 -> 91.7/90.6 %,
# counts and unit error unchanged; 250 gave 91.7/89.6 %.
OSTIUM_LIGHT_TIEBREAK = 100.0
# An end shared with another hair (junction or bend) sets a hair's base only when the hair
# runs across the flow (|cos| to the flow axis below this); along the flow, the flow decides.
# Shared ends are the bases of a V-shaped unit, but also tips that meet or cross. Tuning seeds
# 31/32 (shared ends deciding always before): base end right 89.4/86.6 -> 91.9/89.4 % of
# matched hairs, follicular-unit error 10.2/11.1 -> 9.8/11.5 %, count MAE 15.7/15.3 ->
# 15.3/15.6 %. (Never: 92.0/89.4 %; the ostium cue per hair instead of the flow: worse.)
CONVERGE_OWN_ALIGN = 0.5
# A piece cut off at a bend must be this many half widths (+2 px) long: 2.5 between two
# bends or a bend and a junction (the cross-bar of an "n", a cut-end fork), 1.5 when it ends
# in a free tip (a short hair of a V-shaped unit). Tuning seeds 31/32 (2.5 for both before):
# count MAE 15.8/20.0 -> 15.9/16.1 %, dense stratum 15.2/23.2 -> 13.8/19.1 %, recall +2-3
# points, unmatched detections 17/16 -> 21/21 %.
BEND_PIECE_MIN = 2.5
BEND_PIECE_TIP_MIN = 1.5
# A candidate's profile must be at least this many noise SDs deep (the acceptance level).
MIN_CONTRAST_SNR = 2.5
# ... and the cylinder model must explain at least this fraction of its profile's variance.
# 0.15 before 2026-12-03: it dropped short hairs beside another hair of their unit (the
# neighbour's shaft inside the profile spoils the fit; e.g. the upper arm of a V, fit 0.14).
# Tuning seeds 31-35, count MAE 11.8/15.3/18.6/15.7/16.2 -> 11.3/14.9/17.6/14.5/15.7 %, recall
# +0.6-1.4 points, retest CV of the count 13.3/9.9/14.7/10.1/12.7 -> 14.2/9.1/16.0/10.2/12.7 %,
# vellus diameter MAE +0.2-0.5 µm. (0: 11.1/14.9/17.9 %.)
MIN_FIT_QUALITY = 0.05
# Reject a candidate whose cleaner side still has this fraction of its centre contrast.
SIDE_RATIO_MAX = 0.5
# ... sampled this many half widths from the centreline (dark hairs: past a unit neighbour).
SIDE_REACH_DARK = 1.6
# Arcs round a glare spot (see glare_ring): within this many spot radii of its centre (the
# spot as grown in segment.prepare) and running round it rather than towards it.
GLARE_RING_REACH = 2.0
GLARE_RING_RADIAL_MAX = 0.4
GLARE_RING_FAINT = 0.6
# Look for light hairs in a colour-weighted contrast when they are faint in luminance
# (segment.weigh_colours); False: luminance only (kept for comparisons and tests).
USE_COLOUR = True
# A field whose polarity vote (segment.hair_mask) is won by less than this ratio is searched in
# both polarities (0: never).
# Tuning seeds 31/32/33: retest CV of the count 15.9/9.7/16.5 -> 13.3/9.9/14.7 %, count MAE
# 11.8/15.3/17.9 -> 11.8/15.3/18.6 %; a ratio of 4 gave 19.4 % on seed 33.
POLARITY_RECHECK_RATIO = 2.0
# A candidate's evidence counts its contrast up to this many noise SDs above acceptance (a
# few very dark shafts do not outweigh a field of hairs).
EVIDENCE_SNR_CAP = 5.0
# Flag "faint_hairs" when the counted hairs' median contrast is below this many noise SDs:
# light, grey or blond hair, the classical failure case of automatic counting (REFERENCE
# Part C §5). Tuning seeds 31/32/33 (127 images with >= 10 hairs): 15 images below 10, count
# MAE 29.4 % against 13.4 % for the others (8: 8 images, 36.1 %; 15: 41 images, 20.8 %).
FAINT_HAIR_SNR = 10.0
JOIN_LONG_HAIRS = True

# Flag "monochrome" when the image holds no colour: 99 % of pixels have their channels within
# this many levels (a grey image stored as RGB; JPEG leaves ±1 in grey). Without colour the
# vessel test (green against red absorption) cannot run. Tuning seeds 31/32 (83 images with
# >= 10 hairs), each analysed in colour and converted to grey (ITU-R 601 luma): count MAE
# 13.0 % (bias -5.5 %) in colour, 25.4 % (bias +7.9 %) in grey.
MONOCHROME_SPREAD = 2
# Flag "featureless" when the brightness of 99 % of the field lies within this many levels
# (8-bit): a blank or lens-capped frame, not skin. A reviewer's uniform grey upload gave
# "0 hairs, 0.0 /cm²". Generated fields (40 drawn with random_params, seed 5) span 43-200
# levels; real skin has pores, texture and vessels.
FEATURELESS_SPREAD = 8

# What each quality flag means for the person reading the result (web page, CLI).
QUALITY_FLAGS = {
    "out_of_focus": "Out of focus: hair edges are blurred, so diameters read too wide and fine "
    "hairs are missed. Retake the image.",
    "glare": "Glare: more than 2 % of the field is saturated; hairs under the bright spots are "
    "not seen. Retake with immersion fluid or polarised light.",
    "low_coverage": "Low coverage: less than 90 % of the field is usable skin (glare or dark "
    "corners).",
    "too_few_pixels_per_hair": "Too few pixels per hair: the median hair is under 4 pixels "
    "wide, so diameters are unreliable. Use a higher magnification.",
    "faint_hairs": "Faint hairs: the hairs barely stand out from the skin (light, grey or "
    "blond hair). The automatic count tends to miss hairs in such images: check the overlay "
    "and correct it, or dye the hairs before imaging.",
    "monochrome": "Grey-scale image: without colour, blood vessels and skin marks cannot be "
    "told from hairs, and the automatic count runs high (on generated fields about twice the "
    "error of the colour image). Use the dermatoscope's colour image, or check the overlay.",
    "featureless": "Featureless image: nearly uniform, with no skin or hair detail (a blank "
    "or capped frame?). It is not a trichoscopy field; retake it.",
    "no_hairs_found": "No hair counted: none has its base inside the field.",
}


def validate_calibration(um_per_px: float | None) -> float:
    """Return a checked µm-per-pixel value or raise CalibrationError."""
    if um_per_px is None:
        raise CalibrationError(
            "no calibration: densities (/cm²) and diameters (µm) need the image scale; pass "
            "um_per_px, measure it from a stage micrometer image (calibrate_from_micrometer) "
            "or from a known field of view (calibrate_from_field_of_view)"
        )
    try:
        v = float(um_per_px)
    except (TypeError, ValueError) as exc:
        raise CalibrationError(f"um_per_px must be a number, got {um_per_px!r}") from exc
    if not math.isfinite(v) or not (MIN_UM_PER_PX <= v <= MAX_UM_PER_PX):
        raise CalibrationError(
            f"um_per_px={um_per_px!r} is outside the supported {MIN_UM_PER_PX}-{MAX_UM_PER_PX} "
            "µm/px (trichoscopy at 20x-70x is about 2-8 µm/px)"
        )
    return v


def _field_mask(field: object, shape: tuple[int, int]) -> np.ndarray | None:
    """``field``: None (whole image), a boolean mask, or a box (x0, y0, x1, y1) in pixels."""
    if field is None:
        return None
    H, W = shape
    if isinstance(field, np.ndarray) and field.dtype == bool:
        if field.shape != (H, W):
            raise ImageInputError(f"field mask shape {field.shape} != image shape {(H, W)}")
        if not field.any():
            raise ImageInputError("field mask is empty")
        return field
    try:
        x0, y0, x1, y1 = (int(round(float(v))) for v in field)  # type: ignore[attr-defined]
    except (TypeError, ValueError) as exc:
        raise ImageInputError("field must be a boolean mask or a box (x0, y0, x1, y1)") from exc
    x0, x1 = max(0, min(x0, x1)), min(W, max(x0, x1))
    y0, y1 = max(0, min(y0, y1)), min(H, max(y0, y1))
    if x1 - x0 < 16 or y1 - y0 < 16:
        raise ImageInputError("field box is smaller than 16x16 px or outside the image")
    m = np.zeros((H, W), bool)
    m[y0:y1, x0:x1] = True
    return m


def _to_image_xy(pts_rc: np.ndarray, k: int) -> np.ndarray:
    """Working (row, col) -> image (x, y), pixel centres aligned."""
    return np.stack([(pts_rc[:, 1] + 0.5) * k - 0.5, (pts_rc[:, 0] + 0.5) * k - 0.5], axis=1)


def _to_work_rc(pts_xy: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Image (x, y) -> working (rows, cols): the inverse of _to_image_xy."""
    return (pts_xy[:, 1] + 0.5) / k - 0.5, (pts_xy[:, 0] + 0.5) / k - 0.5


def _smooth_polyline(p: np.ndarray, max_pts: int = 40) -> np.ndarray:
    if len(p) < 3:
        return p
    s = ndi.gaussian_filter1d(p, 1.0, axis=0, mode="nearest")
    s[0], s[-1] = p[0], p[-1]
    if len(s) > max_pts:
        idx = np.unique(np.linspace(0, len(s) - 1, max_pts).round().astype(int))
        s = s[idx]
    return s


def _extend_ends(p: np.ndarray, a: float, b: float) -> np.ndarray:
    """Extend a polyline by a (start) and b (end) pixels along its end tangents."""
    if len(p) < 2:
        return p
    out = p.copy()
    m = min(3, len(p) - 1)
    for end, ext in ((0, a), (1, b)):
        if ext <= 0:
            continue
        v = p[0] - p[m] if end == 0 else p[-1] - p[-1 - m]
        n = np.hypot(*v)
        if n == 0:
            continue
        if end == 0:
            out[0] = p[0] + v / n * ext
        else:
            out[-1] = p[-1] + v / n * ext
    return out


def analyze(
    image: np.ndarray,
    um_per_px: float | None,
    field: object = None,
    *,
    terminal_cutoff_um: float = 40.0,
) -> Analysis:
    """Detect and measure hairs in a trichoscopy image.

    ``image``: (H, W, 3) RGB (8 or 16 bit, or grayscale/RGBA, converted by io.coerce_image).
    ``um_per_px``: calibration; None raises CalibrationError (no densities without a scale).
    ``field``: optional analysed field (boolean mask or box); hairs are counted when their base
    lies inside it and densities use its area. Default: the whole image.
    """
    t0 = time.perf_counter()
    upp = validate_calibration(um_per_px)
    lo, hi = TERMINAL_CUTOFF_UM_RANGE
    if not (lo <= float(terminal_cutoff_um) <= hi):
        raise ValueError(f"terminal_cutoff_um must be between {lo:g} and {hi:g} µm")
    rgb = coerce_image(image)
    H, W = rgb.shape[:2]
    fmask = _field_mask(field, (H, W))
    prep = prepare(rgb, upp)
    found = _find_candidates(copy.copy(prep))
    if found.vote_ratio < POLARITY_RECHECK_RATIO:
        # The polarity vote was close (light hair on dark skin shows light edges round a
        # darker core): look for hairs of the other polarity too and keep the polarity whose
        # candidates carry more evidence (_Candidates.evidence_um).
        other = _find_candidates(copy.copy(prep), -found.polarity)
        if other.evidence_um > found.evidence_um:
            found = replace(other, vote_ratio=found.vote_ratio)
    prep, polarity, sigma_px = found.prep, found.polarity, found.sigma_px
    vote_ratio = found.vote_ratio
    keep, lines, hw_img = found.keep, found.lines, found.hw_img
    diam_px, depth, band_px = found.diam_px, found.depth, found.band_px
    k = prep.k
    keep, lines, diam_px, depth, hw_img = _split_bundles(
        keep, lines, diam_px, depth, hw_img, band_px, upp, k
    )

    n = len(keep)
    ends, lens, base_first, flow = _orient(prep, keep, lines, hw_img, polarity)

    hairs: list[Hair] = []
    bases = np.zeros((n, 2))
    for i in range(n):
        ln = lines[i] if base_first[i] else lines[i][::-1]
        nodes = keep[i].end_nodes if base_first[i] else keep[i].end_nodes[::-1]
        r = diam_px[i] / 2
        # The skeleton stops about a radius short of a free end; put that back.
        ext = [r if nd == -1 else 0.0 for nd in nodes]
        ln = _extend_ends(ln, ext[0], ext[1])
        bases[i] = ln[0]
        length_px = float(np.sum(np.hypot(*np.diff(ln, axis=0).T))) if len(ln) > 1 else 0.0
        hairs.append(
            Hair(
                id=i + 1,
                centreline_px=_smooth_polyline(ln),
                length_um=length_px * upp,
                diameter_um=float(diam_px[i] * upp),
                unit_id=0,
                contrast=float(depth[i]),
            )
        )

    # Base cut by the image edge: the hair comes from outside and is not counted here.
    margin = hw_img + 2.5 * k
    for i, h in enumerate(hairs):
        bx, by = bases[i]
        h.touches_border = bool(
            min(bx, by, W - 1 - bx, H - 1 - by) <= margin[i]
            or any(min(p[0], p[1], W - 1 - p[0], H - 1 - p[1]) <= margin[i] for p in ends[i])
        )
        cut = min(bx, by, W - 1 - bx, H - 1 - by) <= margin[i]
        inside = True
        if fmask is not None:
            xi, yi = int(np.clip(round(bx), 0, W - 1)), int(np.clip(round(by), 0, H - 1))
            inside = bool(fmask[yi, xi])
        h.counted = bool(inside and not cut)

    if JOIN_LONG_HAIRS and hairs:
        edge = float(np.median(margin))

        def end_inside(pt: np.ndarray) -> bool:
            x, y = float(pt[0]), float(pt[1])
            if min(x, y, W - 1 - x, H - 1 - y) <= edge:
                return False
            if fmask is not None:
                yi, xi = int(np.clip(round(y), 0, H - 1)), int(np.clip(round(x), 0, W - 1))
                return bool(fmask[yi, xi])
            return True

        hairs = join_long_hairs(hairs, upp, end_inside, flow)

    # Follicular units: single-linkage of bases closer than FU_LINK_UM.
    assign_units(hairs, upp)

    if fmask is None:
        area_cm2 = H * W * (upp * 1e-4) ** 2
        field_frac = None
    else:
        area_cm2 = float(fmask.sum()) * (upp * 1e-4) ** 2
        field_frac = fmask
    summary = summarize(hairs, area_cm2, terminal_cutoff_um)
    quality = _quality(prep, rgb, field_frac, hairs, sigma_px, upp)
    return Analysis(
        hairs=hairs,
        summary=summary,
        quality=quality,
        um_per_px=upp,
        image_shape=(H, W),
        terminal_cutoff_um=float(terminal_cutoff_um),
        field_area_cm2=area_cm2,
        meta={
            "engine_version": ENGINE_VERSION,
            "seconds": round(time.perf_counter() - t0, 3),
            "flow_deg": round(float(np.degrees(np.arctan2(flow[1], flow[0]))), 1),
            # Whether hairs were looked for as darker or lighter than the skin.
            "hair_polarity": "dark" if polarity > 0 else "light",
            "polarity_vote_ratio": None if math.isinf(vote_ratio) else round(vote_ratio, 2),
        },
    )


def _orient(
    prep: Prepared, keep: list[Chain], lines: list[np.ndarray], hw_img: np.ndarray, polarity: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Which end of each hair is its base: (ends (n, 2, 2), chord lengths, base-is-first
    flags, the field's flow direction (x, y))."""
    # Hairs of one scalp region share a flow direction; the base is the upstream
    # end. The sign of the flow comes from hairs whose one end converges with another hair
    # (shared junction or bend = common ostium).
    n = len(keep)
    ends = np.array([[ln[0], ln[-1]] for ln in lines]) if n else np.zeros((0, 2, 2))
    vec = ends[:, 1] - ends[:, 0] if n else np.zeros((0, 2))
    lens = np.hypot(vec[:, 0], vec[:, 1]) if n else np.zeros(0)
    ang2 = 2 * np.arctan2(vec[:, 1], vec[:, 0]) if n else np.zeros(0)
    axis_ang = 0.5 * np.arctan2((lens * np.sin(ang2)).sum(), (lens * np.cos(ang2)).sum())
    axis = np.array([np.cos(axis_ang), np.sin(axis_ang)])
    # An end "converges" when another kept hair ends at the same junction or bend.
    end_key: dict[object, int] = {}
    keys = []
    for ch in keep:
        kk = []
        for e, nd in enumerate(ch.end_nodes):
            if nd >= 0:
                key: object = ("node", nd)
            elif nd == -2:
                key = ("bend", ch.meta.get("bend_group"), tuple(np.round(ch.pts[-e]).astype(int)))
            else:
                key = None
            kk.append(key)
            if key is not None:
                end_key[key] = end_key.get(key, 0) + 1
        keys.append(kk)
    conv = np.array(
        [
            [kk[0] is not None and end_key[kk[0]] >= 2, kk[1] is not None and end_key[kk[1]] >= 2]
            for kk in keys
        ],
        bool,
    ).reshape(-1, 2)
    votes = 0.0
    for i in range(n):
        if conv[i, 0] != conv[i, 1]:
            base_end = 0 if conv[i, 0] else 1
            v = ends[i, 1 - base_end] - ends[i, base_end]
            votes += float(np.sign(v @ axis)) * min(lens[i], 50.0)
    # Only dark hairs: beside light hairs the cue is chance (tuning seeds 31/32: the darker
    # end was the base for 52/51 % of 812/473 matched light hairs, 83 % of dark ones), and
    # its weight flipped the flow of whole fields of grey hair.
    if OSTIUM_VOTE_WEIGHT > 0 and n and polarity > 0:
        votes += OSTIUM_VOTE_WEIGHT * _ostium_votes(prep, ends, lens, hw_img, axis)
    elif n and abs(votes) < OSTIUM_LIGHT_TIEBREAK:
        # Light hairs: the cue breaks a tie only (added to the votes it flipped more fields
        # than it mended); a field with no converging ends would otherwise get a coin toss.
        votes = _ostium_votes(prep, ends, lens, hw_img, axis)
    flow = axis if votes >= 0 else -axis
    base_first = np.zeros(n, bool)
    for i in range(n):
        along = float((ends[i, 1] - ends[i, 0]) @ flow) / max(float(lens[i]), 1e-9)
        if conv[i, 0] != conv[i, 1] and abs(along) < CONVERGE_OWN_ALIGN:
            base_first[i] = bool(conv[i, 0])
        else:
            base_first[i] = along >= 0

    return ends, lens, base_first, flow


@dataclass
class _Candidates:
    """Hair candidates that passed the profile tests, for one polarity."""

    prep: Prepared  # as the search left it (contrast, background and colour of the polarity)
    polarity: int
    vote_ratio: float  # winner / loser in segment.hair_mask's polarity vote (inf: not voted)
    keep: list[Chain]
    lines: list[np.ndarray]  # centrelines, image (x, y)
    hw_img: np.ndarray  # skeleton half widths, image px
    diam_px: np.ndarray
    depth: np.ndarray
    band_px: np.ndarray
    sigma_px: float
    near_glare: np.ndarray  # within GLARE_RING_REACH spot radii of a glare spot

    @property
    def evidence_um(self) -> float:
        """Centreline length of the candidates (working-scale µm), each weighted by how far
        its contrast stands above the acceptance level (in noise SDs, at most EVIDENCE_SNR_CAP).
        Candidates near glare do not count: arcs round a spot pass the tests in either
        polarity (dark rings, light halo)."""
        if not self.keep:
            return 0.0
        lengths = np.array([ch.length for ch in self.keep]) * self.prep.work_um
        snr = np.abs(self.depth) / max(self.prep.noise, 1e-9)
        weight = np.clip(snr - MIN_CONTRAST_SNR, 0, EVIDENCE_SNR_CAP) * ~self.near_glare
        return float(np.sum(lengths * weight))


def search_contrast(rgb: np.ndarray, um_per_px: float, polarity: int) -> Prepared:
    """The image prepared as analyze looks for hairs of ``polarity`` in it: its contrast is
    the colour-weighted one where analyze would weigh colours (light hair on light skin barely
    shows in luminance), and the dark-hair background where it would use that."""
    prep = prepare(rgb, um_per_px)
    mask, _, _ = hair_mask(prep, polarity)
    if USE_COLOUR and weigh_colours(prep, mask):
        hair_mask(prep, polarity)  # as _find_candidates: its second pass may set prep further
    return prep


def _find_candidates(prep: Prepared, polarity: int | None = None) -> _Candidates:
    """Mask, chains and the candidate tests for one polarity (None: voted). Sets attributes of
    ``prep`` (pass a copy to search both polarities)."""
    mask, polarity, vote_ratio = hair_mask(prep, polarity)
    if USE_COLOUR and weigh_colours(prep, mask):
        mask, polarity, _ = hair_mask(prep, polarity)
    chains = trace_chains(mask, prep.work_um)
    wu, k = prep.work_um, prep.k

    # Candidate filter: long enough, and longer than wide (empty ostia and flakes are blobs).
    keep: list[Chain] = []
    for ch in chains:
        eff_len = (ch.length + 2 * ch.half_width) * wu
        if eff_len < MIN_HAIR_LENGTH_UM or ch.length * wu < 12.0:
            continue
        if eff_len < 1.5 * 2 * ch.half_width * wu:
            continue
        # A piece cut off at a bend must itself be clearly longer than wide (not a cut-end fork).
        min_hw = BEND_PIECE_TIP_MIN if -1 in ch.end_nodes else BEND_PIECE_MIN
        if -2 in ch.end_nodes and ch.length < min_hw * ch.half_width + 2:
            continue
        keep.append(ch)
    lines = [_to_image_xy(ch.pts, k) for ch in keep]
    hw_img = np.array([max(ch.half_width * k, 0.7) for ch in keep])
    if keep:
        med_hw = float(np.median(hw_img))
        step = 0.5 if med_hw < 8 else 1.0
        half_range = float(np.clip(2.2 * np.percentile(hw_img, 95) + 8, 10, 80))
        profiles, x = sample_profiles(
            prep.colour.profile_image if prep.colour else prep.lin_y,
            prep.colour.profile_background if prep.colour else prep.background,
            lines,
            hw_img,
            step,
            half_range,
            bg_scale=k,
            avoid_neighbours=True,
        )
        fit = fit_diameters(profiles, x, hw_img)
        diam_px, depth, sigma_px, fq = fit.diameter_px, fit.contrast, fit.sigma_px, fit.quality
        band_px = half_depth_width(profiles, x, hw_img)
    else:
        diam_px = depth = fq = band_px = np.zeros(0)
        sigma_px = float("nan")

    # Reject candidates whose profile is not hair-like: too faint against the noise, or a
    # bright blob (glare and flakes are bright but not cylinder-shaped).
    noise = prep.noise
    ok = (np.abs(depth) > MIN_CONTRAST_SNR * noise) & (fq > MIN_FIT_QUALITY)
    near_glare = np.zeros(len(keep), bool)
    if len(keep) and polarity > 0:
        cc = channel_contrast(prep.lin, lines, hw_img, sigma_px)
        # Vessels: strong green absorption with little red absorption.
        ok &= ~((cc[:, 0] < 0.35 * cc[:, 1]) & (cc[:, 1] > 0))
    if len(keep):
        # A hair is a line: the skin on at least one side of it is near background. A streak
        # cut out of a bright flake or a glare halo has the blob's contrast on both sides. The
        # middle hair of a unit has hairs on both sides: for dark hairs (units are dark, flakes
        # bright) look beyond the neighbours.
        reach = 1.6 if polarity < 0 else SIDE_REACH_DARK
        ok &= side_ratio(prep.contrast * polarity, keep, reach) < SIDE_RATIO_MAX
        ring_reach, ring_radial = glare_ring(prep.saturated, keep, GLARE_RING_REACH)
        near_glare = ring_reach < GLARE_RING_REACH
        ring = near_glare & (ring_radial < GLARE_RING_RADIAL_MAX)
        # A real hair passing a spot keeps the contrast of the field's hairs; the arcs are faint.
        if ok.any():
            ring &= np.abs(depth) < GLARE_RING_FAINT * np.median(np.abs(depth[ok]))
        ok &= ~ring
    keep = [c for c, o in zip(keep, ok, strict=True) if o]
    lines = [ln for ln, o in zip(lines, ok, strict=True) if o]
    diam_px, depth, hw_img, band_px = diam_px[ok], depth[ok], hw_img[ok], band_px[ok]
    near_glare = near_glare[ok]
    if prep.colour and len(keep):
        # Colour-weighted profiles decide which candidates are hairs; diameters come from
        # luminance, which JPEG keeps at full resolution (chroma is subsampled and widens
        # the colour profile).
        lum_profiles, x = sample_profiles(
            prep.lin_y, prep.background, lines, hw_img, step, half_range,
            bg_scale=k, avoid_neighbours=True,
        )  # fmt: skip
        diam_px = fit_diameters(lum_profiles, x, hw_img).diameter_px
        band_px = half_depth_width(lum_profiles, x, hw_img)
    return _Candidates(
        prep, polarity, vote_ratio, keep, lines, hw_img, diam_px, depth, band_px, sigma_px,
        near_glare,
    )  # fmt: skip


def _ostium_votes(
    prep, ends: np.ndarray, lens: np.ndarray, hw_img: np.ndarray, axis: np.ndarray
) -> float:
    """Flow-sign votes from the skin just beyond each end of each hair: a hair leaves its
    follicular ostium, a darker disc, at its base; the cut tip lies on plain skin."""
    k = prep.k
    # Darker than background is positive, whatever the hairs' polarity. Luminance: ostia are
    # dark in every channel, and colour weights for light hairs can cancel them.
    c, noise = (
        (prep.colour.luminance_contrast, prep.colour.luminance_noise)
        if prep.colour
        else (prep.contrast, prep.noise)
    )
    v = ends[:, 1] - ends[:, 0]
    u = v / np.maximum(lens, 1e-9)[:, None]
    reach = (hw_img + 2.0 * k)[:, None]
    beyond0 = ends[:, 0] - u * reach
    beyond1 = ends[:, 1] + u * reach

    def sample(pxy: np.ndarray) -> np.ndarray:
        return bilinear(c, *_to_work_rc(pxy, k))

    darker0 = sample(beyond0) - sample(beyond1)  # > 0: end 0 looks like the base
    w = np.clip(np.abs(darker0) / noise, 0, 3) * np.minimum(lens, 50.0)
    return float(np.sum(np.sign(darker0) * np.sign(v @ axis) * w))


def glare_ring(
    saturated: np.ndarray, chains: list[Chain], within: float = np.inf
) -> tuple[np.ndarray, np.ndarray]:
    """For each chain: its median distance from the nearest glare spot's centre in spot radii,
    and how much it runs around that spot (median |cos| of the angle between the shaft and
    the radius; 0 = along a circle round the spot, 1 = pointing at it). Chains with no point
    within ``within`` radii of any spot are not measured (inf, 1).

    The skin background is smoothed over the bright spot, so the skin just outside it reads
    darker than background: arcs concentric with the spot, not hairs.
    """
    n = len(chains)
    reach = np.full(n, np.inf)
    radial = np.ones(n)
    if n == 0 or not saturated.any():
        return reach, radial
    lab, m = ndi.label(saturated)
    sy, sx = np.nonzero(lab)
    spot = lab[sy, sx]
    area = np.bincount(spot, minlength=m + 1)[1:].astype(float)
    centres = (
        np.stack(
            [
                np.bincount(spot, sy, minlength=m + 1)[1:],
                np.bincount(spot, sx, minlength=m + 1)[1:],
            ],
            1,
        )
        / area[:, None]
    )
    radii = np.sqrt(area / np.pi)
    # Most chains are far from every spot: find those cheaply (one pass per spot over all
    # points) before measuring the rest. The median reach is never below the nearest point's.
    sizes = np.array([len(ch.pts) for ch in chains])
    pts = np.concatenate([ch.pts for ch in chains]).astype(float)
    nearest = np.full(len(pts), np.inf)
    for c, r in zip(centres, radii, strict=True):
        np.minimum(nearest, np.hypot(pts[:, 0] - c[0], pts[:, 1] - c[1]) / max(r, 1.0), out=nearest)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    closest = np.full(n, np.inf)
    has = sizes > 0
    closest[has] = np.minimum.reduceat(nearest, starts[has])
    for i in np.nonzero(closest < within)[0]:
        p = chains[i].pts
        if len(p) < 2:
            continue
        t = np.gradient(p, axis=0)
        t = t / np.maximum(np.hypot(t[:, 0], t[:, 1]), 1e-9)[:, None]
        rel = p[:, None, :] - centres[None, :, :]  # (points, spots, 2)
        d = np.hypot(rel[..., 0], rel[..., 1])
        j = int(np.argmin(np.median(d - radii[None, :], axis=0)))
        dj = np.maximum(d[:, j], 1e-9)
        reach[i] = float(np.median(dj) / max(radii[j], 1.0))
        radial[i] = float(np.median(np.abs(np.einsum("ij,ij->i", t, rel[:, j]) / dj)))
    return reach, radial


def side_ratio(cs: np.ndarray, chains: list[Chain], reach: float = 1.6) -> np.ndarray:
    """Median over the shaft of (contrast on the cleaner side) / (contrast on the centreline).

    ``cs``: working-scale contrast with hairs positive. About 0 for a hair on skin (also for a
    hair with another hair touching one side), near 1 for a streak inside a wide blob.
    """
    out = np.zeros(len(chains))
    for i, ch in enumerate(chains):
        p = ch.pts
        if len(p) < 2:
            continue
        seg = np.hypot(*np.diff(p, axis=0).T)
        cum = np.concatenate([[0], np.cumsum(seg)])
        s = np.linspace(0.15, 0.85, 9) * cum[-1]
        py, px = np.interp(s, cum, p[:, 0]), np.interp(s, cum, p[:, 1])
        ty = np.interp(s + 1.5, cum, p[:, 0]) - np.interp(s - 1.5, cum, p[:, 0])
        tx = np.interp(s + 1.5, cum, p[:, 1]) - np.interp(s - 1.5, cum, p[:, 1])
        tn = np.maximum(np.hypot(ty, tx), 1e-9)
        ny, nx = tx / tn, -ty / tn
        off = reach * ch.half_width + 2.5
        c0 = bilinear(cs, py, px)
        a = bilinear(cs, py + ny * off, px + nx * off)
        b = bilinear(cs, py - ny * off, px - nx * off)
        out[i] = float(np.median(np.minimum(a, b) / np.maximum(c0, 1e-6)))
    return out


def half_depth_width(profiles: np.ndarray, x: np.ndarray, half_widths: np.ndarray) -> np.ndarray:
    """Full width (px) of each median profile where it is deeper than half its central depth.

    For one hair this is close to its diameter; for hairs of a unit lying side by side it is the
    width of the whole band, which the cylinder fit (one hair's shape) underestimates.
    """
    if len(profiles) == 0:
        return np.zeros(0)
    K = profiles.shape[1]
    dev = 1 - profiles
    sign = np.sign(dev[:, K // 2])[:, None]
    dev = dev * np.where(sign == 0, 1, sign)
    win = np.abs(x)[None, :] <= (1.4 * half_widths[:, None] + 3.0)
    core = np.abs(x)[None, :] <= np.maximum(0.5 * half_widths[:, None], 1.0)
    depth = np.max(np.where(core, dev, -np.inf), axis=1)
    above = (dev >= 0.5 * depth[:, None]) & win
    # Only the run connected to the centre: a neighbouring hair beyond a gap is not counted.
    c = K // 2
    right = np.cumprod(above[:, c:], axis=1).sum(1)
    left = np.cumprod(above[:, : c + 1][:, ::-1], axis=1).sum(1)
    step = float(x[1] - x[0])
    return np.maximum(right + left - 1, 0) * step


def _split_bundles(keep, lines, diam_px, depth, hw_img, band_px, um_per_px, k=1):
    """Hairs of one unit that touch along their length look like one wide hair.

    Terminal hairs within one scalp field have similar diameters (SD about 12 µm around
    70 µm), and hairs of a unit leave the ostium side by side about 0.6-1 diameter apart, so a
    band of n hairs is about 1 + SPACING * (n - 1) single-hair widths wide. The single-hair
    width is the median band width of this field's isolated terminal hairs (measured the same
    way, so blur and contrast cancel); each bundle is replaced by n hairs spread across it.
    """
    n = len(keep)
    if n == 0:
        return keep, lines, diam_px, depth, hw_img
    single = np.array([c.end_nodes == (-1, -1) for c in keep], bool)
    terminal = diam_px * um_per_px > 45.0
    ref = single & terminal
    if ref.sum() < 5:
        ref = terminal
    if ref.sum() < 5:
        return keep, lines, diam_px, depth, hw_img
    w_ref = float(np.median(band_px[ref]))
    d_ref = float(np.median(diam_px[ref]))
    out_k, out_l, out_d, out_c, out_h = [], [], [], [], []
    for i in range(n):
        ratio = band_px[i] / max(w_ref, 1e-6)
        m = 1
        # A short piece off a junction is wide because of the junction, not a bundle.
        long_enough = keep[i].length * k >= BUNDLE_MIN_LENGTH * band_px[i]
        # A line longer than any clipped hair is one long hair, thick or not (split, one
        # untrimmed hair of 90 µm was counted twice along its whole length).
        clipped = keep[i].length * k * um_per_px < LONG_HAIR_UM
        # The cylinder fit of a bundle is wider than one hair too (a thick single hair is not
        # split on its band alone).
        wide_fit = diam_px[i] >= BUNDLE_FIT_RATIO * d_ref
        if ratio >= BUNDLE_RATIO and long_enough and wide_fit and clipped:
            m = int(np.clip(np.round(1 + (ratio - 1) / BUNDLE_SPACING), 2, 4))
        if m == 1:
            out_k.append(keep[i])
            out_l.append(lines[i])
            out_d.append(diam_px[i])
            out_c.append(depth[i])
            out_h.append(hw_img[i])
            continue
        ln = lines[i]
        t = np.gradient(ln, axis=0) if len(ln) > 1 else np.array([[1.0, 0.0]])
        t = t / np.maximum(np.hypot(t[:, 0], t[:, 1]), 1e-9)[:, None]
        nrm = np.stack([-t[:, 1], t[:, 0]], axis=1)
        # Each hair of the bundle: the field's typical terminal diameter, but no wider than the
        # band allows.
        w = min(d_ref, band_px[i] / m * 1.4)
        sp = (band_px[i] - w) / max(m - 1, 1)
        for j in range(m):
            off = (j - (m - 1) / 2) * sp
            out_k.append(keep[i])
            out_l.append(ln + nrm * off)
            out_d.append(w)
            out_c.append(depth[i])
            out_h.append(hw_img[i] / m)
    return out_k, out_l, np.array(out_d), np.array(out_c), np.array(out_h)


def assign_units(hairs: list[Hair], um_per_px: float) -> None:
    """Group hairs into follicular units by the distance between their bases (in place)."""
    if not hairs:
        return
    bases = np.array([np.asarray(h.centreline_px)[0] for h in hairs])
    parent = list(range(len(hairs)))

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for a, b in cKDTree(bases).query_pairs(FU_LINK_UM / um_per_px):
        parent[find(a)] = find(b)
    roots: dict[int, int] = {}
    for i, h in enumerate(hairs):
        h.unit_id = roots.setdefault(find(i), len(roots) + 1)


def quality_flags(
    *,
    sigma_px: float,
    glare_fraction: float,
    coverage: float,
    median_hair_width_px: float | None,
    hair_contrast_snr: float | None,
    hairs_counted: int,
    monochrome: bool = False,
    featureless: bool = False,
) -> list[str]:
    """Names of the quality flags these measures raise, in the order of QUALITY_FLAGS (which
    explains each one). ``sigma_px``: the fitted blur (nan: none); None: not measured."""
    raised = {
        "out_of_focus": math.isfinite(sigma_px) and sigma_px >= 2.5,
        "glare": glare_fraction > 0.02,
        "low_coverage": coverage < 0.9,
        "too_few_pixels_per_hair": median_hair_width_px is not None and median_hair_width_px < 4.0,
        "faint_hairs": hair_contrast_snr is not None and hair_contrast_snr < FAINT_HAIR_SNR,
        "monochrome": monochrome,
        "featureless": featureless,
        "no_hairs_found": hairs_counted == 0,
    }
    return [name for name, on in raised.items() if on]


def is_featureless(rgb: np.ndarray) -> bool:
    """Nearly uniform brightness over the whole field: no skin or hair detail at all."""
    sample = rgb[::4, ::4].astype(np.float32).mean(axis=2)
    low, high = np.percentile(sample, (0.5, 99.5))
    return bool(high - low <= FEATURELESS_SPREAD)


def is_monochrome(rgb: np.ndarray) -> bool:
    """The image carries no colour (a grey image, or one stored as RGB)."""
    sample = rgb[::4, ::4].astype(np.int16)  # every 16th pixel is plenty for a whole field
    spread = sample.max(axis=2) - sample.min(axis=2)
    return bool(np.percentile(spread, 99) <= MONOCHROME_SPREAD)


def _quality(
    prep, rgb: np.ndarray, fmask: np.ndarray | None, hairs: list[Hair], sigma_px: float, upp: float
) -> dict:
    sat = prep.saturated
    bg = prep.background
    usable = ~sat & (bg > 0.2 * np.median(bg))
    if fmask is not None:
        fw = fmask[: sat.shape[0] * prep.k : prep.k, : sat.shape[1] * prep.k : prep.k]
        fw = fw[: sat.shape[0], : sat.shape[1]]
        glare = float(sat[fw].mean()) if fw.any() else 0.0
        coverage = float(usable[fw].mean()) if fw.any() else 0.0
    else:
        glare = float(sat.mean())
        coverage = float(usable.mean())
    cw = prep.colour.weights if prep.colour else None
    counted = [h for h in hairs if h.counted]
    dpx = np.array([h.diameter_um / upp for h in counted]) if counted else np.zeros(0)
    px_per_hair = float(np.median(dpx)) if len(dpx) else None
    # Median contrast of the counted hairs in noise SDs (in the contrast they were found in).
    hair_snr = (
        float(np.median([abs(h.contrast) for h in counted])) / max(float(prep.noise), 1e-9)
        if counted
        else None
    )
    flags = quality_flags(
        sigma_px=float(sigma_px),
        glare_fraction=glare,
        coverage=coverage,
        median_hair_width_px=px_per_hair,
        hair_contrast_snr=hair_snr,
        hairs_counted=len(counted),
        monochrome=is_monochrome(rgb),
        featureless=is_featureless(rgb),
    )
    return {
        "flags": flags,
        "focus_sigma_px": float(sigma_px) if np.isfinite(sigma_px) else None,
        "focus_sigma_um": float(sigma_px * upp) if np.isfinite(sigma_px) else None,
        "glare_fraction": glare,
        "coverage": coverage,
        "median_hair_width_px": px_per_hair,
        "noise": float(prep.noise),
        "hair_contrast_snr": None if hair_snr is None else round(hair_snr, 2),
        # Channel weights (R, G, B) of the contrast the hairs were found in; None: luminance.
        "contrast_weights_rgb": None if cw is None else [round(float(v), 3) for v in cw],
    }
