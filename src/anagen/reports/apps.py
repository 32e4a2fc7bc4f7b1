from django.apps import AppConfig


class ReportsConfig(AppConfig):
    name = "anagen.reports"
    label = "reports"
    verbose_name = "Reports: PDF documents (WeasyPrint)"
