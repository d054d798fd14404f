"""API v1 routes of telephony (mounted under /api/v1/ by config/api_urls.py)."""

from rest_framework.routers import SimpleRouter

from telephony.api import views

router = SimpleRouter()
router.register("calls", views.CallViewSet, basename="call")

urlpatterns = router.urls
