from django.urls import path

from anagen.reports import views

app_name = "reports"
urlpatterns = [
    path("", views.index, name="index"),
    path("cohort.pdf", views.cohort_report, name="cohort_pdf"),
    path("patients/<int:patient_id>/progress.pdf", views.patient_report, name="patient_pdf"),
]
