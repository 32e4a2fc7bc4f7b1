"""`anagen purge_held_photos`: delete photos held for visit forms that were never saved.

The next hold in a clinic already removes that clinic's expired photos; this command (for a
daily timer) removes them in clinics where nobody fills a visit form for a while.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from anagen.monitoring import held_photos


class Command(BaseCommand):
    help = f"Delete photos held for refused visit forms longer than {held_photos.HOLD_HOURS} hours."

    def handle(self, *args: Any, **options: Any) -> None:
        removed = held_photos.purge_expired()
        self.stdout.write(
            f"Deleted {removed} held photo(s) older than {held_photos.HOLD_HOURS} hours."
        )
