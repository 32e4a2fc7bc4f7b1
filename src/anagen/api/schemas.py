"""The base of every request body the API accepts."""

from __future__ import annotations

from ninja import Schema
from pydantic import ConfigDict


class InputSchema(Schema):
    """A request body that refuses fields it does not know (422 "<field>: Extra inputs are
    not permitted"). Dropping them silently let a typo such as ``bleeding_disordr`` store a
    history without the contraindication, and screening then passed it."""

    model_config = ConfigDict(extra="forbid")
