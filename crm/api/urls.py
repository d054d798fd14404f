"""API v1 routes of the CRM (mounted under /api/v1/ by config/api_urls.py)."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from crm.api import reveal, sharing, views

router = SimpleRouter()
router.register("contacts", views.ContactViewSet, basename="contact")
router.register("companies", views.CompanyViewSet, basename="company")
router.register("deals", views.DealViewSet, basename="deal")
router.register("tasks", views.TaskViewSet, basename="task")

urlpatterns = [
    path("auth/token/", views.TokenObtainView.as_view(), name="token"),
    *router.urls,
    path("contacts/<int:pk>/reveal/", reveal.ContactRevealView.as_view(), name="contact-reveal"),
    path("deals/<int:pk>/shares/", sharing.DealSharesView.as_view(), name="deal-shares"),
    path("deals/<int:pk>/shares/<int:user_id>/", sharing.DealShareDetailView.as_view(),
         name="deal-share-detail"),
]
