"""Demo rows for the assessment part of the workflow (filled in by the assessment issue)."""

from anagen.accounts.models import Clinic, User


def load_demo(clinic: Clinic, users: dict[str, User]) -> None:
    """Idempotent: running it twice must not duplicate anything."""
