"""Roles and the permission table: who may do what, in one place.

Pure data (no Django import) so that docs/permissions.md is generated from it and
tests check every view and endpoint against it.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    CLINICIAN = "clinician"
    NURSE = "nurse"
    QUALITY = "quality"
    RESEARCHER = "researcher"
    FRONT_DESK = "front_desk"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").capitalize()


ALL_ROLES = frozenset(Role)

# Permission name -> (roles allowed, plain-words description).
# Researchers see de-identified analytics only, never a patient record; quality staff
# work on products and lots; front desk registers and schedules patients.
PERMISSIONS: dict[str, tuple[frozenset[Role], str]] = {
    "dashboard.view": (ALL_ROLES, "See the dashboard of the active clinic"),
    "patient.view": (
        frozenset({Role.ADMIN, Role.CLINICIAN, Role.NURSE, Role.FRONT_DESK}),
        "List, search and open patient records (each opening is written to the access log)",
    ),
    "patient.create": (
        frozenset({Role.ADMIN, Role.CLINICIAN, Role.NURSE, Role.FRONT_DESK}),
        "Register a new patient",
    ),
    "patient.edit": (
        frozenset({Role.ADMIN, Role.CLINICIAN, Role.NURSE, Role.FRONT_DESK}),
        "Edit a patient's demographic and contact details",
    ),
    "patient.void": (
        frozenset({Role.ADMIN, Role.CLINICIAN}),
        "Void a patient record entered in error, or restore one voided in error (with a "
        "reason; nothing is deleted)",
    ),
    "record.void": (
        frozenset({Role.ADMIN, Role.CLINICIAN}),
        "Void a visit, photo, measurement, adverse event, decision, appointment or treatment "
        "session entered in error (with a reason; nothing is deleted, vial draws stay on the "
        "lot trace). A serious or grade ≥ 3 adverse event also needs adverse_event.lower, and "
        "a decision on further sessions (or its visit) decision.record",
    ),
    "audit.view": (
        frozenset({Role.ADMIN, Role.CLINICIAN}),
        "See the change history of a record, its access log, the clinic's access log "
        "(/accounts/access-log/: every read of a patient record, by person, with the client "
        "address), the clinic's audit trail (/accounts/audit/: every change to its records "
        "and staff, by person, kind or patient; each change opens to its values before and "
        "after; one patient's changes, listed or exported, are a reading of that patient's "
        "record in its access log) and the record of de-identified exports "
        "(/interop/export/log/: who downloaded the analysis table, when, how and from where)",
    ),
    # --- consultation and assessment -------------------------------------------------------
    "consultation.view": (
        frozenset({Role.ADMIN, Role.CLINICIAN, Role.NURSE}),
        "See medical history, screening, scalp exams, diagnoses, plans and consents",
    ),
    "history.edit": (
        frozenset({Role.ADMIN, Role.CLINICIAN, Role.NURSE}),
        "Record a new version of the medical history questionnaire",
    ),
    "exam.edit": (
        frozenset({Role.CLINICIAN, Role.NURSE}),
        "Record a scalp examination (scales, SALT, pull test, trichoscopy signs)",
    ),
    "diagnosis.edit": (
        frozenset({Role.CLINICIAN}),
        "Record a coded diagnosis",
    ),
    "plan.edit": (
        frozenset({Role.CLINICIAN}),
        "Accept or edit a treatment plan",
    ),
    "screening.override": (
        frozenset({Role.CLINICIAN}),
        "Override a BLOCK from contraindication screening, with a written reason",
    ),
    "consent.record": (
        frozenset({Role.CLINICIAN, Role.NURSE}),
        "Record a patient's signed consent",
    ),
    "protocol.manage": (
        frozenset({Role.ADMIN, Role.CLINICIAN}),
        "Edit the clinic's protocol templates, consent texts and screening-rule overrides",
    ),
    # --- exosome products, lots, cold chain --------------------------------------------------
    "product.view": (
        frozenset({Role.ADMIN, Role.CLINICIAN, Role.NURSE, Role.QUALITY}),
        "See products, lots, certificates of analysis, stock and cold-chain records",
    ),
    "product.manage": (
        frozenset({Role.ADMIN, Role.QUALITY}),
        "Create and edit products, storage locations and release specifications",
    ),
    "lot.receive": (
        frozenset({Role.QUALITY}),
        "Receive a lot, correct its receipt details, and enter or import its certificate of "
        "analysis",
    ),
    "lot.release": (
        frozenset({Role.QUALITY}),
        "Release or reject a quarantined lot; decide on flagged lots (four-eyes overrides)",
    ),
    "coldchain.record": (
        frozenset({Role.QUALITY, Role.NURSE}),
        "Enter or import temperature readings; record wasted vials",
    ),
    "coldchain.void": (
        frozenset({Role.QUALITY}),
        "Void a temperature reading entered in error (its excursions are worked out again)",
    ),
    "recall.manage": (
        frozenset({Role.ADMIN, Role.QUALITY}),
        "Trace a lot to patients and start a recall (sees the affected patients' contacts)",
    ),
    # --- monitoring: follow-up visits, measurements, adverse events ---------------------------
    "visit.view": (
        frozenset({Role.ADMIN, Role.CLINICIAN, Role.NURSE, Role.FRONT_DESK}),
        "See the follow-up agenda, visits, measurements, photos and the patient timeline "
        "(a visit's free-text notes need consultation.view)",
    ),
    "visit.record": (
        frozenset({Role.CLINICIAN, Role.NURSE}),
        "Record a follow-up visit with measurements and photos",
    ),
    "schedule.manage": (
        frozenset({Role.ADMIN, Role.CLINICIAN, Role.NURSE, Role.FRONT_DESK}),
        "Book an appointment (consultation, review); create and reschedule follow-up visits; "
        "export the reminder list",
    ),
    "adverse_event.view": (
        frozenset({Role.ADMIN, Role.CLINICIAN, Role.NURSE}),
        "See adverse events in detail (term, grade, seriousness, relatedness, description) and "
        "the list for regulatory reporting (a lot's trace and recall notice show its events "
        "to recall.manage as well)",
    ),
    "adverse_event.record": (
        frozenset({Role.CLINICIAN, Role.NURSE}),
        "Record and update adverse events (CTCAE term and grade)",
    ),
    "adverse_event.lower": (
        frozenset({Role.CLINICIAN}),
        "Lower a serious or grade ≥ 3 adverse event (grade, term, seriousness, relatedness; "
        "with a reason): it leaves the reportable list",
    ),
    "decision.record": (
        frozenset({Role.CLINICIAN}),
        "Record the decision on further sessions (with the app's proposal)",
    ),
    "monitoring.settings": (
        frozenset({Role.ADMIN, Role.CLINICIAN}),
        "Set the clinic's response thresholds for the further-treatment proposal and its "
        "trichoscopy image calibration (µm per pixel)",
    ),
    # --- treatment sessions ------------------------------------------------------------------
    "session.view": (
        frozenset({Role.ADMIN, Role.CLINICIAN, Role.NURSE}),
        "See treatment sessions, injection maps, vials used and post-care sheets",
    ),
    "session.record": (
        frozenset({Role.CLINICIAN, Role.NURSE}),
        "Record a treatment session (checklist, injection map, vials drawn, reactions)",
    ),
    "postcare.manage": (
        frozenset({Role.ADMIN, Role.CLINICIAN}),
        "Edit the clinic's post-care instruction templates",
    ),
    # --- outcomes, reports, export --------------------------------------------------------
    "progress.view": (
        frozenset({Role.ADMIN, Role.CLINICIAN, Role.NURSE}),
        "See a patient's progress (change from baseline, charts, photo comparison, forecast)",
    ),
    "cohort.view": (
        frozenset({Role.ADMIN, Role.CLINICIAN, Role.RESEARCHER}),
        "Cohort analytics and the treatment comparison (researchers: de-identified only)",
    ),
    "report.patient": (
        frozenset({Role.ADMIN, Role.CLINICIAN, Role.NURSE}),
        "Download a patient's progress report (PDF)",
    ),
    "export.deidentified": (
        frozenset({Role.ADMIN, Role.RESEARCHER}),
        "Export de-identified analysis tables (CSV, Parquet)",
    ),
    "fhir.export": (
        frozenset({Role.ADMIN, Role.CLINICIAN}),
        "Export a patient's record as a FHIR R5 bundle",
    ),
    "fhir.import": (
        frozenset({Role.ADMIN, Role.CLINICIAN, Role.FRONT_DESK}),
        "Import a patient from a FHIR Patient bundle",
    ),
    "clinic.manage": (
        frozenset({Role.ADMIN}),
        "Manage the clinic's members and their roles, its time zone and its phone number for "
        "patients",
    ),
    "api_token.manage": (
        ALL_ROLES,
        "Create and revoke one's own API tokens for the active clinic",
    ),
}


# Permission name -> what it allows, as the object of "does not allow ...": the words a
# refusal shows, so nobody is told an internal code such as ``export.deidentified``.
PERMISSION_ACTIONS: dict[str, str] = {
    "dashboard.view": "seeing this clinic's dashboard",
    "patient.view": "opening patient records",
    "patient.create": "registering patients",
    "patient.edit": "editing patient details",
    "patient.void": "voiding or restoring patient records",
    "record.void": (
        "voiding visits, photos, measurements, adverse events, decisions, appointments or "
        "treatment sessions"
    ),
    "audit.view": "seeing change histories and the access log",
    "consultation.view": (
        "seeing medical histories, screening, scalp exams, diagnoses, plans and consents"
    ),
    "history.edit": "recording medical histories",
    "exam.edit": "recording scalp examinations",
    "diagnosis.edit": "recording diagnoses",
    "plan.edit": "accepting or editing treatment plans",
    "screening.override": "overriding a block from contraindication screening",
    "consent.record": "recording patients' consents",
    "protocol.manage": "editing protocol templates, consent texts and screening rules",
    "product.view": "seeing products, lots, certificates of analysis, stock and cold chain",
    "product.manage": "editing products, storage locations and release specifications",
    "lot.receive": (
        "receiving lots, correcting their receipt details and entering certificates of analysis"
    ),
    "lot.release": "releasing or rejecting lots",
    "coldchain.record": "recording temperatures and wasted vials",
    "coldchain.void": "voiding temperature readings",
    "recall.manage": "tracing lots to patients and starting recalls",
    "visit.view": "seeing follow-up visits, measurements and photos",
    "visit.record": "recording follow-up visits",
    "schedule.manage": "booking and rescheduling appointments and follow-up visits",
    "adverse_event.view": "seeing adverse events",
    "adverse_event.record": "recording adverse events",
    "adverse_event.lower": "lowering a serious or grade ≥ 3 adverse event",
    "decision.record": "recording decisions on further sessions",
    "monitoring.settings": "setting the response thresholds and the trichoscopy image scale",
    "session.view": "seeing treatment sessions",
    "session.record": "recording treatment sessions",
    "postcare.manage": "editing post-care instruction templates",
    "progress.view": "seeing patients' progress",
    "cohort.view": "seeing cohort analytics",
    "report.patient": "downloading patients' progress reports",
    "export.deidentified": "exporting de-identified data",
    "fhir.export": "exporting patient records as FHIR",
    "fhir.import": "importing patients from FHIR",
    "clinic.manage": (
        "managing the clinic's members, their roles, its time zone and its phone number for "
        "patients"
    ),
    "api_token.manage": "managing API tokens",
}


def allowed(role: Role | str | None, permission: str) -> bool:
    """True when `role` holds `permission`; unknown permissions are a programming error."""
    if permission not in PERMISSIONS:
        raise KeyError(f"unknown permission {permission!r}")
    if role is None:
        return False
    return Role(role) in PERMISSIONS[permission][0]


def render_permissions_markdown() -> str:
    """The permission table as Markdown (docs/permissions.md is this text)."""
    roles = list(Role)
    lines = [
        "# Permissions",
        "",
        "Generated from `src/anagen/accounts/roles.py` by `anagen permissions_doc`;",
        "`tests/accounts/test_permissions_doc.py` fails when this file drifts from the code,",
        "and `tests/accounts/test_permission_enforcement.py` checks every view and API",
        "endpoint against the table. A user's role is per clinic: the role in the clinic",
        "they are working in (the active clinic) decides.",
        "",
        "Voiding (`patient.void`, `record.void`): a record entered in error is never deleted.",
        "It is marked voided with who, when and a reason (at least 5 characters), stays in",
        "the database and its change history, and leaves every list, count and statistic.",
        "Opened directly, a voided visit or session shows a banner with the date, the user",
        "and the reason. Voiding a treatment session leaves its vial draws in place: the lot",
        "trace keeps listing the patient, because a recall must reach anyone who may have",
        "been exposed. Voiding clinical data is a clinical decision: nurses record, they do",
        "not void. Pages, API endpoints and what stops counting: `docs/voiding.md`.",
        "",
        "| permission | " + " | ".join(r.label for r in roles) + " | what it allows |",
        "|---|" + "---|" * len(roles) + "---|",
    ]
    for name, (granted, description) in PERMISSIONS.items():
        marks = " | ".join("yes" if r in granted else "—" for r in roles)
        lines.append(f"| `{name}` | {marks} | {description} |")
    lines.append("")
    return "\n".join(lines)


def denied_message(role: Role | str | None, permission: str, clinic: object = None) -> str:
    """Why ``role`` is refused ``permission``, in words for the person refused (no codes).

    >>> denied_message("clinician", "export.deidentified", "Clinic A")
    'Your role in Clinic A (Clinician) does not allow exporting de-identified data.'
    """
    if permission not in PERMISSIONS:
        raise KeyError(f"unknown permission {permission!r}")
    action = PERMISSION_ACTIONS[permission]
    where = f" in {clinic}" if clinic is not None else ""
    if role is None:
        return f"You have no role{where} that allows {action}."
    return f"Your role{where} ({Role(role).label}) does not allow {action}."
