"""Telephony's settings pages (admin role): PBX accounts with their lines and extensions (the
key and salt write-only, the webhook base to give the PBX), the PBX's requests as received
(inspect, retry a failure) and the calls."""

from django import forms
from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from core import webhooks
from security.admin_forms import KeepSecretsForm, secret_field
from telephony import services
from telephony.models import Call, CallEvent, Extension, PbxAccount, PbxLine


class PbxAccountForm(KeepSecretsForm):
    """The key and the salt are written, never shown: an empty field keeps the stored value."""

    secret_fields = ("api_key", "api_salt")
    api_key = secret_field(_("API key"))
    api_salt = secret_field(_("API salt"))
    api_base_url = forms.URLField(label=_("API base URL"), required=False, assume_scheme="https",
                                  help_text=_("Empty for the provider's public API."))

    class Meta:
        model = PbxAccount
        fields = ["name", "provider", "team", "is_active", "api_key", "api_salt", "api_base_url",
                  "business_hours", "time_zone"]


class PbxLineInline(admin.TabularInline):
    model = PbxLine
    extra = 0
    fields = ["number", "name", "team"]


class ExtensionInline(admin.TabularInline):
    model = Extension
    extra = 0
    fields = ["extension", "user"]
    autocomplete_fields = []


@admin.register(PbxAccount)
class PbxAccountAdmin(admin.ModelAdmin):
    form = PbxAccountForm
    list_display = ["name", "provider", "team", "is_active"]
    list_filter = ["provider", "is_active"]
    readonly_fields = ["uuid", "webhook_base"]
    inlines = [PbxLineInline, ExtensionInline]

    def get_fields(self, request, obj=None):
        return ["uuid", "webhook_base", *self.form.Meta.fields]

    def get_form(self, request, obj=None, **kwargs):
        if obj is not None:
            obj._webhook_base = request.build_absolute_uri(
                webhooks.url_path(obj.provider, obj.uuid))
        return super().get_form(request, obj, **kwargs)

    @admin.display(description=_("webhook base URL"))
    def webhook_base(self, obj):
        if obj is None or not hasattr(obj, "_webhook_base"):
            return _("Shown once the account is saved.")
        return obj._webhook_base


@admin.register(CallEvent)
class CallEventAdmin(admin.ModelAdmin):
    list_display = ["received_at", "account", "kind", "dedupe_key", "status", "attempts"]
    list_filter = ["status", "account", "kind"]
    search_fields = ["dedupe_key"]
    date_hierarchy = "received_at"
    readonly_fields = ["account", "kind", "dedupe_key", "payload", "status", "error", "attempts",
                       "received_at", "processed_at"]
    actions = ["retry"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.action(description=_("Process the selected events again"), permissions=["view"])
    def retry(self, request, queryset):
        events = list(queryset.exclude(status__in=[CallEvent.Status.PROCESSED,
                                                   CallEvent.Status.IGNORED]))
        for event in events:
            services.event_retry(event=event)
        self.message_user(request, ngettext("%d event queued again.", "%d events queued again.",
                                            len(events)) % len(events), messages.SUCCESS)


@admin.register(Call)
class CallAdmin(admin.ModelAdmin):
    """Read-only: a call is what the PBX said happened. The client's number is not shown."""

    list_display = ["started_at", "account", "direction", "state", "answered", "talk_seconds",
                    "extension", "manager", "deal"]
    list_filter = ["direction", "state", "answered", "account"]
    list_select_related = ["account", "manager", "deal"]
    date_hierarchy = "started_at"
    fields = ["account", "entry_id", "direction", "state", "answered", "summarized",
              "started_at", "answered_at", "ended_at", "talk_seconds", "disconnect_reason",
              "line_number", "extension", "manager", "contact", "deal", "callback_task"]
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
