from ninja import Field, Schema
from ninja.pagination import LimitOffsetPagination

MAX_PAGE_SIZE = 200
# Far above any real table, far below the database's integer limits.
MAX_OFFSET = 10**9


class BoundedPagination(LimitOffsetPagination):
    """Limit/offset paging whose numbers are checked before they reach the database."""

    class Input(Schema):
        limit: int = Field(25, ge=1, le=MAX_PAGE_SIZE, description="Items per page")
        offset: int = Field(0, ge=0, le=MAX_OFFSET, description="Items to skip")
