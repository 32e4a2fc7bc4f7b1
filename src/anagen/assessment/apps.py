from django.apps import AppConfig


class AssessmentConfig(AppConfig):
    name = "anagen.assessment"
    label = "assessment"
