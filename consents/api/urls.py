"""API v1 routes of consents/ (mounted under /api/v1/)."""

from django.urls import path

from consents.api import views

urlpatterns = [
    path("consents/", views.ConsentsView.as_view(), name="consents"),
]
