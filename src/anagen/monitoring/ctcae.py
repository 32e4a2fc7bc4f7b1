"""CTCAE v5.0 grading for adverse events after scalp injections (pure; no Django).

Grade text comes from REFERENCE.md A.4, or, for Alopecia, Rash maculo-papular, Paresthesia
and Anaphylaxis, from the NCI CTCAE v5.0 table as remembered (tagged [M] in ``Term.source``).
Where no term-specific text is held the generic CTCAE v5.0 grade definitions (A.4 [C]) are
used, and ``Term.generic_text`` says so (the form marks those rows). The allowed-grade sets
are from CTCAE v5.0 as remembered [M]: REFERENCE.md asks to verify rows against the NCI
xlsx, which sites should do before relying on them.

MedDRA is licensed (A.4), so no MedDRA codes are bundled; ``meddra_code`` is ``None`` and a
licensed site stores its own code plus MedDRA version.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime

CTCAE_VERSION = "5.0"
# CTCAE v6.0 was published 22 Jul 2025 (A.4 [C]); every stored grade keeps its version.
SOURCE = "NCI CTCAE v5.0"  # shown to clinicians: the primary source only


class CTCAEError(ValueError):
    """An invalid adverse-event grading; ``field`` names the offending field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


# CTCAE v5.0 general grade definitions (REFERENCE.md A.4 [C]).
GENERIC_GRADES: dict[int, str] = {
    1: "Mild; no intervention indicated",
    2: "Minimal or local intervention indicated; limits instrumental ADL",
    3: "Severe; hospitalization indicated; limits self-care ADL",
    4: "Life-threatening consequences",
    5: "Death related to adverse event",
}


@dataclass(frozen=True)
class Term:
    key: str
    name: str  # CTCAE term as printed (a MedDRA LLT)
    grades: dict[int, str]  # allowed grades → definition
    generic_text: tuple[int, ...] = ()  # grades whose text is the generic definition
    source: str = SOURCE
    meddra_code: str | None = None  # licensed; never bundled
    notes: tuple[str, ...] = field(default_factory=tuple)

    def is_generic(self, grade: int) -> bool:
        """True when ``grade``'s text is the generic CTCAE definition, not the term's own."""
        return grade in self.generic_text

    def grade_range(self) -> str:
        """The term's grades in words: "1–2", "3–5", "3"."""
        lo, hi = min(self.grades), max(self.grades)
        return str(lo) if lo == hi else f"{lo}–{hi}"


def _term(
    key: str,
    name: str,
    allowed: Iterable[int],
    specific: dict[int, str] | None = None,
    tag: str = "[M]",
    notes: tuple[str, ...] = (),
) -> Term:
    specific = specific or {}
    grades = {g: specific.get(g, GENERIC_GRADES[g]) for g in allowed}
    generic = tuple(g for g in grades if g not in specific)
    return Term(key, name, grades, generic, f"{SOURCE} {tag}", None, notes)


