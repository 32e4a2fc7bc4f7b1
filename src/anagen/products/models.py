"""Exosome products, lots, certificates of analysis, release, cold chain, stock and recall.

Every row belongs to a clinic (tenancy); every model keeps its history
(django-simple-history); nothing clinical is deleted: lots are rejected or recalled,
draws and waste are recorded as rows and stock is derived from them.
"""

from __future__ import annotations

from datetime import date, timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from simple_history.models import HistoricalRecords

from anagen.accounts.models import Clinic
from anagen.products import coldchain

DEFAULT_EXPIRY_WARNING_DAYS = 60
COA_PDF_MAX_BYTES = 10 * 1024 * 1024
USER = settings.AUTH_USER_MODEL


class SourceTissue(models.TextChoices):
    UMBILICAL_CORD = "umbilical_cord", "Umbilical cord"
    WHARTONS_JELLY = "whartons_jelly", "Wharton's jelly"
    ADIPOSE = "adipose", "Adipose tissue"
    BONE_MARROW = "bone_marrow", "Bone marrow"
    PLACENTA = "placenta", "Placenta"
    OTHER = "other", "Other"


class DonorType(models.TextChoices):
    ALLOGENEIC_SINGLE = "allogeneic_single", "Allogeneic, single donor"
    ALLOGENEIC_POOLED = "allogeneic_pooled", "Allogeneic, pooled donors"
    AUTOLOGOUS = "autologous", "Autologous"
    NOT_STATED = "not_stated", "Not stated by the manufacturer"


class ProductForm(models.TextChoices):
    FROZEN_LIQUID = "frozen_liquid", "Frozen liquid"
    LYOPHILISED = "lyophilised", "Lyophilised"


class ProductSettings(models.Model):
    """Per-clinic settings of the products module."""

    clinic = models.OneToOneField(Clinic, on_delete=models.PROTECT, related_name="+")
    expiry_warning_days = models.PositiveIntegerField(
        default=DEFAULT_EXPIRY_WARNING_DAYS,
        help_text="Lots expiring within this many days are shown on the dashboard.",
    )
    history = HistoricalRecords()

    def __str__(self) -> str:
        return f"Product settings of {self.clinic}"


# Shown with every product and lot (pages, recall notice, API): the catalogue holds exosome
# products, investigational wherever they are used (REFERENCE.md A.6.3).
PRODUCT_NOTICE = (
    "Investigational product: exosome products are not approved for hair loss in most "
    "jurisdictions."
)


class Product(models.Model):
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="products")
    manufacturer = models.CharField(max_length=200)
    name = models.CharField("product name", max_length=200)
    source_tissue = models.CharField(max_length=20, choices=SourceTissue.choices)
    donor_type = models.CharField(max_length=20, choices=DonorType.choices)
    form = models.CharField(max_length=20, choices=ProductForm.choices)
    labelled_particles_per_vial = models.FloatField(
        help_text="Particles per vial as labelled by the manufacturer (e.g. 1e10)."
    )
    volume_ml = models.DecimalField(
        "volume per vial (mL)", max_digits=7, decimal_places=3, help_text="After reconstitution."
    )
    storage_min_temperature_c = models.DecimalField(
        "storage minimum (°C)", max_digits=5, decimal_places=1
    )
    storage_max_temperature_c = models.DecimalField(
        "storage maximum (°C)", max_digits=5, decimal_places=1
    )
    storage_requirement = models.CharField(
        max_length=200, help_text="As printed on the label, e.g. “Store at −80 °C”."
    )
    # {"US": "...", "EU": "..."}: shown wherever the product is used.
    regulatory_status = models.JSONField(default=dict, blank=True)
    # Excipients and other components as the label or CoA lists them ("trehalose", "human
    # serum albumin"): a session drawing vials of the product is refused for a patient with
    # a recorded allergy to one (screening's allergy_to_product rule, at the point of use).
    components = models.JSONField(default=list, blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["clinic", "manufacturer", "name"], name="product_unique_per_clinic"
            ),
            models.CheckConstraint(
                condition=Q(storage_min_temperature_c__lte=models.F("storage_max_temperature_c")),
                name="product_storage_range_ordered",
                violation_error_message="The storage maximum must not be below the minimum.",
            ),
            models.CheckConstraint(condition=Q(volume_ml__gt=0), name="product_volume_positive"),
        ]
        ordering = ["manufacturer", "name"]

    def __str__(self) -> str:
        return f"{self.manufacturer} — {self.name}"

    @property
    def labelled_particles_per_ml(self) -> float:
        return self.labelled_particles_per_vial / float(self.volume_ml)


