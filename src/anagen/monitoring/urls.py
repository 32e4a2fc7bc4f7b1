from django.urls import path

from anagen.monitoring import views

app_name = "monitoring"
urlpatterns = [
    path("agenda/", views.agenda, name="agenda"),
    path("agenda/reminders.csv", views.reminders_csv, name="reminders_csv"),
    path("adverse-events/reportable/", views.reportable_events, name="reportable"),
    path("settings/", views.settings_view, name="settings"),
    # Patient first: every nested object is looked up within this patient and clinic.
    path("<int:patient_id>/", views.patient_timeline, name="timeline"),
    path("<int:patient_id>/schedule/new/", views.schedule_create, name="schedule_create"),
    path("<int:patient_id>/appointments/new/", views.appointment_create, name="appointment_create"),
    path("<int:patient_id>/courses/<int:plan_id>/end/", views.course_end, name="course_end"),
    path(
        "<int:patient_id>/schedule/<int:scheduled_id>/reschedule/",
        views.reschedule,
        name="reschedule",
    ),
    path(
        "<int:patient_id>/schedule/<int:scheduled_id>/status/",
        views.visit_status,
        name="visit_status",
    ),
    path("<int:patient_id>/visits/new/", views.visit_create, name="visit_create"),
    path("<int:patient_id>/visits/<int:visit_id>/", views.visit_detail, name="visit_detail"),
    path("<int:patient_id>/visits/<int:visit_id>/correct/", views.visit_amend, name="visit_amend"),
    path("<int:patient_id>/visits/<int:visit_id>/photos/", views.photo_upload, name="photo_upload"),
    path(
        "<int:patient_id>/visits/<int:visit_id>/decision/",
        views.decision_create,
        name="decision_create",
    ),
    path("<int:patient_id>/photos/<int:photo_id>/", views.photo_image, name="photo_image"),
    path(
        "<int:patient_id>/adverse-events/new/",
        views.adverse_event_create,
        name="adverse_event_create",
    ),
    path(
        "<int:patient_id>/adverse-events/<int:event_id>/edit/",
        views.adverse_event_edit,
        name="adverse_event_edit",
    ),
    # Voiding (record.void): one view, the kind fixed by the URL.
    path(
        "<int:patient_id>/visits/<int:object_id>/void/",
        views.void_record,
        {"kind": "visit"},
        name="visit_void",
    ),
    path(
        "<int:patient_id>/photos/<int:object_id>/void/",
        views.void_record,
        {"kind": "photo"},
        name="photo_void",
    ),
    path(
        "<int:patient_id>/measurements/<int:measurement_id>/correct/",
        views.measurement_correct,
        name="measurement_correct",
    ),
    path(
        "<int:patient_id>/measurements/<int:object_id>/void/",
        views.void_record,
        {"kind": "measurement"},
        name="measurement_void",
    ),
    path(
        "<int:patient_id>/adverse-events/<int:object_id>/void/",
        views.void_record,
        {"kind": "adverse_event"},
        name="adverse_event_void",
    ),
    path(
        "<int:patient_id>/decisions/<int:object_id>/void/",
        views.void_record,
        {"kind": "decision"},
        name="decision_void",
    ),
    path(
        "<int:patient_id>/appointments/<int:object_id>/void/",
        views.void_record,
        {"kind": "appointment"},
        name="appointment_void",
    ),
]
