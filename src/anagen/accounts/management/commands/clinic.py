"""`anagen clinic create|list`: the installer's clinics and their first administrators.

`create` makes a clinic and gives an account its administrator role: an existing account,
or a new one whose temporary password is printed once (to hand over in person; it must be
changed at first sign-in). All or nothing; a refusal is one line per problem on stderr and
a non-zero exit.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from anagen.accounts import services
from anagen.accounts.commands import require_database
from anagen.accounts.models import Clinic, Membership
from anagen.accounts.roles import Role

# The command's option for each field a refusal names.
_OPTION = {
    "name": "--name",
    "slug": "--slug",
    "time_zone": "--time-zone",
    "country": "--country",
    "admin_username": "--admin",
    "admin_first_name": "--admin-first-name",
    "admin_last_name": "--admin-last-name",
    "admin_email": "--admin-email",
}


class Command(BaseCommand):
    help = "Clinics: create one with its first administrator, or list them."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="a new clinic and its first administrator")
        create.add_argument("--name", required=True, help="the clinic's name, as pages show it")
        create.add_argument("--slug", required=True, help="short name for commands (--clinic)")
        create.add_argument("--time-zone", default="", help="IANA name, e.g. Europe/Berlin")
        create.add_argument("--country", default="", help="ISO 3166-1 alpha-2, e.g. DE")
        create.add_argument(
            "--admin", required=True, help="username of the administrator (new or existing)"
        )
        create.add_argument("--admin-first-name", default="", help="for a new account")
        create.add_argument("--admin-last-name", default="", help="for a new account")
        create.add_argument("--admin-email", default="", help="for a new account")
        sub.add_parser("list", help="the clinics, with their slugs and administrators")

    def handle(self, *args: Any, **options: Any) -> None:
        require_database()
        if options["action"] == "create":
            self._create(options)
        else:
            self._list()

    def _create(self, options: dict[str, Any]) -> None:
        try:
            clinic, membership, password = services.create_clinic(
                name=options["name"],
                slug=options["slug"],
                time_zone=options["time_zone"],
                country=options["country"],
                admin_username=options["admin"],
                admin_first_name=options["admin_first_name"],
                admin_last_name=options["admin_last_name"],
                admin_email=options["admin_email"],
            )
        except services.AccountFormError as exc:
            problems = [
                (f"{_OPTION[field]}: " if field in _OPTION else "") + message.rstrip(".")
                for field, messages in exc.errors.items()
                for message in messages
            ]
            raise CommandError("nothing created — " + "; ".join(problems)) from exc
        user = membership.user
        self.stdout.write(f"Created clinic {clinic.name} (slug {clinic.slug}).")
        if password is None:
            self.stdout.write(f"{user.username} (existing account) is its administrator.")
        else:
            self.stdout.write(
                f"New administrator account {user.username}, temporary password: {password}\n"
                "Hand it over in person: it is not shown again, and must be changed at the "
                "first sign-in."
            )

    def _list(self) -> None:
        admins: dict[int, list[str]] = {}
        for m in Membership.objects.filter(role=Role.ADMIN.value, is_active=True).select_related(
            "user"
        ):
            admins.setdefault(m.clinic_id, []).append(m.user.username)
        clinics = list(Clinic.objects.order_by("name"))
        if not clinics:
            self.stdout.write("No clinic yet: `anagen clinic create --help`.")
        for c in clinics:
            who = ", ".join(sorted(admins.get(c.pk, []))) or "none"
            self.stdout.write(f"{c.slug}\t{c.name}\tadministrators: {who}")