class ReleaseSpecVersion(models.Model):
    """One version of a clinic's release specification (the YAML structure of release.py).

    Versions are never edited: a change is a new version, and every decision records
    the version it was taken under.
    """

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="release_specs")
    version = models.CharField(max_length=40)
    name = models.CharField(max_length=200)
    data = models.JSONField()
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        USER, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    history = HistoricalRecords()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["clinic", "version"], name="spec_version_unique"),
        ]
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"


class StorageLocation(models.Model):
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="storage_locations")
    name = models.CharField(max_length=120)
    description = models.CharField(max_length=300, blank=True)
    # The range the fridge or freezer is set to hold; both or neither. A lot is received
    # here only if its product's storage range covers it (none set: not checked).
    set_min_temperature_c = models.DecimalField(
        "set minimum (°C)", max_digits=5, decimal_places=1, null=True, blank=True
    )
    set_max_temperature_c = models.DecimalField(
        "set maximum (°C)", max_digits=5, decimal_places=1, null=True, blank=True
    )
    is_active = models.BooleanField(default=True)
    history = HistoricalRecords()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["clinic", "name"], name="location_unique_per_clinic"),
            models.CheckConstraint(
                condition=Q(set_min_temperature_c__isnull=True, set_max_temperature_c__isnull=True)
                | Q(
                    set_min_temperature_c__isnull=False,
                    set_max_temperature_c__isnull=False,
                    set_min_temperature_c__lte=models.F("set_max_temperature_c"),
                ),
                name="location_set_range_both_or_neither_ordered",
            ),
        ]
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class LotStatus(models.TextChoices):
    QUARANTINED = "quarantined", "Quarantined"
    RELEASED = "released", "Released"
    REJECTED = "rejected", "Rejected"
    RECALLED = "recalled", "Recalled"


# Lots whose expiry is watched: still to be released or in use. A rejected or recalled lot is
# out of use already; its expiry warns of nothing.
LIVE_STATUSES = (LotStatus.QUARANTINED, LotStatus.RELEASED)


def expiring_lots(today: date, warning_days: int) -> Q:
    """Live lots that expire from ``today`` to ``warning_days`` later (the clinic's setting):
    the one definition behind the lot list filter, the API, the dashboard and the badges."""
    return Q(
        status__in=LIVE_STATUSES,
        expiry_date__gte=today,
        expiry_date__lte=today + timedelta(days=warning_days),
    )


class Lot(models.Model):
    """A delivery of one product lot. QUARANTINED on receipt; released only by quality."""

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="lots")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="lots")
    lot_number = models.CharField(max_length=60)
    expiry_date = models.DateField()
    quantity_received = models.PositiveIntegerField("vials received")
    # Kept equal to received − drawn − wasted by the services, under a row lock; the
    # check constraint is the last line of defence against negative stock.
    quantity_on_hand = models.IntegerField("vials on hand")
    storage_location = models.ForeignKey(
        StorageLocation, null=True, blank=True, on_delete=models.PROTECT, related_name="lots"
    )
    status = models.CharField(
        max_length=20, choices=LotStatus.choices, default=LotStatus.QUARANTINED
    )
    # A cold-chain excursion or a recall blocks a lot whatever its status.
    blocked = models.BooleanField(default=False)
    block_reason = models.CharField(max_length=300, blank=True)
    received_at = models.DateTimeField()
    received_by = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    supplier_notes = models.TextField(blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        USER, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decision_reason = models.TextField(blank=True)
    decision_spec = models.ForeignKey(
        ReleaseSpecVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    history = HistoricalRecords()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["clinic", "product", "lot_number"], name="lot_number_unique_per_product"
            ),
            models.CheckConstraint(
                condition=Q(quantity_on_hand__gte=0), name="lot_stock_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(quantity_on_hand__lte=models.F("quantity_received")),
                name="lot_stock_not_above_received",
            ),
        ]
        indexes = [models.Index(fields=["clinic", "status", "expiry_date"])]
        ordering = ["expiry_date", "lot_number", "id"]

    def __str__(self) -> str:
        return f"{self.product.name} lot {self.lot_number}"

    def expiry_state(self, today: date, warning_days: int) -> str:
        """ "expired", "today" or "soon" (within the warning days, as ``expiring_lots``), or
        "" for a lot far from expiry or no longer live."""
        if self.expiry_date < today:
            return "expired"
        if self.status not in LIVE_STATUSES:
            return ""
        if self.expiry_date == today:
            return "today"
        return "soon" if self.expiry_date <= today + timedelta(days=warning_days) else ""


