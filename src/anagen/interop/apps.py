from django.apps import AppConfig


class InteropConfig(AppConfig):
    name = "anagen.interop"
    label = "interop"
    verbose_name = "Interop: FHIR R5 export/import, de-identified CSV/Parquet"
