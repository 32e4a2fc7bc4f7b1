from django.urls import path

from anagen.treatments import views

app_name = "treatments"
urlpatterns = [
    path("post-care/", views.postcare_templates, name="postcare"),
    path("<int:patient_id>/", views.session_list, name="list"),
    path("<int:patient_id>/new/", views.session_create, name="create"),
    path("<int:patient_id>/<int:session_id>/", views.session_detail, name="detail"),
    path(
        "<int:patient_id>/<int:session_id>/post-care/", views.postcare_sheet, name="postcare_sheet"
    ),
    path("<int:patient_id>/<int:session_id>/void/", views.session_void, name="void"),
]