def coa_upload_to(instance: CertificateOfAnalysis, filename: str) -> str:
    # The clinic and lot in the path; the original name is kept only as metadata.
    return f"coa/{instance.clinic_id}/lot-{instance.lot_id}.pdf"


def supplier_doc_upload_to(instance: SupplierDocument, filename: str) -> str:
    return f"supplier-docs/{instance.clinic_id}/lot-{instance.lot_id}.pdf"


class CoaSource(models.TextChoices):
    FORM = "form", "Entered in the form"
    IMPORT = "import", "Imported file"
    API = "api", "API"


class CertificateOfAnalysis(models.Model):
    """The structured CoA of a lot; re-entry replaces it and the history keeps the old one.

    `results` holds the values keyed by the release engine's field names
    (docs/products.md lists them), bare numbers in the unit named in the field.
    """

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    lot = models.OneToOneField(Lot, on_delete=models.PROTECT, related_name="coa")
    testing_laboratory = models.CharField(max_length=200)
    # The lot number the certificate states, as it is printed there; it must be the lot's own
    # (lotnumbers.same_lot_number). Blank only on CoAs stored before it was recorded: such a
    # lot is not released until it is entered (services.release_lot).
    certificate_lot_number = models.CharField(
        "lot number on the certificate", max_length=60, blank=True, default=""
    )
    third_party_laboratory = models.BooleanField(default=False)
    cgmp_statement = models.CharField("cGMP statement", max_length=300, blank=True)
    nta_method = models.CharField(
        "particle concentration method", max_length=120, blank=True, default="NTA"
    )
    results = models.JSONField(default=dict)
    # Which of `results` the service derived (from the label, or concentration ÷ protein)
    # rather than took from the CoA: a replacement recomputes them instead of keeping them.
    derived_fields = models.JSONField(default=list, blank=True)
    pdf = models.FileField(upload_to=coa_upload_to, blank=True, max_length=300)
    pdf_original_name = models.CharField(max_length=200, blank=True)
    source = models.CharField(max_length=10, choices=CoaSource.choices, default=CoaSource.FORM)
    entered_at = models.DateTimeField()
    entered_by = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    history = HistoricalRecords()

    def __str__(self) -> str:
        return f"CoA of {self.lot}"


class SupplierDocument(models.Model):
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    lot = models.ForeignKey(Lot, on_delete=models.PROTECT, related_name="documents")
    title = models.CharField(max_length=200)
    file = models.FileField(upload_to=supplier_doc_upload_to, max_length=300)
    uploaded_at = models.DateTimeField()
    uploaded_by = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    history = HistoricalRecords()

    def __str__(self) -> str:
        return self.title


class DecisionKind(models.TextChoices):
    RELEASE = "release", "Released (all required criteria pass)"
    REJECT = "reject", "Rejected"
    OVERRIDE_REQUEST = "override_request", "Release override requested"
    OVERRIDE_APPROVE = "override_approve", "Release override approved (second person)"
    EXCURSION_ACCEPT = "excursion_accept", "Cold-chain excursion assessed: lot usable"
    EXCURSION_REOPEN = (
        "excursion_reopen",
        "Cold-chain excursion grew after it was accepted: blocked again",
    )
    EXCURSION_WITHDRAWN = (
        "excursion_void",
        "Cold-chain excursion withdrawn: the readings that showed it were voided",
    )
    RECALL = "recall", "Recalled"
    REQUARANTINE = (
        "requarantine",
        "Returned to quarantine: its product was corrected, so it is released again",
    )


