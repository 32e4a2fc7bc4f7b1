"""Ground-truth generator: renders trichoscopy-like images of clipped scalp with known truth.

The model follows REFERENCE Part C section 6. A *scene* (follicular units, hairs, skin texture
seeds) is drawn first; the *rendering* (optics, noise, JPEG, a small shift) is a separate step,
so the same scene can be re-rendered for test-retest, or grown by N days for the two-visit
trichogram. Everything is driven by explicit seeds, so a (params, seed) pair always gives the
same image.

Geometry is kept in micrometres, with the image's top-left corner at (0, 0); the field of view
is ``width * um_per_px`` by ``height * um_per_px``. A hair is *counted* in the truth when its
base (exit point from the skin) lies inside the field: that is the quantity the engine must
estimate, so hairs that enter from outside are drawn but not counted.
"""

from __future__ import annotations

import io
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
from PIL import Image
from scipy import ndimage as ndi

from .compare import moved_px

HAIR_COLOURS = ("black", "brown", "blond", "grey", "dyed")
# Documented ranges of the generator (REFERENCE Part C section 6): random_params draws across
# them and `anagen image synth` refuses values outside them.
UM_PER_PX_RANGE = (2.0, 8.0)
DENSITY_PER_CM2_RANGE = (50.0, 350.0)

# Beer-Lambert absorption per micrometre of chord, RGB (linear light). A 70 µm black hair has
# an optical density near 3 on its axis; blond and grey hairs are nearly transparent, which is
# what makes them hard (and why TrichoScan dyes hairs).
_MU_PER_UM = {
    "black": (0.040, 0.043, 0.046),
    "dyed": (0.045, 0.047, 0.050),
    "brown": (0.016, 0.022, 0.030),
    "blond": (0.0045, 0.0075, 0.0125),
    "grey": (0.0025, 0.0027, 0.0030),
}
# Light scattered back by weakly pigmented shafts (makes grey hair whitish on dark skin).
_SCATTER = {"black": 0.0, "dyed": 0.0, "brown": 0.03, "blond": 0.12, "grey": 0.22}

# Fitzpatrick I-VI base skin reflectance under a white dermatoscope LED (linear RGB).
_SKIN = {
    1: (0.80, 0.60, 0.50),
    2: (0.74, 0.52, 0.40),
    3: (0.63, 0.43, 0.31),
    4: (0.47, 0.31, 0.21),
    5: (0.30, 0.19, 0.12),
    6: (0.15, 0.095, 0.065),
}


@dataclass(frozen=True)
class SynthParams:
    """Scene and optics parameters (ranges from REFERENCE Part C section 6)."""

    width: int = 1280
    height: int = 1024
    um_per_px: float = 5.0
    density_per_cm2: float = 180.0
    unit_probs: tuple[float, float, float, float] = (0.25, 0.5, 0.2, 0.05)
    vellus_share: float = 0.2
    terminal_um: tuple[float, float] = (70.0, 12.0)
    vellus_um: tuple[float, float] = (28.0, 6.0)
    trimmed_length_mm: tuple[float, float] = (0.1, 0.5)
    anagen_fraction: float = 0.85
    growth_mm_per_day: tuple[float, float] = (0.35, 0.03)
    long_hair_fraction: float = 0.0
    flow_deg: float | None = None
    flow_spread_deg: float = 20.0
    curvature: float = 0.12
    hair_colour: str = "black"
    fitzpatrick: int = 2
    ostia: float = 1.0
    empty_ostia_share: float = 0.05
    glare: float = 0.3
    dandruff: float = 0.2
    vessels: float = 0.2
    blur_px: float = 1.0
    vignetting: float = 0.2
    noise: float = 0.01
    jpeg_quality: int | None = 90

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SynthParams:
        data = dict(data)
        for key in ("unit_probs", "terminal_um", "vellus_um", "trimmed_length_mm"):
            if key in data:
                data[key] = tuple(data[key])
        if "growth_mm_per_day" in data:
            data["growth_mm_per_day"] = tuple(data["growth_mm_per_day"])
        return cls(**data)


