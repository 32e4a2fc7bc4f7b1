from django.urls import include, path

from anagen.api.v1 import api

urlpatterns = [
    path("", include("anagen.core.urls")),
    path("accounts/", include("anagen.accounts.urls")),
    path("patients/", include("anagen.patients.urls")),
    path("consultation/", include("anagen.assessment.urls")),
    path("products/", include("anagen.products.urls")),
    path("monitoring/", include("anagen.monitoring.urls")),
    path("imaging/", include("anagen.imaging.urls")),
    path("sessions/", include("anagen.treatments.urls")),
    path("outcomes/", include("anagen.outcomes.urls")),
    path("interop/", include("anagen.interop.urls")),
    path("reports/", include("anagen.reports.urls")),
    path("api/v1/", api.urls),
]

handler400 = "anagen.core.views.error_400"
handler403 = "anagen.core.views.error_403"
handler404 = "anagen.core.views.error_404"
handler500 = "anagen.core.views.error_500"
