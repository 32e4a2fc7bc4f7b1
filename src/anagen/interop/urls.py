from django.urls import path

from anagen.interop import views

app_name = "interop"
urlpatterns = [
    path("patients/<int:patient_id>/fhir.json", views.fhir_bundle, name="fhir_bundle"),
    path("import/", views.fhir_import_view, name="fhir_import"),
    path("export/", views.export_page, name="export"),
    path("export/analysis.csv", views.export_csv, name="export_csv"),
    path("export/analysis.parquet", views.export_parquet, name="export_parquet"),
    path("export/log/", views.export_log, name="export_log"),
]
