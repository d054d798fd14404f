"""Routes of consents/: the website forms' public endpoint, and the consents of a contact in
the app (the card's form posts here, the history is one click from the card)."""

from django.urls import path

from consents import capture, views

urlpatterns = [
    path("consents/capture/<slug:site_key>/", capture.capture, name="consent_capture"),
    path("contacts/<int:pk>/consents/", views.contact_consents, name="contact_consents"),
]
