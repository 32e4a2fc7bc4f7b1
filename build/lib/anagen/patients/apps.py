from django.apps import AppConfig


class PatientsConfig(AppConfig):
    name = "anagen.patients"
    label = "patients"
    verbose_name = "Patients"
