"""The clinic's settings pages: one list for the settings index and the main menu (pure data,
no Django import)."""

from __future__ import annotations

# The clinic's settings pages, each with the permission that opens it: (permission, URL
# name, title, what it sets). The index (core.views.settings_index) lists those the user's
# role may open; the menu shows it to roles that may open any (accounts.context_processors).
SETTINGS_PAGES = (
    ("consultation.view", "assessment:rules", "Contraindication screening rules",
     "The screening rules and the clinic's overrides, with their sources."),
    ("consultation.view", "assessment:protocols", "Protocol templates and consent texts",
     "Treatment plan templates per modality and the consent text each plan is signed on."),
    ("postcare.manage", "treatments:postcare", "Post-care instruction templates",
     "The instructions the post-care sheet prints for patients after each treatment; every "
     "edit is kept as a new version."),
    ("monitoring.settings", "monitoring:settings", "Response thresholds",
     "The density change that counts as a response in further-treatment proposals."),
    ("monitoring.settings", "imaging:settings", "Trichoscopy calibration",
     "The dermatoscope's image scale (µm per pixel) and the terminal/vellus cut-off."),
    ("product.manage", "products:settings", "Product settings",
     "How many days before expiry a lot is flagged as expiring soon."),
    ("clinic.manage", "accounts:clinic_time_zone", "Time zone",
     "Where the clinic is: today's date and the times pages show follow it."),
    ("clinic.manage", "accounts:clinic_contact", "Phone number for patients",
     "The number the post-care sheets give for patients to call about a reaction."),
    ("clinic.manage", "accounts:members", "Members", "Who works in this clinic, in which role."),
    ("audit.view", "accounts:audit", "Audit trail",
     "Every change to the clinic's records and staff: who, when, why, each value before and "
     "after; as CSV too."),
)  # fmt: skip

# Pages whose place in the main menu is the Settings entry (Products and Members have their own).
UNDER_SETTINGS_IN_MENU = frozenset(
    {"core:settings"}
    | {name for _, name, _, _ in SETTINGS_PAGES} - {"products:settings", "accounts:members"}
)
