"""The inbox's pages and actions in the app (the provider webhooks are core/webhooks.py's)."""

from django.urls import path

from inbox import attachments_views, campaign_views, views

urlpatterns = [
    path("campaigns/", campaign_views.campaign_list, name="campaign_list"),
    path("campaigns/new/", campaign_views.campaign_create, name="campaign_create"),
    path("campaigns/<int:pk>/", campaign_views.campaign_detail, name="campaign_detail"),
    path("campaigns/<int:pk>/send/", campaign_views.campaign_send, name="campaign_send"),
    path("campaigns/<int:pk>/cancel/", campaign_views.campaign_cancel, name="campaign_cancel"),
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
