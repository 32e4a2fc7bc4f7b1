"""The API's error answers name each field; a refusal of the whole request names none."""

import pytest
from ninja.errors import HttpError

from anagen.api.errors import error_detail, refuse


def test_each_message_follows_its_field_and_whole_request_messages_stand_alone():
    detail = error_detail(
        {"__all__": ["This record is voided."], "stage": ["Unknown stage.", "Check it."]}
    )
    assert detail == "This record is voided.; stage: Unknown stage. Check it."


def test_refuse_raises_the_status_asked_for():
    with pytest.raises(HttpError) as err:
        refuse({"lot": ["Not usable."]}, 409)
    assert (err.value.status_code, err.value.message) == (409, "lot: Not usable.")
