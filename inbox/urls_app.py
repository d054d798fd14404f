"""The inbox's pages and actions in the app (the provider webhooks are in inbox/urls.py)."""

from django.urls import path

from inbox import attachments_views, views

urlpatterns = [
    path("conversations/", views.conversation_list, name="conversation_list"),
    path("deals/<int:pk>/conversations/<int:conversation_id>/messages/",
         views.conversation_messages, name="conversation_messages"),
    path("deals/<int:pk>/conversations/<int:conversation_id>/read/", views.conversation_read,
         name="conversation_read"),
    path("deals/<int:pk>/conversations/<int:conversation_id>/reply/", views.conversation_reply,
         name="conversation_reply"),
    path("deals/<int:pk>/messages/<int:message_id>/retry/", views.message_retry,
         name="message_retry"),
    path("deals/<int:pk>/attachments/<int:attachment_id>/", attachments_views.attachment_download,
         name="attachment_download"),
]
