"""API v1 routes of the security features (mounted under /api/v1/). Each feature adds its
own paths here; views live in security/api/<feature>.py."""

urlpatterns: list = []
