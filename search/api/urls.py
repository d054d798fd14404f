"""API v1 route of the search (mounted under /api/v1/ by config/api_urls.py)."""

from django.urls import path

from search.api import views

urlpatterns = [
    path("search/", views.SearchView.as_view(), name="search"),
]
