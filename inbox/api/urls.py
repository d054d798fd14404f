"""API v1 routes of the inbox, included under /api/v1/ by crm/api/urls.py."""

from rest_framework.routers import SimpleRouter

from inbox.api import views

router = SimpleRouter()
router.register("conversations", views.ConversationViewSet, basename="conversation")

urlpatterns = router.urls
