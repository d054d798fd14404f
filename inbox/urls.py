from django.urls import path

from inbox import webhooks

app_name = "inbox"

urlpatterns = [
    path("telegram/<uuid:channel_uuid>/", webhooks.telegram_webhook, name="telegram_webhook"),
]
