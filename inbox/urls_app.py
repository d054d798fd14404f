"""The inbox's pages and actions in the app (the provider webhooks are in inbox/urls.py)."""

from django.urls import path

from inbox import views

urlpatterns = [
    path("deals/<int:pk>/conversations/<int:conversation_id>/reply/", views.conversation_reply,
         name="conversation_reply"),
    path("deals/<int:pk>/messages/<int:message_id>/retry/", views.message_retry,
         name="message_retry"),
]
