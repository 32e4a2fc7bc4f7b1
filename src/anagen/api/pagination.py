from typing import Any, cast

from django.db.models import QuerySet
from django.http import HttpRequest
from ninja import Field, Schema
from ninja.pagination import LimitOffsetPagination

from anagen.core.http import ClinicRequest
from anagen.patients.selectors import log_listed_access

MAX_PAGE_SIZE = 200
# Far above any real table, far below the database's integer limits.
MAX_OFFSET = 10**9


class BoundedPagination(LimitOffsetPagination):
    """Limit/offset paging whose numbers are checked before they reach the database. The
    answer is ``{"items": [...], "count": total}``: a client pages with ``offset`` until it
    has ``count`` items (docs/api.md)."""

    class Input(Schema):
        limit: int = Field(
            25, ge=1, le=MAX_PAGE_SIZE, description=f"Items per page (at most {MAX_PAGE_SIZE})"
        )
        offset: int = Field(0, ge=0, le=MAX_OFFSET, description="Items to skip")


class LoggedPatientPagination(BoundedPagination):
    """Paging of a patient list that shows contact details: each patient of the page is
    logged as opened (patients.selectors.log_listed_access), as the web's trace and recall
    lists are; the count is not."""

    def paginate_queryset(
        self, queryset: QuerySet, pagination: LimitOffsetPagination.Input, request: HttpRequest,
        **params: Any,
    ) -> Any:  # fmt: skip
        page = super().paginate_queryset(queryset, pagination, request, **params)
        items = list(page[self.items_attribute])
        # The patient routers' guard made the request a ClinicRequest.
        log_listed_access(cast(ClinicRequest, request), items, channel="api")
        page[self.items_attribute] = items
        return page
