"""Writes of the interop app: the record of each de-identified export."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from anagen.accounts.models import Clinic, User
from anagen.interop.models import DataExport


def record_export(
    clinic: Clinic,
    user: User,
    table: str,
    rows: Sequence[dict[str, Any]],
    *,
    channel: str,
    ip_address: str | None = None,
) -> DataExport:
    """Keep who took the de-identified table ``rows`` of ``clinic``, how and from where
    (written before the file is handed over, so no download goes unrecorded)."""
    if table not in DataExport.Table.values or channel not in DataExport.Channel.values:
        raise ValueError(f"unknown export {table!r} via {channel!r}")
    return DataExport.objects.create(
        clinic=clinic,
        user=user,
        table=table,
        channel=channel,
        rows=len(rows),
        patients=len({r["pseudo_id"] for r in rows}),
        ip_address=ip_address,
    )
