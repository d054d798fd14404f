"""API v1 routes of consents/ (mounted under /api/v1/)."""

from rest_framework.routers import SimpleRouter

from consents.api_requests import SubjectRequestViewSet

router = SimpleRouter()
router.register("subject-requests", SubjectRequestViewSet, basename="subject-request")

urlpatterns = [*router.urls]
