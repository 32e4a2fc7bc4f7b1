"""Seed data for the treatment comparison page (pure data, no Django).

Published effects are copied from ../shared/REFERENCE.md (Part A §7, Part B §3) with their
sources and certainty tags: **C** = confirmed in a retrieved source, **M** = from memory or a
secondary source (verify before relying on it), **low** = the source itself rates the
certainty low. Invasiveness and recovery are general clinical descriptions that REFERENCE.md
does not cover; they are tagged M until a clinician confirms them for the clinic.
"""

from __future__ import annotations

from dataclasses import dataclass

# Trials of hair-loss treatments measure change at weeks 16, 24 or 48 (REFERENCE Part B:
# target-area hair count at weeks 16/24/48), as do most published effects on the page. A
# clinic landmark earlier than this is not set beside them without a warning:
# regrowth takes months and minoxidil often sheds in the first weeks.
PUBLISHED_ENDPOINT_WEEKS = 16


@dataclass(frozen=True)
class Reference:
    source: str
    design: str
    result: str
    comparator: str  # "vs placebo/control", "vs baseline (no control)", ...
    certainty: str  # C, M, low


@dataclass(frozen=True)
class ModalityProfile:
    key: str
    name: str
    invasiveness: str
    recovery: str
    mechanism: str
    profile_certainty: str
    evidence_summary: str
    references: tuple[Reference, ...]


