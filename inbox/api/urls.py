"""API v1 routes of the inbox (mounted under /api/v1/ by config/api_urls.py)."""

from rest_framework.routers import SimpleRouter

from inbox.api import views

router = SimpleRouter()
router.register("conversations", views.ConversationViewSet, basename="conversation")

urlpatterns = router.urls
