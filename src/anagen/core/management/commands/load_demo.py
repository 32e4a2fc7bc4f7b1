from argparse import ArgumentParser

from django.core.management.base import BaseCommand, CommandError

from anagen.accounts.commands import require_database
from anagen.accounts.models import Clinic
from anagen.core.demo import DEMO_CLINIC, OTHER_CLINIC, load_demo


class Command(BaseCommand):
    help = "Load the demo clinic (users of every role, synthetic patients). Safe to re-run."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--url",
            default="http://127.0.0.1:8000",
            help="where the server will listen (printed for the sign-in; make demo passes it)",
        )

    def handle(self, *args, **options) -> None:
        require_database()  # one line, not a traceback, on an unmigrated or unreachable one
        # The demo's accounts have published passwords: loaded into a clinic's real database
        # they would be ways in (and an existing "admin" would join the demo clinic).
        others = Clinic.objects.exclude(slug__in=[DEMO_CLINIC[1], OTHER_CLINIC[1]])
        names = list(others.order_by("name").values_list("name", flat=True)[:3])
        if names:
            raise CommandError(
                f"this database holds clinics other than the demo's ({', '.join(names)}"
                f"{', …' if others.count() > 3 else ''}): the demo adds accounts whose "
                "passwords are published. Load it into a database of its own (DATABASE_URL)."
            )
        logins = load_demo()
        self.stdout.write(self.style.SUCCESS(f"Demo data ready. Sign in at {options['url']}"))
        self.stdout.write(f"{'username':<12} {'password':<24} {'role':<11} clinic")
        for login in logins:
            self.stdout.write(
                f"{login.username:<12} {login.password:<24} {login.role:<11} {login.clinic}"
            )
