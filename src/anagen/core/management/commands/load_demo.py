from django.core.management.base import BaseCommand

from anagen.core.demo import load_demo


class Command(BaseCommand):
    help = "Load the demo clinic (users of every role, synthetic patients). Safe to re-run."

    def handle(self, *args, **options) -> None:
        logins = load_demo()
        self.stdout.write(self.style.SUCCESS("Demo data ready. Sign in at http://127.0.0.1:8000"))
        self.stdout.write(f"{'username':<12} {'password':<24} {'role':<11} clinic")
        for login in logins:
            self.stdout.write(
                f"{login.username:<12} {login.password:<24} {login.role:<11} {login.clinic}"
            )
