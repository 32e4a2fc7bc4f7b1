from django.urls import path

from anagen.core import views

app_name = "core"
urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("healthz", views.healthz, name="healthz"),
    path("settings/", views.settings_index, name="settings"),
]
