"""Starting texts for post-care sheets, per modality (pure data).

These are generic instructions for the clinic to review and edit before first use: the
sheet says which version it is, and the clinic's own version replaces this one.
"""

from __future__ import annotations

COMMON_TAIL = (
    "Call the clinic at once if you notice spreading redness, warmth, pus, fever, severe or "
    "increasing pain, or swelling of the face or eyes. In an emergency call your local "
    "emergency number."
)

# Printed on every exosome session's sheet above the clinic's text, which cannot drop it
# (a review saved a text without it and the printed sheet lost the notice).
EXOSOME_PATIENT_NOTICE = (
    "You received an investigational exosome product. It is not approved for hair loss in most "
    "jurisdictions."
)

DEFAULT_POSTCARE: dict[str, str] = {
    "exosome": (
        "- Do not wash your hair or apply products to the scalp for 24 hours.\n"
        "- Avoid hot showers, saunas, swimming and strenuous exercise for 48 hours.\n"
        "- Do not colour, bleach or chemically treat your hair for 72 hours.\n"
        "- Mild tenderness, redness or swelling for 1–3 days is common; a cold pack wrapped in "
        "cloth may help.\n"
        "- Report any reaction at your next visit, even a mild one: every report adds to what "
        "is known about these products.\n" + COMMON_TAIL
    ),
    "prp": (
        "- Do not wash your hair for 24 hours.\n"
        "- Avoid anti-inflammatory painkillers (ibuprofen, aspirin, naproxen) for 3 days unless "
        "your doctor prescribed them; paracetamol is fine.\n"
        "- Avoid alcohol, saunas and strenuous exercise for 48 hours.\n"
        "- Do not colour or chemically treat your hair for 72 hours.\n"
        "- Mild tenderness or swelling for 1–3 days is common.\n" + COMMON_TAIL
    ),
    "minoxidil": (
        "- Apply the prescribed amount to the dry scalp once or twice a day as instructed; wash "
        "your hands afterwards.\n"
        "- Increased shedding in the first 2–8 weeks is expected and usually temporary.\n"
        "- Stop and call the clinic if you get chest pain, a fast heartbeat, dizziness, "
        "swelling of the hands or feet, or sudden weight gain.\n"
        "- Keep it away from children and pets (it is toxic to cats).\n" + COMMON_TAIL
    ),
    "transplant": (
        "- Sleep with your head raised for 3 nights.\n"
        "- Do not touch, scratch or rub the grafts; wash only as the clinic showed you, from "
        "day 2.\n"
        "- No strenuous exercise, swimming or sauna for 2 weeks; no hats that press on the "
        "grafts for 1 week.\n"
        "- Shedding of the transplanted hairs at 2–6 weeks is normal; new growth starts at "
        "3–4 months.\n" + COMMON_TAIL
    ),
    "microneedling": (
        "- Do not wash your hair or apply products for 24 hours.\n"
        "- Avoid sun on the scalp, saunas and swimming for 48 hours.\n"
        "- Redness for up to 2 days is common.\n" + COMMON_TAIL
    ),
    "lllt": (
        "- Use the device exactly as instructed; protect your eyes as shown.\n"
        "- Stop and call the clinic if the scalp becomes irritated.\n" + COMMON_TAIL
    ),
}
