"""Display labels of the medical-history codes (pure; no Django).

The forms show them and the FHIR export writes them as the text of problem-list conditions
and medication statements, so both say the same words for a stored code.
"""

CONDITION_LABELS = {
    "sepsis": "Sepsis",
    "acute_infection": "Acute infection",
    "chronic_infection": "Chronic infection (e.g. hepatitis B/C, HIV)",
    "platelet_dysfunction": "Platelet dysfunction",
    "thrombocytopenia": "Thrombocytopenia",
    "hypofibrinogenemia": "Hypofibrinogenaemia",
    "liver_disease": "Liver disease",
    "hemodynamic_instability": "Haemodynamic instability",
    "systemic_disorder": "Other uncontrolled systemic disorder",
    "immunodeficiency": "Immunodeficiency (disease)",
    "cardiovascular_disease": "Cardiovascular disease",
    "hypotension": "Low blood pressure",
    "photosensitivity_disorder": "Photosensitivity (disorder or drug)",
}
SCALP_LABELS = {
    "active_infection": "Active infection at the scalp",
    "open_wound": "Open wound",
    "active_dermatosis": "Active skin disease (psoriasis, eczema, seborrhoeic flare)",
    "patchy_loss": "Patchy hair loss",
    "scalp_pain": "Scalp pain",
    "pus": "Pus",
    "scarring": "Scarring",
}
MEDICATION_LABELS = {
    "anticoagulant": "Anticoagulant (warfarin, DOAC, heparin)",
    "antiplatelet": "Antiplatelet (aspirin, clopidogrel)",
    "nsaid": "NSAID (ibuprofen, naproxen …)",
    "immunosuppressant": "Immunosuppressant",
    "chemotherapy": "Chemotherapy",
    "isotretinoin": "Isotretinoin",
    "finasteride": "Finasteride",
    "dutasteride": "Dutasteride",
    "minoxidil": "Minoxidil",
    "other": "Other",
}

MODALITY_LABELS = {
    "exosome": "Exosome / EV injections",
    "prp": "Platelet-rich plasma",
    "minoxidil": "Topical minoxidil",
    "transplant": "Hair transplant",
    "microneedling": "Microneedling",
    "lllt": "Low-level laser therapy",
}


def modality_label(code: str) -> str:
    """The words for a stored modality code (the code itself if it is unknown)."""
    return MODALITY_LABELS.get(code, code)


def combination_label(arm: str) -> str:
    """A cohort arm ("exosome+minoxidil") in words: "Exosome / EV injections + Topical
    minoxidil". Text that is not a code comes back unchanged."""
    return " + ".join(modality_label(code) for code in arm.split("+"))


def in_sentence(label: str) -> str:
    """A label inside a sentence: first letter lower case, abbreviations kept ("EV")."""
    return label[:1].lower() + label[1:]


# The medical-history questions as the form asks them (the versions page and audit views).
QUESTION_LABELS = {
    "conditions": "Conditions",
    "other_conditions": "Other conditions",
    "medications": "Medications",
    "allergies": "Allergies",
    "pregnant": "Pregnant",
    "lactating": "Breastfeeding",
    "malignancy": "Cancer",
    "malignancy_details": "Cancer details",
    "autoimmune_disease": "Autoimmune disease",
    "bleeding_disorder": "Bleeding disorder",
    "platelet_count_10e9_per_l": "Platelet count (×10⁹/L)",
    "keloid": "Keloid scarring",
    "scalp_conditions": "Scalp findings",
    "prior_treatments": "Prior hair treatments",
    "notes": "Notes",
}
MALIGNANCY_LABELS = {"none": "No", "active": "Active", "past": "Past"}
NOT_RECORDED = "not recorded"


def _yes_no(value: object) -> str:
    return NOT_RECORDED if value is None else ("Yes" if value else "No")


def _medication(m: dict[str, object]) -> str:
    code = str(m.get("drug_class") or "")
    text = MEDICATION_LABELS.get(code, code)
    if m.get("name"):
        text += f" ({m['name']})"
    if m.get("start"):
        text += f", from {m['start']}"
    return text + (f", stopped {m['stop']}" if m.get("stop") else ", current")


def _prior(p: dict[str, object]) -> str:
    text = modality_label(str(p.get("modality") or ""))
    if p.get("on"):
        text += f" on {p['on']}"
    return text + (f" ({p['notes']})" if p.get("notes") else "")


def _list_item(field: str, item: object) -> str:
    if field == "medications" and isinstance(item, dict):
        return _medication(item)
    if field == "prior_treatments" and isinstance(item, dict):
        return _prior(item)
    vocabulary = {"conditions": CONDITION_LABELS, "scalp_conditions": SCALP_LABELS}.get(field, {})
    return vocabulary.get(str(item), str(item))


def describe_answer(field: str, value: object) -> str:
    """The words for one stored medical-history answer ("Minoxidil, current", "No")."""
    if isinstance(value, bool) or value is None:
        return _yes_no(value) if field != "platelet_count_10e9_per_l" else "not measured"
    if field == "platelet_count_10e9_per_l" and isinstance(value, int | float):
        return f"{value:g} ×10⁹/L"
    if field == "malignancy":
        return MALIGNANCY_LABELS.get(str(value), str(value))
    if isinstance(value, list):
        words = [_list_item(field, v) for v in value]
        return "; ".join(words) if words else "none"
    return str(value) if value != "" else "—"
