"""Diagnosis vocabulary with ICD-10, ICD-11 and SNOMED CT codes (REFERENCE.md A.5).

Only codes that REFERENCE.md gives are encoded. Where it has none (or marks the code as
conflicting), the field is ``None`` and ``notes`` says why, so the clinician codes it by hand
rather than the software guessing. System URIs for ICD-10 and SNOMED CT are the canonical
FHIR URIs (HL7 terminology); REFERENCE.md gives only the ICD-11 URI.

REFERENCE.md states no code-system *versions*: the ``*_VERSION`` constants are therefore
``None`` and the Django side must record the edition in use when it stores a coding
(DESIGN.md: codes are stored with system and version).
"""

from __future__ import annotations

from dataclasses import dataclass, field

ICD10_SYSTEM = "http://hl7.org/fhir/sid/icd-10"  # WHO ICD-10 (FHIR canonical URI)
ICD10_CM_SYSTEM = "http://hl7.org/fhir/sid/icd-10-cm"  # US clinical modification
ICD11_SYSTEM = "http://id.who.int/icd/release/11/mms"  # REFERENCE.md A.5 [C]
SNOMED_SYSTEM = "http://snomed.info/sct"  # FHIR canonical URI for SNOMED CT

# Not given in REFERENCE.md; left None on purpose (see module docstring).
ICD10_VERSION: str | None = None
ICD11_VERSION: str | None = None
SNOMED_VERSION: str | None = None

SOURCE = "WHO ICD-10 [C]; SNOMED CT concept ids as tagged per code"  # shown: primary only


@dataclass(frozen=True)
class Coding:
    system: str
    code: str
    display: str
    version: str | None = None


@dataclass(frozen=True)
class Diagnosis:
    key: str
    label: str
    group: str  # aga | aa | te | other
    icd10: str | None
    icd11: str | None
    snomed: str | None
    icd10_alternatives: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)

    def codings(self) -> list[Coding]:
        """FHIR-style codings for the codes that exist (None codes are skipped)."""
        out = []
        if self.icd10:
            out.append(Coding(ICD10_SYSTEM, self.icd10, self.label, ICD10_VERSION))
        if self.icd11:
            out.append(Coding(ICD11_SYSTEM, self.icd11, self.label, ICD11_VERSION))
        if self.snomed:
            out.append(Coding(SNOMED_SYSTEM, self.snomed, self.label, SNOMED_VERSION))
        return out


# Female-pattern conditions: refused on a male record unless the latest scalp exam confirms
# a female-type pattern, as the exam refuses the female scales (scales.ludwig/sinclair).
# Male-pattern AGA is not restricted: it occurs in women, who may be staged on Norwood.
FEMALE_PATTERN = frozenset({"aga_female"})

_ICD11_AGA_NOTE = "ICD-11 for AGA is ED70.0 or ED70.1 in conflicting sources [?]; not encoded."

DIAGNOSES: dict[str, Diagnosis] = {
    d.key: d
    for d in (
        Diagnosis(
            "aga_male",
            "Androgenetic alopecia, male pattern",
            "aga",
            icd10="L64.9",
            icd11=None,
            snomed="87872006",  # Male pattern alopecia [C]
            icd10_alternatives=("L64.8", "L64.0"),  # other; drug-induced
            notes=(_ICD11_AGA_NOTE,),
        ),
        Diagnosis(
            "aga_female",
            "Androgenetic alopecia, female pattern",
            "aga",
            icd10="L64.9",
            icd11=None,
            snomed="1108009",  # Female pattern alopecia [C]
            icd10_alternatives=("L64.8", "L65.9"),
            notes=(
                "ICD-10 has no dedicated FPHL code; L64.8/L64.9 are used (some use L65.9).",
                "ICD-11 code not established [?]; not encoded.",
            ),
        ),
        Diagnosis(
            "aa_patchy",
            "Alopecia areata, patchy",
            "aa",
            icd10="L63.9",
            icd11="ED70.2",
            snomed="68225006",  # Alopecia areata [C]
            notes=(
                "ICD-10 L63.9 is 'alopecia areata, unspecified'; no patchy-specific code given.",
            ),
        ),
        Diagnosis(
            "aa_totalis",
            "Alopecia areata, totalis",
            "aa",
            icd10="L63.0",
            icd11="ED70.2",
            snomed="19754005",
        ),
        Diagnosis(
            "aa_universalis",
            "Alopecia areata, universalis",
            "aa",
            icd10="L63.1",
            icd11="ED70.2",
            snomed="201145007",
        ),
        Diagnosis(
            "aa_ophiasis",
            "Alopecia areata, ophiasis",
            "aa",
            icd10="L63.2",
            icd11="ED70.2",
            snomed=None,
            notes=("SNOMED CT code for ophiasis not verified; not encoded.",),
        ),
        Diagnosis(
            "te_acute",
            "Telogen effluvium, acute",
            "te",
            icd10="L65.0",
            icd11=None,
            snomed="201147004",  # Telogen effluvium [C]
            notes=("ICD-11 code not established [?]; not encoded.",),
        ),
        Diagnosis(
            "te_chronic",
            "Telogen effluvium, chronic (>6 months of shedding)",
            "te",
            icd10="L65.0",
            icd11=None,
            snomed="201147004",
            notes=(
                "Same codes as acute TE; chronicity (>6 months of shedding) is not coded.",
                "ICD-11 code not established [?]; not encoded.",
            ),
        ),
        Diagnosis(
            "other",
            "Other hair loss (code manually)",
            "other",
            icd10=None,
            icd11=None,
            snomed=None,
            notes=("Enter the code by hand; L65.9 is non-scarring hair loss, unspecified.",),
        ),
    )
}


def diagnosis(key: str) -> Diagnosis:
    """Look up a diagnosis by key; raises ``KeyError`` with the valid keys."""
    try:
        return DIAGNOSES[key]
    except KeyError:
        raise KeyError(f"unknown diagnosis {key!r}; expected one of {sorted(DIAGNOSES)}") from None
