"""Mounted at /api/: the v1 resources, the OpenAPI schema and the interactive docs."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView
from rest_framework.routers import SimpleRouter

from crm.api import docs, views

app_name = "api"

router = SimpleRouter()
router.register("contacts", views.ContactViewSet, basename="contact")
router.register("companies", views.CompanyViewSet, basename="company")
router.register("deals", views.DealViewSet, basename="deal")
router.register("tasks", views.TaskViewSet, basename="task")

v1 = [
    path("auth/token/", views.TokenObtainView.as_view(), name="token"),
    *router.urls,
    path("", include("security.api.urls")),
    path("", include("inbox.api.urls")),
    path("", include("telephony.api.urls")),
    path("", include("consents.api.urls")),
]

urlpatterns = [
    path("v1/", include(v1)),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", docs.SwaggerView.as_view(), name="docs"),
    path("docs/assets/<str:name>", docs.swagger_asset, name="docs-asset"),
]
