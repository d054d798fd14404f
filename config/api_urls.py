"""Mounted at /api/: v1 gathers the routes each app declares (core.holdings: api_urls), then
the OpenAPI schema and the interactive docs."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from core.api import docs
from core.holdings import declared

app_name = "api"

v1 = [path("", include(h.api_urls)) for h in declared() if h.api_urls]

urlpatterns = [
    path("v1/", include(v1)),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", docs.SwaggerView.as_view(), name="docs"),
    path("docs/assets/<str:name>", docs.swagger_asset, name="docs-asset"),
]
