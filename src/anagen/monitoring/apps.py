from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "anagen.monitoring"
    label = "monitoring"
    verbose_name = "Monitoring: follow-up visits, measurements, photos, adverse events"
