from django.urls import path

from anagen.imaging import views

app_name = "imaging"
urlpatterns = [
    path("settings/", views.settings_view, name="settings"),
    # Patient first: every nested object is looked up within this patient and clinic.
    path(
        "<int:patient_id>/analyses/<int:analysis_id>/",
        views.analysis_detail,
        name="analysis_detail",
    ),
    path(
        "<int:patient_id>/analyses/<int:analysis_id>/overlay.png",
        views.overlay,
        name="overlay",
    ),
    path(
        "<int:patient_id>/analyses/<int:analysis_id>/correct/",
        views.correct,
        name="correct",
    ),
    path(
        "<int:patient_id>/analyses/<int:analysis_id>/record/",
        views.record_measurement,
        name="record_measurement",
    ),
    path("<int:patient_id>/photos/<int:photo_id>/analyse/", views.analyse, name="analyse"),
    path("<int:patient_id>/photos/<int:photo_id>/compare/", views.compare, name="compare"),
    path(
        "<int:patient_id>/comparisons/<int:comparison_id>/",
        views.comparison_detail,
        name="comparison_detail",
    ),
]