TERMS: dict[str, Term] = {
    t.key: t
    for t in (
        _term(
            "injection_site_reaction",
            "Injection site reaction",
            range(1, 6),
            {
                1: "Tenderness with or without warmth, erythema, itching",
                2: "Pain; lipodystrophy; edema; phlebitis",
                3: "Ulceration or necrosis; operative intervention indicated",
            },
            "[C]",
            ("Scalp erythema is coded here (a separate CTCAE Erythema term is unconfirmed [?]).",),
        ),
        _term(
            "pain",
            "Pain",
            range(1, 4),
            {
                1: "Mild pain",
                2: "Moderate pain; limits instrumental ADL",
                3: "Severe pain; limits self-care ADL",
            },
            notes=("Use for scalp pain outside the injection-site reaction.",),
        ),  # fmt: skip
        _term(
            "headache",
            "Headache",
            range(1, 4),
            {
                1: "Mild pain",
                2: "Moderate pain; limits instrumental ADL",
                3: "Severe pain; limits self-care ADL",
            },
        ),  # fmt: skip
        _term(
            "alopecia",
            "Alopecia",
            range(1, 3),
            {
                1: "Hair loss of <50% of normal for that individual that is not obvious from a "
                "distance but only on close inspection; a different hair style may be required "
                "to cover the hair loss but it does not require a wig or hair piece to "
                "camouflage",
                2: "Hair loss of >=50% normal for that individual that is readily apparent to "
                "others; a wig or hair piece is necessary if the patient desires to completely "
                "camouflage the hair loss; associated with psychosocial impact",
            },
            notes=(
                "CTCAE v5.0 Alopecia has grades 1–2 only.",
                "Term-specific text from memory [M]; verify against the NCI CTCAE v5.0 table.",
            ),
        ),
        _term(
            "pruritus",
            "Pruritus",
            range(1, 4),
            {
                1: "Localized; topical intervention indicated",
                2: "Widespread and intermittent; oral intervention indicated",
                3: "Constant; limits self-care ADL or sleep",
            },
        ),
        _term(
            "rash_maculopapular",
            "Rash maculo-papular",
            range(1, 4),
            {
                1: "Macules/papules covering <10% BSA with or without symptoms (e.g., "
                "pruritus, burning, tightness)",
                2: "Macules/papules covering 10–30% BSA with or without symptoms (e.g., "
                "pruritus, burning, tightness); limiting instrumental ADL; rash covering >30% "
                "BSA with or without mild symptoms",
                3: "Macules/papules covering >30% BSA with moderate or severe symptoms; "
                "limiting self care ADL",
            },
            notes=(
                "CTCAE v5.0 Rash maculo-papular has grades 1–3 only.",
                "Term-specific text from memory [M]; verify against the NCI CTCAE v5.0 table.",
            ),
        ),
        _term(
            "skin_infection",
            "Skin infection",
            range(1, 6),
            {
                1: "Localized; local intervention indicated",
                2: "Oral antimicrobial intervention indicated",
                3: "IV antimicrobial or invasive intervention indicated",
            },
        ),
        _term(
            "folliculitis",
            "Folliculitis",
            range(1, 4),
            notes=(
                'Generic CTCAE v5.0 grade definitions shown (marked "generic"); the '
                "term-specific Folliculitis grade text is not included here (check the NCI "
                "CTCAE v5.0 table).",
            ),
        ),
        _term(
            "allergic_reaction",
            "Allergic reaction",
            range(1, 6),
            {
                1: "Systemic intervention not indicated",
                2: "Oral intervention indicated",
                3: "Bronchospasm; IV intervention indicated",
            },
        ),
        # Anaphylaxis starts at grade 3 (A.4).
        _term(
            "anaphylaxis",
            "Anaphylaxis",
            range(3, 6),
            {
                3: "Symptomatic bronchospasm, with or without urticaria; parenteral "
                "intervention indicated; allergy-related edema/angioedema; hypotension",
                4: "Life-threatening consequences; urgent intervention indicated",
                5: "Death",
            },
            notes=(
                "CTCAE v5.0 Anaphylaxis starts at grade 3; milder reactions are graded as "
                "Allergic reaction.",
                "Term-specific text from memory [M]; verify against the NCI CTCAE v5.0 table.",
            ),
        ),
        _term("syncope", "Syncope", (3,), {3: "Present"}),
        _term("vasovagal_reaction", "Vasovagal reaction", (3, 4, 5), {3: "Present"}),
        _term(
            "hematoma",
            "Hematoma",
            range(1, 6),
            {
                1: "Mild",
                2: "Minimal intervention indicated",
                3: "Transfusion or invasive intervention indicated",
            },
        ),  # fmt: skip
        _term("bruising", "Bruising", (1, 2), {1: "Localized", 2: "Generalized"}),
        _term(
            "edema_face",
            "Edema face",
            range(1, 4),
            {
                1: "Localized facial edema",
                2: "Moderate; limits instrumental ADL",
                3: "Severe; limits self-care ADL",
            },
            notes=("Scalp injections commonly cause forehead/periorbital edema.",),
        ),  # fmt: skip
        _term(
            "paresthesia",
            "Paresthesia",
            range(1, 4),
            {
                1: "Mild symptoms",
                2: "Moderate symptoms; limiting instrumental ADL",
                3: "Severe symptoms; limiting self care ADL",
            },
            notes=(
                "CTCAE v5.0 Paresthesia has grades 1–3 only.",
                "Term-specific text from memory [M]; verify against the NCI CTCAE v5.0 table.",
            ),
        ),
        _term(
            "dizziness",
            "Dizziness",
            range(1, 4),
            {
                1: "Mild unsteadiness or sensation of movement",
                2: "Moderate unsteadiness or sensation of movement; limits instrumental ADL",
                3: "Severe unsteadiness or sensation of movement; limits self-care ADL",
            },
            "[C for G1]",
        ),
        _term(
            "fever",
            "Fever",
            range(1, 6),
            {
                1: "38.0–39.0 °C",
                2: ">39.0–40.0 °C",
                3: ">40.0 °C for ≤24 hrs",
                4: ">40.0 °C for >24 hrs",
            },
        ),  # fmt: skip
    )
}

# Everyday words → CTCAE term. Erythema follows REFERENCE.md A.4's instruction.
ALIASES: dict[str, str] = {
    "erythema": "injection_site_reaction",
    "scalp_erythema": "injection_site_reaction",
    "scalp_pain": "pain",
    "rash": "rash_maculopapular",
    "infection": "skin_infection",
    "edema": "edema_face",
    "oedema": "edema_face",
    "swelling": "edema_face",
    "bruise": "bruising",
    "vasovagal": "vasovagal_reaction",
}


