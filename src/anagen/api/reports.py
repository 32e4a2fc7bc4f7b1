"""Reports: PDF documents (WeasyPrint) (API)."""

from ninja import Router

router = Router(tags=["reports"])
