from django.urls import path

from anagen.patients import views

app_name = "patients"
urlpatterns = [
    path("", views.patient_list, name="list"),
    path("new/", views.patient_create, name="create"),
    path("<int:patient_id>/", views.patient_detail, name="detail"),
    path("<int:patient_id>/edit/", views.patient_edit, name="edit"),
    path("<int:patient_id>/void/", views.patient_void, name="void"),
    path("<int:patient_id>/restore/", views.patient_restore, name="restore"),
]