def resolve_term(term: str) -> Term:
    """Look a term up by key, alias or printed CTCAE name (case-insensitive)."""
    if not isinstance(term, str):
        raise CTCAEError("term", f"unknown term {term!r}")
    key = term.strip().lower().replace(" ", "_").replace("-", "_")
    key = ALIASES.get(key, key)
    if key in TERMS:
        return TERMS[key]
    for t in TERMS.values():
        if t.name.lower() == term.strip().lower():
            return t
    raise CTCAEError("term", f"unknown CTCAE term {term!r}")


@dataclass(frozen=True)
class GradedEvent:
    term_key: str
    term_name: str
    grade: int
    grade_text: str
    ctcae_version: str
    onset: date
    resolved: date | None


def _as_date(field: str, value: date | datetime | None) -> date | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    raise CTCAEError(field, f"must be a date, got {value!r}")


def grade_event(
    term: str,
    grade: int,
    onset: date | datetime,
    resolved: date | datetime | None = None,
) -> GradedEvent:
    """Validate and normalise a graded adverse event.

    Errors (each naming its field): unknown term; grade not an integer 1–5; grade not
    defined for the term (e.g. Headache grade 4, Anaphylaxis grade 1); resolution before
    onset. Datetimes are compared at full precision, then stored as dates.
    """
    t = resolve_term(term)
    if isinstance(grade, bool) or not isinstance(grade, int) or not 1 <= grade <= 5:
        raise CTCAEError("grade", f"must be an integer 1–5, got {grade!r}")
    if grade not in t.grades:
        allowed = ", ".join(str(g) for g in t.grades)
        raise CTCAEError(
            "grade",
            f"{t.name} has no grade {grade} in CTCAE v5.0: it is graded "
            f"{t.grade_range()} only (allowed: {allowed}). Choose one of those grades.",
        )
    if onset is None:
        raise CTCAEError("onset", "onset date is required")
    if isinstance(onset, datetime) and isinstance(resolved, datetime):
        try:
            before = resolved < onset
        except TypeError:  # one aware, one naive: DESIGN.md wants aware UTC times
            raise CTCAEError("resolved", "mixes timezone-aware and naive times") from None
        if before:
            raise CTCAEError("resolved", "The resolution date is before the onset date.")
    onset_d = _as_date("onset", onset)
    resolved_d = _as_date("resolved", resolved)
    if resolved_d is not None and onset_d is not None and resolved_d < onset_d:
        raise CTCAEError("resolved", "The resolution date is before the onset date.")
    assert onset_d is not None
    return GradedEvent(t.key, t.name, grade, t.grades[grade], CTCAE_VERSION, onset_d, resolved_d)


# ICH E2A seriousness criteria (regulatory, independent of CTCAE grade; not in REFERENCE.md).
SERIOUSNESS_CRITERIA = frozenset(
    {
        "death",
        "life_threatening",
        "hospitalization",
        "disability",
        "congenital_anomaly",
        "important_medical_event",
    }
)
HIGH_GRADE = 3  # CTCAE grade 3 = severe (A.4)


def implied_seriousness(
    grade: int, seriousness: Iterable[str] = (), *, hospitalised: bool = False
) -> list[str]:
    """The ICH E2A criteria an event meets: those ticked, and those its record implies, as
    the services add them on entry since they were required (grade 5 is death, grade 4
    "life-threatening consequences", an admission because of the event hospitalisation).
    Events stored before a rule held lack the criterion: reading through this, a stored
    grade-4 event is serious everywhere (reports, exports), not only where it was entered
    after the rule."""
    crit = set(seriousness or ())
    if grade == 5:
        crit.add("death")
    if grade == 4:
        crit.add("life_threatening")
    if hospitalised:
        crit.add("hospitalization")
    return sorted(crit)


def is_serious_or_high_grade(
    grade: int, *, seriousness: Iterable[str] = (), threshold: int = HIGH_GRADE
) -> bool:
    """True for CTCAE grade ≥ ``threshold`` (default 3) or any seriousness criterion.

    Severity (grade) and seriousness (ICH E2A outcome) are different things: a grade-2
    event that prolongs a hospital stay is serious, a grade-3 event need not be. Either
    triggers expedited review in the monitoring app.
    """
    if isinstance(grade, bool) or not isinstance(grade, int) or not 1 <= grade <= 5:
        raise CTCAEError("grade", f"must be an integer 1–5, got {grade!r}")
    crit = set(seriousness)
    unknown = crit - SERIOUSNESS_CRITERIA
    if unknown:
        raise CTCAEError("seriousness", f"unknown seriousness criteria {sorted(unknown)}")
    return grade >= threshold or bool(crit)
