"""Routes of consents/ in the app: the consents of a contact (the card's form posts here, the
history is one click from the card), sending a contact their privacy-center link, the data
subjects' requests; and the website forms' public capture endpoint with its double opt-in
link. The privacy center itself is in urls_public.py."""

from django.urls import path

from consents import capture
from consents.views import confirm, contact, requests, staff

urlpatterns = [
    path("consents/capture/<slug:site_key>/", capture.capture, name="consent_capture"),
    path("consents/confirm/<str:token>/", confirm.consent_confirm, name="consent_confirm"),
    path("contacts/<int:pk>/consents/", contact.contact_consents, name="contact_consents"),
    path("contacts/<int:pk>/privacy-link/", staff.privacy_link_send,
         name="privacy_link_send"),
    path("contacts/<int:pk>/privacy-link/revoke/", staff.privacy_links_revoke,
         name="privacy_links_revoke"),
    path("consents/requests/", requests.subject_request_list,
         name="subject_request_list"),
    path("consents/requests/<int:pk>/extend/", requests.subject_request_extend,
         name="subject_request_extend"),
    path("consents/requests/<int:pk>/close/", requests.subject_request_close,
         name="subject_request_close"),
    path("contacts/<int:pk>/subject-requests/", requests.contact_subject_request_add,
         name="contact_subject_request_add"),
]
