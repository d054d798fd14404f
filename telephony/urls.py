"""Telephony's pages in the app (the PBX webhooks are core/webhooks.py's, under /hooks/)."""

from django.urls import path

from telephony.views import calls, screen_pop

urlpatterns = [
    path("deals/<int:pk>/calls/<int:call_id>/recording/", calls.recording_stream,
         name="call_recording"),
    path("deals/<int:pk>/click-to-call/", calls.click_to_call, name="click_to_call"),
    path("deals/<int:pk>/click-to-call/<int:command_id>/", calls.click_to_call_status,
         name="click_to_call_status"),
    path("calls/<int:pk>/popup/", screen_pop.call_popup, name="call_popup"),
]
