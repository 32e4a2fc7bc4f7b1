from django.apps import AppConfig


class ImagingConfig(AppConfig):
    name = "anagen.imaging"
    label = "imaging"
    verbose_name = "Imaging: trichoscopy analysis of monitoring photos"
