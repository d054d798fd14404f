"""HTML routes of the security features (sharing, reveal, exports). Each feature adds its
own paths here; views live in security/views/<feature>.py."""

urlpatterns: list = []
