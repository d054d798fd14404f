"""API v1 routes of telephony, included under /api/v1/ by crm/api/urls.py."""

from rest_framework.routers import SimpleRouter

from telephony.api import views

router = SimpleRouter()
router.register("calls", views.CallViewSet, basename="call")

urlpatterns = router.urls
