"""API v1 routes of the reports (mounted under /api/v1/ by config/api_urls.py)."""

from django.urls import path

from reports.api import views

urlpatterns = [
    path("reports/activity/", views.ActivityReportView.as_view(), name="report-activity"),
    path("reports/funnel/", views.FunnelReportView.as_view(), name="report-funnel"),
]
