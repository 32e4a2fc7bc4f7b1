"""Every service write goes through save_with_history: who and why on each history row, and no
row for a save that stores nothing new."""

from __future__ import annotations

import pytest

from anagen.core.history import differs_from_stored, save_with_history
from anagen.products.models import StorageLocation


@pytest.fixture
def location(clinic_a, clinician) -> StorageLocation:
    row = StorageLocation(clinic=clinic_a, name="Fridge 1", description="Ward A")
    assert save_with_history(row, clinician, "created")
    return row


def test_a_new_row_is_saved_with_the_user_and_reason_on_its_history(location, clinician):
    entry = location.history.get()
    assert (entry.history_type, entry.history_user, entry.history_change_reason) == (
        "+",
        clinician,
        "created",
    )


def test_a_row_saved_as_it_is_stored_is_not_saved_and_gets_no_history_entry(location, clinician):
    same = StorageLocation.objects.get(pk=location.pk)
    same.description = "Ward A"  # the value it already has
    assert not differs_from_stored(same)
    assert not save_with_history(same, clinician, "edited")
    assert location.history.count() == 1


def test_a_changed_row_is_saved_with_one_history_entry(location, clinician):
    location.description = "Ward B"
    assert save_with_history(location, clinician, "moved")
    assert StorageLocation.objects.get(pk=location.pk).description == "Ward B"
    newest = location.history.first()
    assert (newest.history_type, newest.history_change_reason) == ("~", "moved")
    assert location.history.count() == 2


def test_the_comparison_is_with_the_row_as_stored_now_not_as_it_was_loaded(location, clinician):
    loaded = StorageLocation.objects.get(pk=location.pk)
    StorageLocation.objects.filter(pk=location.pk).update(description="Changed elsewhere")
    # The loaded copy holds the old value: saving it changes the stored row back.
    assert differs_from_stored(loaded)
    assert save_with_history(loaded, clinician, "restored")
    assert StorageLocation.objects.get(pk=location.pk).description == "Ward A"


def test_update_fields_limit_both_the_comparison_and_the_save(location, clinician):
    location.description = "Ward C"  # not among the fields saved below
    assert not save_with_history(location, clinician, "renamed", update_fields=["name"])
    location.name = "Fridge 2"
    assert save_with_history(location, clinician, "renamed", update_fields=["name"])
    stored = StorageLocation.objects.get(pk=location.pk)
    assert (stored.name, stored.description) == ("Fridge 2", "Ward A")
