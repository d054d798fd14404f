"""API v1 routes of consents/ (mounted under /api/v1/)."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from consents.api import views
from consents.api.requests import SubjectRequestViewSet

router = SimpleRouter()
router.register("subject-requests", SubjectRequestViewSet, basename="subject-request")

urlpatterns = [
    path("consents/", views.ConsentsView.as_view(), name="consents"),
    *router.urls,
]
