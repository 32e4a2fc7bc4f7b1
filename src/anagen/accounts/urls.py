from django.contrib.auth import views as auth_views
from django.urls import path

from anagen.accounts import views

app_name = "accounts"
urlpatterns = [
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("password/", views.PasswordChangeView.as_view(), name="password_change"),
    path("password/done/", views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path("clinic/switch/", views.switch_clinic, name="switch_clinic"),
    path("tokens/", views.api_tokens, name="api_tokens"),
    path("tokens/<int:token_id>/revoke/", views.api_token_revoke, name="api_token_revoke"),
    path("clinic/time-zone/", views.clinic_time_zone, name="clinic_time_zone"),
    path("clinic/contact/", views.clinic_contact, name="clinic_contact"),
    path("members/", views.members, name="members"),
    path("audit/", views.audit_trail, name="audit"),
    path("access-log/", views.access_log, name="access_log"),
    path("audit/export.csv", views.audit_csv, name="audit_csv"),
    path("audit/<str:record_label>/<int:history_id>/", views.audit_change, name="audit_change"),
    path("members/new/", views.member_create, name="member_create"),
    path(
        "members/<int:membership_id>/reset-password/",
        views.member_reset_password,
        name="member_reset_password",
    ),
    path(
        "members/<int:membership_id>/deactivate/",
        views.member_set_active,
        {"active": False},
        name="member_deactivate",
    ),
    path(
        "members/<int:membership_id>/reactivate/",
        views.member_set_active,
        {"active": True},
        name="member_reactivate",
    ),
]
