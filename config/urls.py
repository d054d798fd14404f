from django.contrib import admin
from django.urls import include, path

from config.views import healthz
from core.webhooks import webhook

handler404 = "core.api.views.page_not_found"

urlpatterns = [
    path("", include("crm.urls")),
    path("", include("security.urls")),
    path("", include("inbox.urls")),
    path("", include("telephony.urls")),
    path("", include("consents.urls")),
    path("", include("reports.urls")),
    path("", include("search.urls")),
    # The privacy center: public, reached through a signed link (consents/privacy.py).
    path("privacy/", include("consents.urls_public")),
    path("api/", include("config.api_urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("healthz/", healthz, name="healthz"),
    # Every provider's webhooks, one view (core/webhooks.py): /hooks/telegram/<uuid>/, and
    # with the path Mango appends, /hooks/mango/<uuid>/events/call.
    path("hooks/<slug:kind>/<uuid:channel_uuid>/", webhook, name="webhook"),
    path("hooks/<slug:kind>/<uuid:channel_uuid>/<path:path>", webhook, name="webhook"),
    path("", include("inbox.urls_public")),
]