@dataclass
class TruthHair:
    id: int
    unit_id: int
    control_um: np.ndarray  # quadratic Bezier control points P0 (base), P1, P2 (tip), (x, y) µm
    base_diameter_um: float
    tapered: bool  # natural (uncut) tip that tapers; cut hairs are blunt
    vellus: bool
    anagen: bool
    growth_mm_per_day: float
    length_um: float
    counted: bool = True
    # Median diameter along the shaft: what the engine's "median diameter" estimates.
    diameter_um: float = 0.0

    def polyline_um(self, n: int = 32) -> np.ndarray:
        t = np.linspace(0.0, 1.0, n)[:, None]
        p0, p1, p2 = self.control_um
        return (1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t**2 * p2


@dataclass
class Scene:
    params: SynthParams
    seed: int
    hairs: list[TruthHair]
    units: np.ndarray  # (n, 2) ostium centres, µm
    unit_hair_counts: np.ndarray
    ostium_radius_um: np.ndarray
    flow_rad: float
    days: float = 0.0

    @property
    def field_area_cm2(self) -> float:
        p = self.params
        return p.width * p.height * (p.um_per_px * 1e-4) ** 2

    def counted_hairs(self) -> list[TruthHair]:
        return [h for h in self.hairs if h.counted]


@dataclass
class Truth:
    """What the engine should report for a rendered image (counted hairs only)."""

    hairs: list[TruthHair]
    field_area_cm2: float
    um_per_px: float
    shift_px: tuple[float, float]
    blur_px: float
    extra: dict[str, Any] = field(default_factory=dict)
    rotation_deg: float = 0.0  # camera roll about centre_px (see compare.moved_px)
    centre_px: tuple[float, float] = (0.0, 0.0)

    @property
    def count(self) -> int:
        return len(self.hairs)

    @property
    def density_per_cm2(self) -> float:
        return self.count / self.field_area_cm2

    @property
    def follicular_units(self) -> int:
        return len({h.unit_id for h in self.hairs})

    @property
    def cumulative_thickness_mm_per_cm2(self) -> float:
        return float(sum(h.diameter_um for h in self.hairs)) * 1e-3 / self.field_area_cm2

    def polylines_px(self) -> list[np.ndarray]:
        return [
            moved_px(h.polyline_um() / self.um_per_px, self.shift_px, self.rotation_deg,
                      self.centre_px)
            for h in self.hairs
        ]  # fmt: skip


def _bezier_length(ctrl: np.ndarray) -> float:
    t = np.linspace(0, 1, 65)[:, None]
    p0, p1, p2 = ctrl
    pts = (1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t**2 * p2
    return float(np.sum(np.hypot(*np.diff(pts, axis=0).T)))


def _diameter_profile(h: TruthHair, t: np.ndarray) -> np.ndarray:
    """Diameter along the shaft (t in 0..1 from base to tip)."""
    d = np.full_like(t, h.base_diameter_um, dtype=float)
    if h.tapered:
        # Natural tip: the last 35 % narrows to a fine point.
        k = np.clip((t - 0.65) / 0.35, 0, 1)
        d = d * (1 - 0.85 * k**1.5)
    return d


def _median_diameter(h: TruthHair) -> float:
    t = np.linspace(0, 1, 201)
    return float(np.median(_diameter_profile(h, t)))


def make_scene(params: SynthParams, seed: int) -> Scene:
    """Draw follicular units and hairs (geometry only, no pixels)."""
    rng = np.random.default_rng([seed, 1])
    p = params
    fw, fh = p.width * p.um_per_px, p.height * p.um_per_px
    max_len = p.trimmed_length_mm[1] * 1000 + 400.0
    margin = max_len if p.long_hair_fraction == 0 else max(fw, fh) * 0.5
    area_um2 = (fw + 2 * margin) * (fh + 2 * margin)
    probs = np.asarray(p.unit_probs, float)
    probs = probs / probs.sum()
    mean_per_unit = float(np.dot(probs, np.arange(1, 5)))
    n_units = rng.poisson(p.density_per_cm2 / mean_per_unit * area_um2 * 1e-8)
    # Follicular units repel each other a little (hard-core Poisson), as on a real scalp.
    min_gap = 0.35 * np.sqrt(1e8 / max(p.density_per_cm2 / mean_per_unit, 1.0))
    pts = rng.uniform((-margin, -margin), (fw + margin, fh + margin), size=(n_units * 2, 2))
    keep: list[np.ndarray] = []
    grid: dict[tuple[int, int], list[int]] = {}
    for q in pts:
        if len(keep) >= n_units:
            break
        gx, gy = int(q[0] // min_gap), int(q[1] // min_gap)
        ok = True
        for ix in (gx - 1, gx, gx + 1):
            for iy in (gy - 1, gy, gy + 1):
                for j in grid.get((ix, iy), []):
                    if np.hypot(*(keep[j] - q)) < min_gap:
                        ok = False
                        break
        if ok:
            grid.setdefault((gx, gy), []).append(len(keep))
            keep.append(q)
    units = np.array(keep).reshape(-1, 2)
    counts = rng.choice(np.arange(1, 5), size=len(units), p=probs)
    empty = rng.random(len(units)) < p.empty_ostia_share
    counts[empty] = 0
    flow = np.deg2rad(p.flow_deg) if p.flow_deg is not None else rng.uniform(0, 2 * np.pi)
    ostium_r = rng.uniform(35, 70, size=len(units))
    hairs: list[TruthHair] = []
    spread = np.deg2rad(p.flow_spread_deg)
    for ui, (c, n) in enumerate(zip(units, counts, strict=True)):
        unit_dir = flow + rng.normal(0, spread)
        # Hairs of a unit fan out from the ostium, each leaving at a slightly different point.
        fan = np.sort(rng.uniform(-1, 1, n)) * np.deg2rad(rng.uniform(15, 35))
        for k in range(n):
            vellus = rng.random() < p.vellus_share
            mu, sd = p.vellus_um if vellus else p.terminal_um
            lo = 8.0 if vellus else 36.0
            d = float(np.clip(rng.normal(mu, sd), lo, 130.0))
            ang = unit_dir + fan[k] + rng.normal(0, np.deg2rad(5))
            u = np.array([np.cos(ang), np.sin(ang)])
            nrm = np.array([-u[1], u[0]])
            off = (k - (n - 1) / 2) * rng.uniform(0.6, 1.0) * min(d, 60.0)
            base = c + nrm * off + u * rng.uniform(-0.3, 0.3) * ostium_r[ui]
            long_hair = rng.random() < p.long_hair_fraction
            if long_hair:
                length = rng.uniform(3000, 9000)
            else:
                length = rng.uniform(*p.trimmed_length_mm) * 1000
                if vellus:
                    # Fine hairs are often shorter than the clipper height.
                    length *= rng.uniform(0.5, 1.0)
            bend = rng.uniform(-1, 1) * p.curvature * length
            ctrl = np.array([base, base + u * length / 2 + nrm * bend, base + u * length])
            tapered = bool(vellus and rng.random() < 0.5) or long_hair
            anagen = rng.random() < p.anagen_fraction
            g = max(0.0, rng.normal(*p.growth_mm_per_day)) if anagen else 0.0
            h = TruthHair(
                id=len(hairs),
                unit_id=ui,
                control_um=ctrl,
                base_diameter_um=d,
                tapered=tapered,
                vellus=bool(vellus),
                anagen=bool(anagen),
                growth_mm_per_day=float(g),
                length_um=_bezier_length(ctrl),
            )
            h.diameter_um = _median_diameter(h)
            h.counted = bool(0 <= base[0] < fw and 0 <= base[1] < fh)
            hairs.append(h)
    return Scene(
        params=p,
        seed=seed,
        hairs=hairs,
        units=units,
        unit_hair_counts=counts,
        ostium_radius_um=ostium_r,
        flow_rad=float(flow),
    )


def grow(scene: Scene, days: float) -> Scene:
    """The same scene ``days`` later: anagen hairs have lengthened, telogen hairs have not."""
    hairs = []
    for h in scene.hairs:
        p0, p1, p2 = h.control_um
        grown = h.growth_mm_per_day * days * 1000.0
        if grown > 0:
            # Hair grows out of the skin: the shaft is pushed forward along its own axis.
            u = (p2 - p0) / max(np.hypot(*(p2 - p0)), 1e-9)
            ctrl = np.array([p0, p1 + u * grown / 2, p2 + u * grown])
        else:
            ctrl = h.control_um.copy()
        nh = replace(h, control_um=ctrl, length_um=_bezier_length(ctrl))
        hairs.append(nh)
    return replace(scene, hairs=hairs, days=scene.days + days)


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    """Zero-mean, unit-SD low-frequency texture (computed on a coarse grid for speed)."""
    step = max(1, int(sigma / 3))
    small = rng.normal(size=(shape[0] // step + 3, shape[1] // step + 3))
    small = ndi.gaussian_filter(small, sigma / step, mode="wrap")
    big = ndi.zoom(small, step, order=1)[: shape[0], : shape[1]]
    big -= big.mean()
    return big / (big.std() + 1e-9)


def _moved(texture: np.ndarray, sx: float, sy: float, rotation_deg: float = 0.0) -> np.ndarray:
    """The skin's texture as a camera moved by (sx, sy) and turned by ``rotation_deg`` about
    the image centre sees it: it belongs to the scalp, like the hairs and ostia (it stayed put,
    and registration locked onto it at shift 0 on fields of light hair). What enters the frame
    is the texture's other edge (it wraps)."""
    if rotation_deg:
        # Output pixel q shows texture point moved_px^-1(q): (row, col) form of the inverse.
        a = np.deg2rad(rotation_deg)
        inv = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])  # on (row, col)
        c = (np.array(texture.shape, float) - 1) / 2
        offset = c - inv @ (c + np.array([sy, sx]))
        return ndi.affine_transform(texture, inv, offset=offset, order=1, mode="grid-wrap")
    if sx == 0 and sy == 0:
        return texture
    return ndi.shift(texture, (sy, sx), order=1, mode="grid-wrap")


def _segment_distance(
    px: np.ndarray, py: np.ndarray, pts: np.ndarray, cum: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Distance from pixel centres to a polyline, and arc-length fraction of the nearest point."""
    a = pts[:-1]
    b = pts[1:]
    ab = b - a
    L2 = np.maximum((ab**2).sum(1), 1e-12)
    dx = px[..., None] - a[:, 0]
    dy = py[..., None] - a[:, 1]
    t = np.clip((dx * ab[:, 0] + dy * ab[:, 1]) / L2, 0, 1)
    ex = dx - t * ab[:, 0]
    ey = dy - t * ab[:, 1]
    d2 = ex**2 + ey**2
    k = np.argmin(d2, axis=-1)
    dist = np.sqrt(np.take_along_axis(d2, k[..., None], -1)[..., 0])
    tk = np.take_along_axis(t, k[..., None], -1)[..., 0]
    seg = np.sqrt(L2)
    s = cum[k] + tk * seg[k]
    return dist, s / max(cum[-1], 1e-9)


def render(
    scene: Scene,
    noise_seed: int | None = None,
    shift_px: tuple[float, float] = (0.0, 0.0),
    rotation_deg: float = 0.0,
) -> tuple[np.ndarray, Truth]:
    """Render a scene to an 8-bit sRGB image (H, W, 3) and return it with its truth.

    ``noise_seed`` changes only sensor noise, glare placement and JPEG; ``shift_px`` and
    ``rotation_deg`` move the camera (scene content turns by +rotation about the image centre,
    then moves by +shift; compare.moved_px), as in a repeated capture. Lighting, glare and
    vignetting stay with the camera.
    """
    p = scene.params
    ns = scene.seed if noise_seed is None else noise_seed
    rng_skin = np.random.default_rng([scene.seed, 2])
    rng = np.random.default_rng([ns, 3])
    H, W = p.height, p.width
    upp = p.um_per_px
    sx, sy = shift_px

    # --- skin: base colour, low-frequency mottling, faint fine texture --------------------
    base = np.array(_SKIN[int(p.fitzpatrick)], float)
    base = base * rng_skin.uniform(0.92, 1.08)
    tex_sigma = 300.0 / upp
    centre = ((W - 1) / 2, (H - 1) / 2)

    def cam(pts_px: np.ndarray) -> np.ndarray:
        return moved_px(pts_px, (sx, sy), rotation_deg, centre)

    mott = _moved(_smooth_noise(rng_skin, (H, W), tex_sigma), sx, sy, rotation_deg)
    fine = _moved(_smooth_noise(rng_skin, (H, W), max(1.0, 25.0 / upp)), sx, sy, rotation_deg)
    refl = base[None, None, :] * (1 + 0.06 * mott[..., None] + 0.025 * fine[..., None])
    absorb = np.zeros((H, W, 3), np.float32)
    bright = np.zeros((H, W), np.float32)

    yy_full, xx_full = np.mgrid[0:H, 0:W]

    # --- ostia: darker, slightly brownish discs at unit centres -----------------------------
    if p.ostia > 0:
        ost_col = np.array([0.35, 0.55, 0.7]) * p.ostia
        for c, r in zip(scene.units, scene.ostium_radius_um, strict=True):
            cx, cy = cam(c / upp)
            rp = r / upp
            x0, x1 = int(cx - 2 * rp - 2), int(cx + 2 * rp + 3)
            y0, y1 = int(cy - 2 * rp - 2), int(cy + 2 * rp + 3)
            if x1 < 0 or y1 < 0 or x0 >= W or y0 >= H:
                continue
            x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, W), min(y1, H)
            d = np.hypot(xx_full[y0:y1, x0:x1] - cx, yy_full[y0:y1, x0:x1] - cy)
            prof = 1 / (1 + np.exp((d - rp) / max(0.25 * rp, 0.7)))
            absorb[y0:y1, x0:x1] += prof[..., None] * ost_col * 0.6

    # --- vessels: faint reddish meandering lines (absorb green and blue) -------------------
    n_ves = rng_skin.poisson(p.vessels * 3)
    for _ in range(n_ves):
        pts = np.cumsum(rng_skin.normal(0, 40, size=(40, 2)), axis=0)
        pts += rng_skin.uniform((0, 0), (W * upp, H * upp))
        pts = cam(pts / upp)
        _draw_line_absorb(absorb, pts, 12.0 / upp, np.array([0.02, 0.18, 0.14]), None, None)

    # --- hairs: Beer-Lambert absorbance proportional to the chord through the shaft --------
    mu = np.array(_MU_PER_UM[p.hair_colour], float)
    scat = _SCATTER[p.hair_colour]
    for h in scene.hairs:
        pts = cam(h.polyline_um(24) / upp)
        tint = rng_skin.uniform(0.85, 1.15)
        mu_h = mu * tint * (0.65 if h.vellus else 1.0)
        glint = rng_skin.random() < 0.3
        _draw_hair(absorb, bright, pts, h, upp, mu_h, scat, glint)

    lin = refl * np.exp(-absorb) + bright[..., None] * 0.9

    # --- dandruff flakes: small bright irregular blobs -------------------------------------
    n_fl = rng_skin.poisson(p.dandruff * 6)
    for _ in range(n_fl):
        cx, cy = cam(np.array([rng_skin.uniform(0, W), rng_skin.uniform(0, H)]))
        r = rng_skin.uniform(30, 120) / upp
        x0, x1 = max(int(cx - 2 * r), 0), min(int(cx + 2 * r) + 1, W)
        y0, y1 = max(int(cy - 2 * r), 0), min(int(cy + 2 * r) + 1, H)
        if x1 <= x0 or y1 <= y0:
            continue
        d = np.hypot((xx_full[y0:y1, x0:x1] - cx) / 1.6, yy_full[y0:y1, x0:x1] - cy)
        m = np.clip(1.2 - d / r, 0, 1) * 0.45
        lin[y0:y1, x0:x1] = lin[y0:y1, x0:x1] * (1 - m[..., None]) + 0.85 * m[..., None]

    # --- optics: defocus, vignetting, LED hot-spots and sebum glare -------------------------
    if p.blur_px > 0:
        lin = ndi.gaussian_filter(lin, (p.blur_px, p.blur_px, 0))
    if p.glare > 0:
        n_spec = rng.poisson(p.glare * 12)
        spec = np.zeros((H, W), np.float32)
        for _ in range(n_spec):
            cx, cy = rng.uniform(0, W), rng.uniform(0, H)
            r = rng.uniform(3, 25) * (W / 1280)
            x0, x1 = max(int(cx - 3 * r), 0), min(int(cx + 3 * r) + 1, W)
            y0, y1 = max(int(cy - 3 * r), 0), min(int(cy + 3 * r) + 1, H)
            d2 = (xx_full[y0:y1, x0:x1] - cx) ** 2 + (yy_full[y0:y1, x0:x1] - cy) ** 2
            spec[y0:y1, x0:x1] += 1.5 * np.exp(-d2 / (2 * r * r))
        # LED ring reflections: a few broad hot-spots near the rim.
        for _ in range(rng.poisson(p.glare * 3)):
            ang = rng.uniform(0, 2 * np.pi)
            cx = W / 2 + 0.42 * W * np.cos(ang)
            cy = H / 2 + 0.42 * H * np.sin(ang)
            r = 0.06 * min(H, W)
            spec += 0.35 * np.exp(-((xx_full - cx) ** 2 + (yy_full - cy) ** 2) / (2 * r * r))
        lin = lin + spec[..., None]
    if p.vignetting > 0:
        rr = ((xx_full - W / 2) / (W / 2)) ** 2 + ((yy_full - H / 2) / (H / 2)) ** 2
        lin = lin * (1 - p.vignetting * rr / 2)[..., None]
    exposure = 0.92 / max(float(np.percentile(lin[..., 0], 95)), 1e-3)
    lin = lin * min(exposure, 1.6)

    # --- sensor: Poisson-Gaussian noise, then sRGB encoding and JPEG -----------------------
    if p.noise > 0:
        sd = np.sqrt(np.clip(lin, 0, None) * p.noise * 0.02 + (p.noise * 0.3) ** 2)
        lin = lin + rng.normal(size=lin.shape) * sd
    lin = np.clip(lin, 0, 1)
    srgb = np.where(lin <= 0.0031308, 12.92 * lin, 1.055 * np.power(lin, 1 / 2.4) - 0.055)
    img = np.clip(np.round(srgb * 255), 0, 255).astype(np.uint8)
    if p.jpeg_quality:
        buf = io.BytesIO()
        Image.fromarray(img).save(buf, format="JPEG", quality=int(p.jpeg_quality))
        img = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))

    # Counted hairs: those whose base falls inside the (moved) frame.
    fw, fh = W * upp, H * upp
    counted = []
    for h in scene.hairs:
        bx, by = cam(h.control_um[0] / upp) * upp
        if 0 <= bx < fw and 0 <= by < fh:
            counted.append(h)
    truth = Truth(
        hairs=counted,
        field_area_cm2=scene.field_area_cm2,
        um_per_px=upp,
        shift_px=(sx, sy),
        blur_px=p.blur_px,
        extra={"seed": scene.seed, "noise_seed": ns, "days": scene.days},
        rotation_deg=float(rotation_deg),
        centre_px=centre,
    )
    return img, truth


def _draw_line_absorb(
    absorb: np.ndarray,
    pts: np.ndarray,
    radius: float,
    mu: np.ndarray,
    bright: np.ndarray | None,
    scat: float | None,
) -> None:
    H, W = absorb.shape[:2]
    x0 = max(int(pts[:, 0].min() - radius - 2), 0)
    x1 = min(int(pts[:, 0].max() + radius + 3), W)
    y0 = max(int(pts[:, 1].min() - radius - 2), 0)
    y1 = min(int(pts[:, 1].max() + radius + 3), H)
    if x1 <= x0 or y1 <= y0:
        return
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    cum = np.concatenate([[0], np.cumsum(np.hypot(*np.diff(pts, axis=0).T))])
    dist, _ = _segment_distance(xx, yy, pts, cum)
    chord = 2 * np.sqrt(np.clip(radius**2 - dist**2, 0, None))
    absorb[y0:y1, x0:x1] += chord[..., None] * mu


def _draw_hair(
    absorb: np.ndarray,
    bright: np.ndarray,
    pts: np.ndarray,
    h: TruthHair,
    upp: float,
    mu_um: np.ndarray,
    scat: float,
    glint: bool,
) -> None:
    H, W = absorb.shape[:2]
    rmax = h.base_diameter_um / upp / 2
    x0 = max(int(pts[:, 0].min() - rmax - 2), 0)
    x1 = min(int(pts[:, 0].max() + rmax + 3), W)
    y0 = max(int(pts[:, 1].min() - rmax - 2), 0)
    y1 = min(int(pts[:, 1].max() + rmax + 3), H)
    if x1 <= x0 or y1 <= y0:
        return
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    cum = np.concatenate([[0], np.cumsum(np.hypot(*np.diff(pts, axis=0).T))])
    dist, frac = _segment_distance(xx, yy, pts, cum)
    r = _diameter_profile(h, frac) / upp / 2
    # Blunt cut end and base: no chord beyond the end points (distance measured to the segment
    # already clips the ends, but rounds them; cut hair ends are square, so trim the caps).
    cap = ((frac <= 0) | (frac >= 1)) & (dist > 0.5)
    r = np.where(cap if not h.tapered else (frac <= 0) & (dist > 0.5), 0.0, r)
    chord_px = 2 * np.sqrt(np.clip(r**2 - dist**2, 0, None))
    chord_um = chord_px * upp
    absorb[y0:y1, x0:x1] += chord_um[..., None] * mu_um
    if scat > 0:
        bright[y0:y1, x0:x1] += scat * (1 - np.exp(-chord_um / 40.0))
    if glint:
        # Cuticle glint: a thin specular streak along part of the shaft.
        on = (frac > 0.2) & (frac < 0.7) & (chord_px > 0)
        g = np.exp(-((dist - 0.3 * r) ** 2) / (2 * np.maximum(0.15 * r, 0.4) ** 2))
        bright[y0:y1, x0:x1] += np.where(on, 0.06 * g, 0)


def generate(
    params: SynthParams, seed: int, noise_seed: int | None = None
) -> tuple[np.ndarray, Truth]:
    """Convenience: draw a scene and render it."""
    return render(make_scene(params, seed), noise_seed=noise_seed)


def random_params(rng: np.random.Generator, **overrides: Any) -> SynthParams:
    """Draw parameters across the documented ranges (used by benchmarks and property tests)."""
    mp = rng.uniform(0.8, 1.3)
    aspect = 1.25
    w = int(np.sqrt(mp * 1e6 * aspect))
    h = int(w / aspect)
    up = rng.dirichlet([2.5, 5, 2, 0.5])
    kw: dict[str, Any] = dict(
        width=w,
        height=h,
        um_per_px=float(rng.uniform(*UM_PER_PX_RANGE)),
        density_per_cm2=float(rng.uniform(*DENSITY_PER_CM2_RANGE)),
        unit_probs=tuple(float(x) for x in up),
        vellus_share=float(rng.uniform(0, 0.5)),
        trimmed_length_mm=(0.1, float(rng.uniform(0.3, 0.5))),
        flow_spread_deg=float(rng.uniform(15, 30)),
        curvature=float(rng.uniform(0.0, 0.2)),
        hair_colour=str(rng.choice(["black", "black", "brown", "brown", "blond", "grey"])),
        fitzpatrick=int(rng.integers(1, 7)),
        glare=float(rng.uniform(0, 0.6)),
        dandruff=float(rng.uniform(0, 0.5)),
        vessels=float(rng.uniform(0, 0.5)),
        blur_px=float(rng.uniform(0.5, 2.0)),
        vignetting=float(rng.uniform(0.1, 0.4)),
        noise=float(rng.uniform(0.005, 0.02)),
        jpeg_quality=int(rng.integers(70, 96)),
    )
    kw.update(overrides)
    return SynthParams(**kw)


def render_micrometer(
    um_per_px: float,
    spacing_um: float = 10.0,
    size: tuple[int, int] = (512, 640),
    angle_deg: float = 3.0,
    seed: int = 0,
) -> np.ndarray:
    """A stage-micrometer image: dark rulings every ``spacing_um`` on a bright background."""
    rng = np.random.default_rng(seed)
    H, W = size
    yy, xx = np.mgrid[0:H, 0:W].astype(float)
    a = np.deg2rad(angle_deg)
    u = (xx * np.cos(a) + yy * np.sin(a)) * um_per_px
    phase = np.mod(u, spacing_um)
    line_w = max(spacing_um * 0.12, 1.5 * um_per_px)
    dist = np.minimum(phase, spacing_um - phase)
    line = np.clip(1 - (dist - line_w / 2) / um_per_px, 0, 1)
    img = 0.85 - 0.7 * line
    img = ndi.gaussian_filter(img, 0.8) + rng.normal(0, 0.01, img.shape)
    g = np.clip(img * 255, 0, 255).astype(np.uint8)
    return np.repeat(g[..., None], 3, axis=2)