class LotDecision(models.Model):
    """Every quality decision on a lot, with the spec report it was based on."""

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    lot = models.ForeignKey(Lot, on_delete=models.PROTECT, related_name="decisions")
    kind = models.CharField(max_length=20, choices=DecisionKind.choices)
    reason = models.TextField(blank=True)
    spec = models.ForeignKey(
        ReleaseSpecVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    report = models.JSONField(default=list, blank=True)
    decided_at = models.DateTimeField()
    decided_by = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    history = HistoricalRecords()

    class Meta:
        ordering = ["-decided_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} — {self.lot}"


class OverrideStatus(models.TextChoices):
    PENDING = "pending", "Waiting for a second quality user"
    APPROVED = "approved", "Approved"
    WITHDRAWN = "withdrawn", "Withdrawn"


class ReleaseOverride(models.Model):
    """Four-eyes release of a lot that does not meet its spec: requested, then approved."""

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    lot = models.ForeignKey(Lot, on_delete=models.PROTECT, related_name="overrides")
    reason = models.TextField()
    status = models.CharField(
        max_length=10, choices=OverrideStatus.choices, default=OverrideStatus.PENDING
    )
    requested_at = models.DateTimeField()
    requested_by = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    approved_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.ForeignKey(
        USER, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    history = HistoricalRecords()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(approved_by__isnull=True) | ~Q(approved_by=models.F("requested_by")),
                name="override_needs_two_people",
            ),
            models.UniqueConstraint(
                fields=["lot"],
                condition=Q(status="pending"),
                name="one_pending_override_per_lot",
            ),
        ]
        ordering = ["-requested_at", "-id"]

    def __str__(self) -> str:
        return f"Override for {self.lot} ({self.status})"


class ReadingSource(models.TextChoices):
    MANUAL = "manual", "Entered by hand"
    LOGGER = "logger", "Imported from a logger"


class TemperatureReading(models.Model):
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    location = models.ForeignKey(StorageLocation, on_delete=models.PROTECT, related_name="readings")
    recorded_at = models.DateTimeField()
    temperature_c = models.DecimalField(max_digits=6, decimal_places=2)  # as read: 8.05
    source = models.CharField(max_length=10, choices=ReadingSource.choices)
    entered_by = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    # A reading entered in error (a mistyped 80 for 8.0) is voided, never deleted; its
    # excursions are worked out again without it (services.void_reading).
    voided_at = models.DateTimeField(null=True, blank=True)
    voided_by = models.ForeignKey(
        USER, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    void_reason = models.TextField(blank=True)
    history = HistoricalRecords()

    class Meta:
        constraints = [
            # One live reading per time: the corrected value may be entered where one was voided.
            models.UniqueConstraint(
                fields=["location", "recorded_at"],
                condition=models.Q(voided_at__isnull=True),
                name="one_live_reading_per_location_time",
            ),
        ]
        ordering = ["-recorded_at", "-id"]

    def __str__(self) -> str:
        return f"{self.location} {self.recorded_at:%Y-%m-%d %H:%M} {self.temperature_c} °C"

    @property
    def is_voided(self) -> bool:
        return self.voided_at is not None


class Excursion(models.Model):
    """A period in which a lot's storage was outside its product's range."""

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    lot = models.ForeignKey(Lot, on_delete=models.PROTECT, related_name="excursions")
    location = models.ForeignKey(StorageLocation, on_delete=models.PROTECT, related_name="+")
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    duration_minutes = models.PositiveIntegerField()
    extreme_temperature_c = models.DecimalField(max_digits=6, decimal_places=2)
    allowed_min_c = models.DecimalField(max_digits=5, decimal_places=1)
    allowed_max_c = models.DecimalField(max_digits=5, decimal_places=1)
    detected_at = models.DateTimeField()
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        USER, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decision = models.CharField(max_length=10, blank=True)  # "accept" | "reject"
    decision_reason = models.TextField(blank=True)
    # Withdrawn when the readings that showed it are voided (services.void_reading); it stays
    # on the lot's page, marked, and no longer blocks the lot or awaits a decision.
    voided_at = models.DateTimeField(null=True, blank=True)
    void_reason = models.TextField(blank=True)
    history = HistoricalRecords()
    # Not stored: set by services.scan_excursions on a decided excursion that grew, so the
    # one who added the readings is told the lot is blocked again.
    reopened: bool = False

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["lot", "started_at"],
                condition=models.Q(voided_at__isnull=True),
                name="one_live_excursion_per_start",
            ),
        ]
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"Excursion {self.summary}"

    @property
    def is_voided(self) -> bool:
        return self.voided_at is not None

    @property
    def duration_text(self) -> str:
        """``45 min``; for an ongoing excursion, that its duration is not known yet."""
        return coldchain.excursion_duration(self.ended_at is not None, self.duration_minutes)

    @property
    def summary(self) -> str:
        """The excursion in words, times in the clinic's zone (see coldchain.excursion_summary)."""
        return coldchain.excursion_summary(
            timezone.localtime(self.started_at),
            None if self.ended_at is None else timezone.localtime(self.ended_at),
            self.duration_minutes,
            float(self.extreme_temperature_c),
        )