PROFILES: tuple[ModalityProfile, ...] = (
    ModalityProfile(
        key="minoxidil",
        name="Topical minoxidil 5%",
        invasiveness="None: applied to the scalp at home, twice daily.",
        recovery="None. An early shedding wave is common in the first weeks.",
        mechanism="Shortens telogen, probably prolongs anagen and enlarges follicles; "
        "reactivates dormant follicles. Gains are lost within ~24 weeks of stopping "
        "(Messenger & Rundegren 2004; Price 1999).",
        profile_certainty="C (mechanism); M (recovery)",
        evidence_summary="Several placebo-controlled RCTs; the best-supported option here.",
        references=(
            Reference(
                "Olsen 2002, JAAD 47:377",
                "RCT, 393 men, 48 weeks",
                "Change /cm²: 5% +18.6 (SD 25.4); 2% +12.7; placebo +3.9",
                "vs placebo",
                "C",
            ),
            Reference(
                "Olsen 2007",
                "RCT, 352 men, 16 weeks",
                "5% foam +20.9 vs +4.7 /cm²",
                "vs placebo",
                "C",
            ),
            Reference(
                "Berger 2003", "RCT, 50/50, 26 weeks", "+12.3 vs −0.6 /cm²", "vs placebo", "C"
            ),
        ),
    ),  # fmt: skip
    ModalityProfile(
        key="prp",
        name="Platelet-rich plasma (PRP)",
        invasiveness="Blood draw and multiple scalp injections (30 G, 2–4 mm deep).",
        recovery="Same day; tenderness, redness or swelling for a few days.",
        mechanism="Thought to induce anagen in resting (telogen/kenogen) follicles at each "
        "session, with waning effect; weak evidence.",
        profile_certainty="M (recovery); mechanism hypothesised",
        evidence_summary="Small RCTs with inconsistent results: a meta-analysis finds a gain "
        "but with 96% heterogeneity and low certainty; one parallel RCT found no improvement.",
        references=(
            Reference(
                "Kieling 2024, An Bras Dermatol 99:847",
                "Meta-analysis, 14 RCTs, 431 patients",
                "+27.55 hairs/cm² (95% CI 14.04–41.06); I² 96%",
                "vs control",
                "low",
            ),
            Reference(
                "Gressenberger 2020, Acta Derm Venereol 100:adv00247",
                "Parallel RCT, 20 PRP vs 10 saline, 5 sessions",
                "No improvement",
                "vs saline",
                "C",
            ),
            Reference(
                "Georgescu 2022, J Pers Med 12:342",
                "17 PRP arms",
                "141.9 → 177.5 hairs/cm²; gain rises with sessions/month (r = 0.5)",
                "vs baseline (no control)",
                "C",
            ),
        ),
    ),  # fmt: skip
    ModalityProfile(
        key="exosome",
        name="Exosome / conditioned-medium injections (investigational)",
        invasiveness="Multiple scalp injections of an investigational biological product.",
        recovery="Same day; mainly grade 1–2 injection-site pain, erythema or edema, headache.",
        mechanism="Hypothesised anagen induction in resting follicles and anagen "
        "prolongation (paracrine signals from stem-cell vesicles); not established.",
        profile_certainty="M (recovery, from demo AE profile); mechanism hypothesised",
        evidence_summary="Case series and one small RCT of a topical extract; no adequate "
        "placebo-controlled RCT of injected exosomes. Low certainty; not approved in most "
        "jurisdictions.",
        references=(
            Reference(
                "Tak 2020, SCTM 9:839",
                "RCT, 38, topical ADSC extract × 16 weeks",
                "Count +28.1% vs +7.1%; diameter +14.2% vs +6.3%",
                "vs placebo",
                "C",
            ),
            Reference(
                "Ersan 2024, Aesthetic Plast Surg 48:4262",
                "30 men, foreskin MSC-exosome, no control",
                "Density up at weeks 4 and 12; no adverse events",
                "vs baseline (no control)",
                "C",
            ),
            Reference(
                "Placental MSC-exosome (preprint rs-5252508)",
                "12 patients, no control",
                "96.5 → 163.5 /cm² in 6 weeks: faster than cycle kinetics allow",
                "vs baseline (no control)",
                "low",
            ),
            Reference(
                "Shin 2015, IJD 54:730",
                "27 women, ADSC-CM × 12 weeks",
                "Density +16.4%; thickness +11.3%",
                "vs baseline (no control)",
                "M",  # confirmed from a secondary source only, not the paper
            ),
        ),
    ),  # fmt: skip
    ModalityProfile(
        key="transplant",
        name="Hair transplant (FUE/FUT)",
        invasiveness="Surgery under local anaesthesia: donor harvest and graft implantation.",
        recovery="Scabs and redness for one to two weeks; transient shock loss is common.",
        mechanism="Moves androgen-resistant occipital follicles into thinning areas; does not "
        "stop ongoing loss of native hair.",
        profile_certainty="C (mechanism); M (recovery)",
        evidence_summary="Graft survival is well documented; density gains depend on grafts "
        "placed, not comparable to medical treatments per cm².",
        references=(
            Reference(
                "FUE megasession, JCD 2019",
                "273 men, 3,000–6,000 follicular units",
                "Graft survival 93.5–96.6%",
                "no control",
                "C",
            ),
        ),
    ),  # fmt: skip
    ModalityProfile(
        key="microneedling",
        name="Microneedling",
        invasiveness="Fine needles create micro-injuries in the scalp skin.",
        recovery="Redness for one to two days.",
        mechanism="Wound-healing signals thought to stimulate follicles; often combined.",
        profile_certainty="M",
        evidence_summary="Split-scalp study: microneedling alone vs with PRP, difference "
        "not significant.",
        references=(
            Reference(
                "Split-scalp, PMC7759059",
                "30 patients",
                "+10.8 vs +14.6 /cm² (with PRP); difference not significant",
                "vs other half (with PRP)",
                "C",
            ),
        ),
    ),  # fmt: skip
    ModalityProfile(
        key="lllt",
        name="Low-level laser therapy",
        invasiveness="None: device applied to the scalp.",
        recovery="None.",
        mechanism="Photobiomodulation is proposed; not described in the sources of this page.",
        profile_certainty="M",
        evidence_summary="No published effect size in the sources of this page; none shown.",
        references=(),
    ),
)


def profile(key: str) -> ModalityProfile | None:
    return next((p for p in PROFILES if p.key == key), None)
