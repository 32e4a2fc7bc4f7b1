from __future__ import annotations

import re
from typing import Any

from django import forms

from anagen.core.forms import DecimalCommaField, Form, form_field
from anagen.core.text import ascii_digits, decimal_comma, without_api_hint
from anagen.products.models import LotStatus
from anagen.treatments import scalp_zones
from anagen.treatments.models import GraftRecord, Modality

VIAL_ROWS = 3
GRAFT_ROWS = 4

# The service names fields by their place in a session (``prp.spin_protocol``,
# ``vials[0].lot``, ``map[2].volume_ml``); the page shows each error by its field, in words.
PRP_FIELDS = {
    "prp.blood_volume_ml": "prp_blood_volume_ml",
    "prp.spin_protocol": "prp_spin_protocol",
    "prp.platelet_concentration_10e9_per_l": "prp_platelet_concentration",
}
ROW_FIELDS = {"vials": "vial_{}_{}", "grafts": "graft_{}_{}"}
MAP_COLUMNS = {
    "zone": "zone",
    "points": "points",
    "volume_ml": "volume (mL)",
    "spacing_mm": "spacing (mm)",
}
ROW_ERROR = re.compile(r"(\w+)\[(\d+)\]\.(\w+)")


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, **kwargs: Any) -> None:
        # <input type="date"> only accepts ISO dates, whatever the locale.
        super().__init__(format="%Y-%m-%d", **kwargs)


