"""The admin of the inbox's inbound events: inspect what a provider sent, retry a failure."""

from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from inbox import services
from inbox.models import InboundEvent


@admin.register(InboundEvent)
class InboundEventAdmin(admin.ModelAdmin):
    list_display = ["received_at", "channel", "event_type", "provider_event_id", "status",
                    "attempts"]
    list_filter = ["status", "channel", "event_type"]
    search_fields = ["provider_event_id"]
    date_hierarchy = "received_at"
    readonly_fields = ["channel", "provider_event_id", "event_type", "payload", "status",
                       "error", "attempts", "received_at", "processed_at"]
    actions = ["retry"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.action(description=_("Process the selected events again"),
                  permissions=["view"])
    def retry(self, request, queryset):
        events = list(queryset.exclude(status__in=[InboundEvent.Status.PROCESSED,
                                                   InboundEvent.Status.IGNORED]))
        for event in events:
            services.event_retry(event=event)
        self.message_user(request, ngettext("%d event queued again.", "%d events queued again.",
                                            len(events)) % len(events), messages.SUCCESS)
