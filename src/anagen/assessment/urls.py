from django.urls import path

from anagen.assessment import views

app_name = "assessment"
urlpatterns = [
    # Clinic-level settings (no patient): rules, protocol templates, consent texts.
    path("rules/", views.rules, name="rules"),
    path("rules/overrides/", views.add_rule_override, name="rule_override_add"),
    path(
        "rules/overrides/<int:override_id>/retire/",
        views.retire_rule_override,
        name="rule_override_retire",
    ),
    path("protocols/", views.protocol_list, name="protocols"),
    # Keys travel in the query string (?key=…): the URL tests fill path parameters with
    # patient ids, which a template key or modality never is.
    path("protocols/edit/", views.protocol_edit, name="protocol_edit"),
    path("consent-texts/edit/", views.consent_text_edit, name="consent_text_edit"),
    # The patient's consultation: patient id first, nested objects looked up through it.
    path("<int:patient_id>/", views.flow, name="flow"),
    path("<int:patient_id>/history/", views.record_history, name="history"),
    path("<int:patient_id>/history/versions/", views.history_versions, name="history_versions"),
    path("<int:patient_id>/screening/", views.screen_again, name="screen"),
    path("<int:patient_id>/screening/override/", views.override_block, name="override"),
    path("<int:patient_id>/exam/", views.record_exam, name="exam"),
    path("<int:patient_id>/diagnosis/", views.record_diagnosis, name="diagnosis"),
    path("<int:patient_id>/plans/", views.accept_plan, name="plan_accept"),
    path("<int:patient_id>/plans/<int:plan_id>/edit/", views.edit_plan, name="plan_edit"),
    path("<int:patient_id>/plans/<int:plan_id>/cancel/", views.cancel_plan, name="plan_cancel"),
    path(
        "<int:patient_id>/plans/<int:plan_id>/consent/",
        views.record_consent,
        name="consent",
    ),
    path(
        "<int:patient_id>/consents/<int:consent_id>/withdraw/",
        views.withdraw_consent,
        name="consent_withdraw",
    ),
]
