from django.apps import AppConfig


class TreatmentsConfig(AppConfig):
    name = "anagen.treatments"
    label = "treatments"
    verbose_name = "Treatment sessions"
