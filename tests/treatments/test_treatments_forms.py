"""The session form shows the service's errors by the field they name, in words: never a
field path such as ``prp.blood_volume_ml`` or ``map[2].points``."""

from anagen.treatments.forms import SessionForm


def bound_form() -> SessionForm:
    form = SessionForm({}, plans=[], lots=[])
    form.is_valid()
    return form


def test_a_prp_error_is_shown_on_the_prp_field():
    form = bound_form()
    form.add_service_errors({"prp.blood_volume_ml": ["Enter the blood volume drawn (mL)."]})
    assert form.errors["prp_blood_volume_ml"] == ["Enter the blood volume drawn (mL)."]
    assert form.prp_has_errors()


def test_a_checklist_refusal_is_a_message_at_the_top_without_its_key():
    form = bound_form()
    form.add_service_errors({"checklist": ["No valid signed consent."]})
    assert form.non_field_errors() == ["No valid signed consent."]


def test_a_map_row_error_names_the_row_and_the_column_in_words():
    form = bound_form()
    form.add_service_errors({"map[2].volume_ml": ["must not be negative"]})
    assert form.non_field_errors() == ["Injection map row 3, volume (mL): must not be negative"]


def test_vial_and_graft_errors_land_on_the_form_row_they_came_from():
    form = bound_form()
    form.add_service_errors(
        {"vials[0].quantity": ["At least one vial."], "grafts[1].zone": ["Unknown zone."]},
        {"vials": [2], "grafts": [0, 3]},
    )
    assert form.errors["vial_2_quantity"] == ["At least one vial."]
    assert form.errors["graft_3_zone"] == ["Unknown zone."]
    assert not form.non_field_errors()


def test_the_treatment_choices_are_those_of_the_active_plans():
    from types import SimpleNamespace

    exosome_plan = SimpleNamespace(pk=1, title="Exosome", modalities=["exosome"])
    form = SessionForm(plans=[exosome_plan], lots=[])
    assert [v for v, _ in form.fields["modality"].choices] == ["exosome"]
    both = [exosome_plan, SimpleNamespace(pk=2, title="PRP", modalities=["prp", "minoxidil"])]
    offered = {v for v, _ in SessionForm(plans=both, lots=[]).fields["modality"].choices}
    assert offered == {"exosome", "prp", "minoxidil"}
    # A posted treatment outside the plans is a field error, not a later refusal.
    posted = SessionForm({"modality": "transplant"}, plans=[exosome_plan], lots=[])
    assert not posted.is_valid() and "modality" in posted.errors


def test_every_decimal_of_the_form_takes_a_decimal_comma():
    """A review typed "1250,5" as the platelet concentration and got "Enter a number", while
    the blood volume and the depth took a comma."""
    from decimal import Decimal

    form = SessionForm(
        {"prp_platelet_concentration": "1250,5", "prp_blood_volume_ml": "20,5",
         "depth_mm": "1,5"},
        plans=[], lots=[],
    )  # fmt: skip
    form.is_valid()
    for name, value in (
        ("prp_platelet_concentration", "1250.5"), ("prp_blood_volume_ml", "20.5"),
        ("depth_mm", "1.5"),
    ):  # fmt: skip
        assert name not in form.errors, form.errors.get(name)
        assert form.cleaned_data[name] == Decimal(value)
