"""HTML pages of data subjects' requests."""

from django.urls import path

from consents import views_requests as views

urlpatterns = [
    path("consents/requests/", views.subject_request_list, name="subject_request_list"),
    path("consents/requests/<int:pk>/extend/", views.subject_request_extend,
         name="subject_request_extend"),
    path("consents/requests/<int:pk>/close/", views.subject_request_close,
         name="subject_request_close"),
    path("contacts/<int:pk>/subject-requests/", views.contact_subject_request_add,
         name="contact_subject_request_add"),
]
