"""API v1 routes of the security features (mounted under /api/v1/). Each feature adds its
own paths here; views live in security/api/<feature>.py."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from security.api import console, exports, users

router = SimpleRouter()
router.register("alerts", console.AlertViewSet, basename="alert")

urlpatterns: list = [
    path("exports/", exports.ExportCreateView.as_view(), name="export-create"),
    path(
        "exports/<uuid:export_id>/download/", exports.ExportDownloadView.as_view(),
        name="export-download",
    ),
    path("users/", users.UserListView.as_view(), name="user-list"),
    path("users/<int:pk>/offboard/", users.UserOffboardView.as_view(), name="user-offboard"),
    path("audit/access/", console.AccessLogView.as_view(), name="audit-access"),
    *router.urls,
]
