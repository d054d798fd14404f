from django.contrib import admin
from django.urls import include, path

from config.views import healthz

urlpatterns = [
    path("", include("crm.urls")),
    path("", include("security.urls")),
    path("", include("inbox.urls_app")),
    path("", include("telephony.urls_app")),
    path("", include("consents.urls")),
    # The privacy center: public, reached through a signed link (consents/privacy.py).
    path("privacy/", include("consents.urls_public")),
    path("api/", include("crm.api.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("healthz/", healthz, name="healthz"),
    path("hooks/", include("inbox.urls")),
    path("hooks/", include("telephony.urls")),
    path("", include("inbox.urls_widget")),
]
