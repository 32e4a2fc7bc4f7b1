from pathlib import Path

from django.core.management.base import BaseCommand

from anagen.accounts.roles import render_permissions_markdown


class Command(BaseCommand):
    help = "Write docs/permissions.md from the permission table in accounts/roles.py."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--output", default="docs/permissions.md")

    def handle(self, *args, output: str, **options) -> None:
        Path(output).write_text(render_permissions_markdown())
        self.stdout.write(f"wrote {output}")