class LotField(forms.TypedChoiceField):
    """A lot from the list of usable lots. A lot of the clinic that is not on the list (a
    page opened before the lot was blocked, say) is refused with the reason, not with
    "Select a valid choice": ``refused`` maps its id to the message."""

    def __init__(self, *, refused: dict[int, str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.refused = refused
        self.error_messages["invalid_choice"] = "No such lot: choose one from the list."

    def validate(self, value: Any) -> None:
        if value not in self.empty_values and ascii_digits(str(value)):
            message = self.refused.get(int(value))
            if message is not None:
                raise forms.ValidationError(message, code="unusable_lot")
        super().validate(value)


class SessionForm(Form):
    plan = forms.TypedChoiceField(coerce=int, label="Treatment plan")
    modality = forms.ChoiceField(
        choices=Modality.choices,
        label="Treatment",
        error_messages={
            "invalid_choice": "This treatment is not in the patient's active plan: choose one "
            "of the list, or accept a plan that includes it first."
        },
    )
    performed_on = forms.DateField(widget=DateInput(), label="Session date")
    anaesthesia = forms.CharField(
        required=False, max_length=200, help_text="e.g. none, topical lidocaine, nerve block"
    )
    technique = forms.CharField(
        required=False, max_length=200, help_text="e.g. manual nappage, injector gun, derma-roller"
    )
    needle_gauge = forms.IntegerField(
        required=False, min_value=18, max_value=34, label="Needle gauge (G)"
    )
    depth_mm = DecimalCommaField(
        required=False, min_value=0, max_value=10, decimal_places=1, label="Depth (mm)"
    )
    confirm_limits = forms.BooleanField(
        required=False,
        label="The volumes are right (for example, the product was diluted): record the "
        "session with the volume warning",
    )
    confirm_screening = forms.BooleanField(
        required=False,
        label="I have checked the screening findings above with the patient: record the session",
    )
    confirm_schedule = forms.BooleanField(
        required=False,
        label="The session is right although it is outside the plan's course: record it with "
        "the warning",
    )
    confirm_same_day = forms.BooleanField(
        required=False,
        label="This is a separate session on the same day (e.g. a second treatment area)",
        help_text="Tick only when the patient already had a session of this kind today "
        "and this one is a separate treatment, not the same one entered again.",
    )
    # How many sessions that day the refusal named: a confirmation holds only for them.
    same_day_seen = forms.IntegerField(required=False, widget=forms.HiddenInput)
    # Which map the page showed (whole zones or fine-grid cells), chosen with the link above
    # the map and sent back with it, so the rows posted and the grid recorded always agree.
    fine_grid = forms.BooleanField(required=False, widget=forms.HiddenInput)
    immediate_reactions = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="During or right after the session (write “none” if there were none); record "
        "adverse events in monitoring",
    )
    notes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    prp_blood_volume_ml = DecimalCommaField(
        required=False, min_value=1, max_value=200, label="PRP: blood drawn (mL)"
    )
    prp_spin_protocol = forms.CharField(required=False, max_length=200, label="PRP: spin protocol")
    prp_platelet_concentration = DecimalCommaField(
        required=False,
        min_value=0,
        max_value=10000,
        label="PRP: platelet concentration (×10⁹/L), if measured",
    )

    def __init__(
        self,
        *args: Any,
        plans: list,
        lots: list,
        refused_lots: dict[int, str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        # Set by the view when the checklist shows screening findings to check.
        self.offer_screening_confirmation = False
        form_field(self, "plan", forms.ChoiceField).choices = [(p.pk, p.title) for p in plans]
        # Only the treatments the patient's active plans hold (the service refuses others).
        planned = {m for p in plans for m in p.modalities}
        if planned:
            form_field(self, "modality", forms.ChoiceField).choices = [
                (value, label) for value, label in Modality.choices if value in planned
            ]
        lot_choices = [("", "—")] + [
            (
                lot.pk,
                f"{lot.product.name} lot {lot.lot_number} (exp {lot.expiry_date}, "
                f"{lot.quantity_on_hand} on hand)"
                # Offered for a session dated before the lot's recall (entered afterwards).
                + (
                    " — recalled since: recording it puts the patient on the recall"
                    if lot.status == LotStatus.RECALLED
                    else ""
                ),
            )
            for lot in lots
        ]
        for i in range(VIAL_ROWS):
            self.fields[f"vial_{i}_lot"] = LotField(
                refused=refused_lots or {},
                coerce=int,
                choices=lot_choices,
                required=False,
                label=f"Lot {i + 1}",
                empty_value=None,
            )
            self.fields[f"vial_{i}_quantity"] = forms.IntegerField(
                required=False, min_value=1, max_value=50, label=f"Vials from lot {i + 1}"
            )
        zone_choices = [("", "—")] + list(scalp_zones.ZONES.items())
        for i in range(GRAFT_ROWS):
            self.fields[f"graft_{i}_zone"] = forms.ChoiceField(
                choices=zone_choices, required=False, label=f"Graft zone {i + 1}"
            )
            self.fields[f"graft_{i}_grafts"] = forms.IntegerField(
                required=False, min_value=1, max_value=10000, label=f"Grafts {i + 1}"
            )
            self.fields[f"graft_{i}_technique"] = forms.ChoiceField(
                choices=[("", "—"), *GraftRecord.TECHNIQUES],
                required=False,
                label=f"Technique {i + 1}",
            )

    def main_fields(self) -> list:
        names = ["plan", "modality", "performed_on", "anaesthesia",
                 "technique", "needle_gauge", "depth_mm"]  # fmt: skip
        return [self[n] for n in names]

    def offers_confirm_same_day(self) -> bool:
        """Once a refusal named the sessions that day, and on every page after it (another
        field may still need fixing)."""
        posted = self.is_bound and bool(self.data.get(self.add_prefix("same_day_seen")))
        return self.same_day_seen_now is not None or posted

    # Set by the view when the service held the session back as a second one that day: how
    # many sessions it named (the hidden ``same_day_seen`` carries it to the next save).
    same_day_seen_now: int | None = None

    def confirmation_fields(self) -> list:
        """The confirmations the service asked for, each with its warning: shown full width
        under the session's fields (in the grid they squeezed beside the depth)."""
        # The same-day box only once a second session that day was refused: on the blank
        # form it was ticked, and the browser's Back then Save recorded the session again
        # (nurse review). In the grid it sat as one more field, beside the anaesthesia.
        names = ["confirm_same_day"] if self.offers_confirm_same_day() else []
        if self.errors.get("confirm_limits") or self.data.get("confirm_limits"):
            names.append("confirm_limits")  # offered once a volume warning was given
        if self.errors.get("confirm_schedule") or self.data.get("confirm_schedule"):
            names.append("confirm_schedule")  # offered once an interval or count warning was given
        if self.offer_screening_confirmation or self.data.get("confirm_screening"):
            names.append("confirm_screening")  # the checklist shows a WARN or REFER
        return [self[n] for n in names]

    def vial_rows(self) -> list:
        return [(self[f"vial_{i}_lot"], self[f"vial_{i}_quantity"]) for i in range(VIAL_ROWS)]

    def prp_has_errors(self) -> bool:
        """The PRP section is folded away: it opens when one of its fields has an error."""
        return any(name.startswith("prp_") for name in self.errors)

    def vials_have_errors(self) -> bool:
        return any(name.startswith("vial_") for name in self.errors)

    def grafts_have_errors(self) -> bool:
        return any(name.startswith("graft_") for name in self.errors)

    def graft_rows(self) -> list:
        return [
            (self[f"graft_{i}_zone"], self[f"graft_{i}_grafts"], self[f"graft_{i}_technique"])
            for i in range(GRAFT_ROWS)
        ]

    def add_service_errors(
        self, errors: dict[str, list[str]], rows: dict[str, list[int]] | None = None
    ) -> None:
        """Show the service's errors (keys as in ``SessionError``) on this form: by the field
        they name, or at the top in words, never as a field path.

        ``rows`` maps "vials" / "grafts" to the form row each submitted item came from (blank
        rows are not submitted, so item 0 may be form row 1)."""
        for key, messages in errors.items():
            field, prefix = self._error_target(key, rows or {})
            for message in messages:
                self.add_error(field, f"{prefix}{without_api_hint(message)}")

    def _error_target(self, key: str, rows: dict[str, list[int]]) -> tuple[str | None, str]:
        if key in PRP_FIELDS:
            return PRP_FIELDS[key], ""
        if key in self.fields:
            return key, ""
        match = ROW_ERROR.fullmatch(key)
        if match:
            kind, index, column = match.group(1), int(match.group(2)), match.group(3)
            if kind == "map":
                return None, f"Injection map row {index + 1}, {MAP_COLUMNS.get(column, column)}: "
            form_rows = rows.get(kind, [])
            if kind in ROW_FIELDS and index < len(form_rows):
                name = ROW_FIELDS[kind].format(form_rows[index], column)
                if name in self.fields:
                    return name, ""
        # "checklist", "map", "vials", "grafts", "__all__": whole-form messages, in words.
        return None, ""


def parse_map(data: Any, fine_grid: bool) -> tuple[list[dict], list[dict]]:
    """Map rows from POST data `map-<code>-points|volume_ml|spacing_mm`; blank rows skipped.

    Returns (entries, rows for redisplay). Non-numbers are kept as given so that the pure
    validator reports them against the right zone.
    """
    codes = list(scalp_zones.CELLS if fine_grid else scalp_zones.ZONES)
    entries, rows = [], []
    for code in codes:
        raw = {
            k: (data.get(f"map-{code}-{k}") or "").strip()
            for k in ("points", "volume_ml", "spacing_mm")
        }
        rows.append({"code": code, "label": scalp_zones.ALL_CODES[code], **raw})
        if raw["points"] in ("", "0") and not raw["volume_ml"]:
            continue  # nothing injected there (a 0 left in points is no entry either)
        entries.append(
            {
                "zone": code,
                "points": _number(raw["points"], int),
                "volume_ml": _number(decimal_comma(raw["volume_ml"]), float),
                "spacing_mm": (
                    _number(decimal_comma(raw["spacing_mm"]), float) if raw["spacing_mm"] else None
                ),
            }
        )
    return entries, rows


def _number(text: str, kind: type) -> Any:
    try:
        return kind(text)
    except ValueError:
        return text


def empty_map_rows(fine_grid: bool) -> list[dict]:
    codes = scalp_zones.CELLS if fine_grid else scalp_zones.ZONES
    return [
        {
            "code": c,
            "label": scalp_zones.ALL_CODES[c],
            "points": "",
            "volume_ml": "",
            "spacing_mm": "",
        }
        for c in codes
    ]


class PostCareForm(Form):
    modality = forms.ChoiceField(choices=Modality.choices)
    body = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 14}), min_length=20, label="Instructions"
    )
