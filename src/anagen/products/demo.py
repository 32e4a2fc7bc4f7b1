"""Demo rows for the products part of the workflow (filled in by the products issue)."""

from anagen.accounts.models import Clinic, User


def load_demo(clinic: Clinic, users: dict[str, User]) -> None:
    """Idempotent: running it twice must not duplicate anything."""
