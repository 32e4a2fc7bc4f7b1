"""Demo products, lots in every state, CoAs, storage, temperature logs and vial use.

Idempotent: every step checks for its rows first. Values are REFERENCE.md A.6.2-like;
the products and manufacturers are fictitious.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from anagen.accounts.models import Clinic, User
from anagen.accounts.roles import Role
from anagen.accounts.services import set_membership
from anagen.core.demo import demo_clock
from anagen.products import services
from anagen.products.models import Lot, Product, StorageLocation

SECOND_QUALITY_USER = ("quality2", "quality2-demo-2026")
# The demo lots were received this many days ago and released (or rejected) a few days later,
# so that back-dated sessions of the past two weeks can draw from them.
RECEIVED_DAYS_AGO = 20
RELEASED_DAYS_AGO = 17

REGULATORY = {
    "US": "No FDA-approved exosome products (FDA Public Safety Notification, 6 Dec 2019). "
    "Exosomes used to treat disease are drugs/biologics needing premarket approval; "
    "not a 361 HCT/P (21 CFR 1271.3(d)).",
    "EU/UK": "Therapeutic EVs are medicinal products (possibly ATMPs after EMA/CAT "
    "classification); human-derived exosomes are not allowed in cosmetics (Reg. 1223/2009).",
    "KR": "Medical use only within trials or the Advanced Regenerative Bio Act (MFDS).",
}

PRODUCTS = [
    {
        "manufacturer": "Cordis Biologics (demo)",
        "name": "UC-MSC EV 10B",
        "source_tissue": "umbilical_cord",
        "donor_type": "allogeneic_single",
        "form": "frozen_liquid",
        "labelled_particles_per_vial": 1.0e10,
        "volume_ml": Decimal("1.000"),
        "storage_min_temperature_c": Decimal("-90.0"),
        "storage_max_temperature_c": Decimal("-60.0"),
        "storage_requirement": "Store frozen at −80 °C",
        "regulatory_status": REGULATORY,
        "components": ["phosphate-buffered saline", "human serum albumin"],  # demo values
    },
    {
        "manufacturer": "AdipoVesicle Labs (demo)",
        "name": "AD-EV Lyo 5B",
        "source_tissue": "adipose",
        "donor_type": "allogeneic_pooled",
        "form": "lyophilised",
        "labelled_particles_per_vial": 5.0e9,
        "volume_ml": Decimal("2.000"),
        "storage_min_temperature_c": Decimal("2.0"),
        "storage_max_temperature_c": Decimal("8.0"),
        "storage_requirement": "Store at 2–8 °C; reconstitute with 2 mL water for injection",
        "regulatory_status": REGULATORY,
        "components": ["trehalose", "mannitol"],  # a lyophilised product's cryoprotectants
    },
]


def _coa(labelled_per_ml: float, **changes: object) -> dict:
    results = {
        "particles_per_ml": labelled_per_ml * 1.08,
        "size_mode_nm": 112,
        "size_mean_nm": 128,
        "size_d10_nm": 74,
        "size_d50_nm": 115,
        "size_d90_nm": 196,
        "particles_50_400nm_pct": 95.2,
        "cd9": "positive",
        "cd63": "positive",
        "cd81": "positive",
        "tsg101": "positive",
        "alix": "positive",
        "calnexin": "negative",
        "gm130": "negative",
        "tem_morphology": "conforms",
        "protein_ug_per_ml": 1.6,
        "sterility": "negative",
        "endotoxin_eu_per_ml": 0.06,
        "mycoplasma": "negative",
        "adventitious_virus": "negative",
        "antibiotic_residue": "negative",
        "residual_dna_ng_per_dose": 1.2,
        "donor_screening": "negative",
        "donor_screening_panel": "HIV-1/2, HBV, HCV, HTLV-I/II, syphilis, CMV, WNV, T. cruzi",
        "potency": "NF-κB inhibition 41 % at 1e9 particles/mL (vendor assay)",
    }
    results.update(changes)
    return results


def _second_quality_user(clinic: Clinic) -> User:
    username, password = SECOND_QUALITY_USER
    user, created = User.objects.get_or_create(
        username=username, defaults={"first_name": "Quality (second)", "last_name": "Demo"}
    )
    if created:
        user.set_password(password)
        user.save()
    set_membership(user, clinic, Role.QUALITY)
    return user


def _product(clinic: Clinic, user: User, data: dict) -> Product:
    existing = Product.objects.filter(
        clinic=clinic, manufacturer=data["manufacturer"], name=data["name"]
    ).first()
    return existing or services.create_product(clinic, user, data)


def _location(
    clinic: Clinic, user: User, name: str, description: str, set_range: tuple[str, str]
) -> StorageLocation:
    existing = StorageLocation.objects.filter(clinic=clinic, name=name).first()
    return existing or services.create_location(
        clinic, user, name, description,
        set_min_temperature_c=set_range[0], set_max_temperature_c=set_range[1],
    )  # fmt: skip


def _readings(location: StorageLocation, user: User, rows: list[tuple[datetime, float]]) -> None:
    if location.readings.exists():
        return
    csv_text = "recorded_at,temperature_c\n" + "".join(
        f"{at.isoformat()},{temp:.1f}\n" for at, temp in rows
    )
    services.import_readings(location, user, csv_text.encode())


@transaction.atomic
def load_demo(clinic: Clinic, users: dict[str, User]) -> None:
    """Idempotent: running it twice must not duplicate anything."""
    quality = users[Role.QUALITY.value]
    nurse = users[Role.NURSE.value]
    quality2 = _second_quality_user(clinic)
    services.settings_for(clinic)
    # The spec in force when the demo lots arrived: made "now" it was dated after the lot
    # decisions that cite it.
    with demo_clock(timezone.localdate() - timedelta(days=RECEIVED_DAYS_AGO + 1)):
        services.current_spec(clinic)
    if Lot.objects.filter(clinic=clinic).exists():
        return  # lots are the last thing made below, so their presence means "done"
    uc, ad = (_product(clinic, users[Role.ADMIN.value], p) for p in PRODUCTS)
    freezer = _location(
        clinic, quality, "Freezer F1", "−80 °C freezer, pharmacy room", ("-85.0", "-75.0")
    )
    fridge = _location(clinic, quality, "Fridge R1", "2–8 °C pharmacy fridge", ("2.0", "8.0"))
    fridge2 = _location(
        clinic, quality, "Fridge R2", "2–8 °C treatment-room fridge", ("2.0", "8.0")
    )

    now = timezone.now().replace(minute=0, second=0, microsecond=0)
    today = timezone.localdate()
    # The lots arrived RECEIVED_DAYS_AGO and were decided on RELEASED_DAYS_AGO, each step
    # with the clock set to its day, so that sessions of the past weeks may draw from them
    # (no draw before a lot's receipt or release) and the lot pages tell a true story.
    received_day = today - timedelta(days=RECEIVED_DAYS_AGO)
    decided_day = today - timedelta(days=RELEASED_DAYS_AGO)
    received = datetime.combine(received_day, time(10, 0), tzinfo=UTC)

    def lot(product: Product, number: str, expiry: date, vials: int, where: StorageLocation,
            results: dict | None) -> Lot:  # fmt: skip
        with demo_clock(received_day):
            made = services.receive_lot(
                clinic, quality, product=product, lot_number=number, expiry_date=expiry,
                quantity_received=vials, storage_location=where, received_at=received,
                supplier_notes="Delivered on dry ice; data logger attached." if where == freezer
                else "Delivered at 2–8 °C with logger.",
            )  # fmt: skip
        if results is not None:
            with demo_clock(received_day, time(15, 0)):
                services.record_coa(
                    made, quality, testing_laboratory="Meridian Analytical Services (demo)",
                    certificate_lot_number=made.lot_number,
                    third_party_laboratory=True, cgmp_statement="Manufactured under cGMP "
                    "(vendor statement)", nta_method="NTA (ZetaView)", results=results,
                )  # fmt: skip
        return made

    def decided(at: time = time(11, 0)) -> AbstractContextManager[None]:
        return demo_clock(decided_day, at)

    uc_ml = uc.labelled_particles_per_ml
    ad_ml = ad.labelled_particles_per_ml
    released = lot(uc, "UC-2611-A", today + timedelta(days=300), 30, freezer, _coa(uc_ml))
    with decided():
        services.release_lot(released, quality, "All criteria pass; third-party CoA.")
    lot(uc, "UC-2611-B", today + timedelta(days=320), 20, freezer, _coa(uc_ml, size_mode_nm=98))
    rejected = lot(
        uc, "UC-2610-R", today + timedelta(days=250), 20, freezer,
        _coa(uc_ml, endotoxin_eu_per_ml=0.61),
    )  # fmt: skip
    with decided():
        services.reject_lot(rejected, quality, "Endotoxin 0.61 EU/mL above the 0.25 EU/mL limit.")
    lot(uc, "UC-2612-Q", today + timedelta(days=360), 20, freezer, None)
    override = lot(
        uc, "UC-2609-O", today + timedelta(days=200), 10, freezer,
        _coa(uc_ml, particles_50_400nm_pct=88.5),
    )  # fmt: skip
    with decided(time(9, 0)):
        services.request_override(
            override, quality,
            "Optional size-distribution criterion 88.5 % vs >90 %; mode and identity in spec. "
            "Medical director asks for release.",
        )  # fmt: skip
    with decided(time(14, 0)):
        services.approve_override(override, quality2)
    expiring = lot(
        ad, "AD-2605-S", today + timedelta(days=30), 12, fridge, _coa(ad_ml, protein_ug_per_ml=0.6)
    )
    with decided():
        services.release_lot(expiring, quality)
    flagged = lot(
        ad,
        "AD-2611-X",
        today + timedelta(days=240),
        12,
        fridge2,
        _coa(ad_ml, protein_ug_per_ml=0.6),
    )
    with decided():
        services.release_lot(flagged, quality)

    # No vials are drawn here: every demo vial draw is made by a treatment session
    # (treatments.demo, monitoring.demo), so the lot trace, the recall list and the cohort's
    # product filters name only patients whose record holds the session.
    services.record_waste(released, nurse, 1, "Vial dropped during thawing")

    # Temperature logs: steady freezer and fridge; fridge R2 warmed for 3 h two days ago.
    start = received + timedelta(hours=1)
    hours = int((now - start).total_seconds() // 3600)
    _readings(
        freezer, quality,
        [(start + timedelta(hours=h), -80.0 + (h % 5) * 0.4) for h in range(0, hours, 6)],
    )  # fmt: skip
    _readings(
        fridge, quality,
        [(start + timedelta(hours=h), 4.5 + (h % 3) * 0.5) for h in range(0, hours, 4)],
    )  # fmt: skip
    warm_from = now - timedelta(days=2)
    rows = []
    for h in range(0, hours, 1):
        at = start + timedelta(hours=h)
        temp = 5.0 + (h % 4) * 0.3
        if warm_from <= at < warm_from + timedelta(hours=3):
            temp = 11.5 + (at - warm_from).total_seconds() / 3600
        rows.append((at.astimezone(UTC), temp))
    _readings(fridge2, nurse, rows)
