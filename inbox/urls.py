"""The inbox's pages and actions in the app (the provider webhooks are core/webhooks.py's)."""

from django.urls import path

from inbox.views import attachments, campaigns, conversations, mail, shortcuts

urlpatterns = [
    path("campaigns/", campaigns.campaign_list, name="campaign_list"),
    path("campaigns/new/", campaigns.campaign_create, name="campaign_create"),
    path("campaigns/<int:pk>/", campaigns.campaign_detail, name="campaign_detail"),
    path("campaigns/<int:pk>/send/", campaigns.campaign_send, name="campaign_send"),
    path("campaigns/<int:pk>/cancel/", campaigns.campaign_cancel, name="campaign_cancel"),
    path("conversations/", conversations.conversation_list, name="conversation_list"),
    path("conversations/next/", shortcuts.next_unanswered, name="conversation_next_unanswered"),
    path("deals/<int:pk>/conversations/<int:conversation_id>/messages/",
         conversations.conversation_messages, name="conversation_messages"),
    path("deals/<int:pk>/conversations/<int:conversation_id>/read/",
         conversations.conversation_read, name="conversation_read"),
    path("deals/<int:pk>/conversations/<int:conversation_id>/reply/",
         conversations.conversation_reply, name="conversation_reply"),
    path("deals/<int:pk>/messages/<int:message_id>/retry/", conversations.message_retry,
         name="message_retry"),
    path("deals/<int:pk>/attachments/<int:attachment_id>/", attachments.attachment_download,
         name="attachment_download"),
    path("deals/<int:pk>/messages/<int:message_id>/mail/", mail.mail_html, name="mail_html"),
]
