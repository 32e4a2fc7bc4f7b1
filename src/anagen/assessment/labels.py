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


def in_sentence(label: str) -> str:
    """A label inside a sentence: first letter lower case, abbreviations kept ("EV")."""
    return label[:1].lower() + label[1:]