class VialDrawQuerySet(models.QuerySet):
    def given(self) -> VialDrawQuerySet:
        """Draws whose vials went to the patient: not returned to stock unopened."""
        return self.filter(returned_at__isnull=True)


class VialDraw(models.Model):
    """Vials taken from a lot for a patient at the point of care (see services.draw_vials).

    A draw of a session voided as entered in error, whose vials were not used, is returned
    (``returned_at``): its vials are back in stock, it stays on the lot trace marked so, and
    it no longer counts as the patient's exposure."""

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    lot = models.ForeignKey(Lot, on_delete=models.PROTECT, related_name="draws")
    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="vial_draws"
    )
    quantity = models.PositiveIntegerField("vials")
    dose_volume_ml = models.DecimalField(
        "dose volume (mL)", max_digits=7, decimal_places=3, null=True, blank=True
    )
    drawn_on = models.DateField()
    drawn_at = models.DateTimeField()
    drawn_by = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    # Link to the treatment session once that module exists (opaque reference until then).
    session_ref = models.CharField(max_length=60, blank=True)
    returned_at = models.DateTimeField(null=True, blank=True)
    returned_by = models.ForeignKey(
        USER, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    return_reason = models.CharField(max_length=300, blank=True)
    history = HistoricalRecords()

    objects = VialDrawQuerySet.as_manager()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gte=1), name="draw_at_least_one_vial"),
        ]
        ordering = ["-drawn_at", "-id"]

    def __str__(self) -> str:
        return f"{self.quantity} vial(s) of {self.lot} for patient {self.patient_id}"

    @property
    def labelled_particles(self) -> float:
        """The particles these vials hold by the product's label (not the certificate's
        measured count): the dose a session gave, where all of their content was injected."""
        return self.quantity * self.lot.product.labelled_particles_per_vial


class VialWaste(models.Model):
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    lot = models.ForeignKey(Lot, on_delete=models.PROTECT, related_name="waste")
    quantity = models.PositiveIntegerField("vials")
    reason = models.CharField(max_length=300)
    recorded_at = models.DateTimeField()
    recorded_by = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    history = HistoricalRecords()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gte=1), name="waste_at_least_one_vial"),
        ]
        ordering = ["-recorded_at", "-id"]

    def __str__(self) -> str:
        return f"{self.quantity} vial(s) of {self.lot} wasted"


class Recall(models.Model):
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    lot = models.OneToOneField(Lot, on_delete=models.PROTECT, related_name="recall")
    reason = models.TextField()
    initiated_at = models.DateTimeField()
    initiated_by = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    history = HistoricalRecords()

    def __str__(self) -> str:
        return f"Recall of {self.lot}"
