from django.apps import AppConfig


class OutcomesConfig(AppConfig):
    name = "anagen.outcomes"
    label = "outcomes"
    verbose_name = "Outcomes: patient progress, cohort analytics, treatment comparison"

    def ready(self) -> None:
        from anagen.outcomes import signals

        signals.connect()
