"""Demo trichoscopy images with a known truth, analysed by the engine.

The monitoring demo's own trichoscopy pictures are schematic strokes at about 40 µm per pixel,
outside what the engine accepts (2-8 µm/px), so they stay unanalysed. Here the latest visit of
the first ``DEMO_IMAGED`` simulated patients gets one more trichoscopy image rendered by the
ground-truth generator (``engine.synth``) from that patient's simulated density and mean
diameter. ``load_demo`` first saves the demo clinic's dermatoscope calibration (the
generator's scale, for images of the synthetic fields' size) where it has none, so a photo
uploaded in the demo is analysed at once; the synthetic fields themselves are then analysed
with that same scale entered on the photo. The visit page shows the overlay, the summary and
the correction tool. The generator's truth is written on the photo's target-area
label so a user can compare. The visit's manual measurement stays the one outcomes use.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from anagen.accounts.models import Clinic, User
from anagen.imaging import services
from anagen.imaging.engine import synth
from anagen.monitoring import services as monitoring
from anagen.monitoring.models import Photo, Visit

DEMO_IMAGED = 4  # patients; each image adds ~1 s of rendering and analysis to the demo load
UM_PER_PX = 5.0
SIZE_PX = (960, 768)
LABEL = "Synthetic field"


def _image(density: float, diameter_um: float, vellus_pct: float, seed: int) -> tuple[bytes, int]:
    params = synth.SynthParams(
        width=SIZE_PX[0],
        height=SIZE_PX[1],
        um_per_px=UM_PER_PX,
        density_per_cm2=float(np.clip(density, 50, 350)),
        terminal_um=(float(np.clip(diameter_um, 45, 90)), 10.0),
        vellus_share=float(np.clip(vellus_pct / 100, 0.0, 0.5)),
        hair_colour="brown" if seed % 2 else "black",
        fitzpatrick=2 + seed % 3,
    )
    pixels, truth = synth.generate(params, seed=seed)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="JPEG", quality=92)
    return out.getvalue(), truth.count


def load_demo(clinic: Clinic, users: dict[str, User]) -> None:
    """Idempotent: a visit that already has a synthetic field is left alone."""
    from anagen.monitoring.demo import cohort, mrn

    user = users["clinician"]
    if services.settings_for(clinic).um_per_px is None:
        # The demo dermatoscope: a photo uploaded in the demo is analysed at once.
        services.save_calibration(clinic, user, {
            "um_per_px": UM_PER_PX, "image_long_side_px": max(SIZE_PX),
            "calibration_note": "Demo dermatoscope (the synthetic images' scale)",
        })  # fmt: skip
    for k, (_, p, _) in enumerate(cohort()[:DEMO_IMAGED]):
        visit = (
            Visit.objects.filter(
                clinic=clinic, patient__medical_record_number=mrn(k), voided_at__isnull=True
            )
            .order_by("-visit_date")
            .first()
        )
        if visit is None or visit.photos.filter(target_area__startswith=LABEL).exists():
            continue
        true = p.visits[-1].true
        image, count = _image(
            true.density_per_cm2 or 150.0,
            true.mean_diameter_um or 60.0,
            true.vellus_pct or 20.0,
            seed=1000 + k,
        )
        label = f"{LABEL}: {count} hairs drawn at {UM_PER_PX:g} µm/px (known truth)"
        (photo,) = monitoring.add_photos(
            visit,
            user,
            [monitoring.PhotoUpload(io.BytesIO(image), Photo.Kind.TRICHOSCOPY, target_area=label)],
        )
        services.request_analysis(photo, user, um_per_px=UM_PER_PX)
