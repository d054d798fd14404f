"""HTML routes of the security features (sharing, reveal, exports). Each feature adds its
own paths here; views live in security/views/<feature>.py."""

from django.urls import path

from security.views import sharing

urlpatterns: list = [
    path("deals/<int:pk>/shares/", sharing.deal_shares, name="deal_shares"),
    path(
        "deals/<int:pk>/shares/<int:user_id>/revoke/",
        sharing.deal_share_revoke,
        name="deal_share_revoke",
    ),
]
