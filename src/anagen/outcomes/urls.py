from django.urls import path

from anagen.outcomes import views

app_name = "outcomes"
urlpatterns = [
    path("cohort/", views.cohort_view, name="cohort"),
    path("comparison/", views.comparison_view, name="comparison"),
    path("patients/<int:patient_id>/", views.patient_progress, name="progress"),
]
