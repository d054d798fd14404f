"""Staff routes of the privacy center: sending a contact their link, revoking their links."""

from django.urls import path

from consents import views_staff

urlpatterns = [
    path("contacts/<int:pk>/privacy-link/", views_staff.privacy_link_send,
         name="privacy_link_send"),
    path("contacts/<int:pk>/privacy-link/revoke/", views_staff.privacy_links_revoke,
         name="privacy_links_revoke"),
]
