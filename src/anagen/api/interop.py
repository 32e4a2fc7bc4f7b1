"""Interop: FHIR R5 export/import, de-identified CSV/Parquet (API)."""

from ninja import Router

router = Router(tags=["interop"])
