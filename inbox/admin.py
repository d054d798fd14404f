"""The inbox's settings pages (admin role): channels (secrets write-only, the website chat's
snippet, connecting a messenger's webhook with the provider's refusal shown, an e-mail
channel's mailbox with its connection tested), canned replies, and the inbound events as
received (inspect what a provider sent, retry a failure)."""

from django import forms
from django.contrib import admin, messages
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from core import webhooks
from inbox import services, website
from inbox.models import (
    CannedReply,
    Channel,
    InboundEvent,
    Mailbox,
    MessageTemplate,
    MessengerPolicy,
)
from inbox.providers.base import WEBHOOK_KINDS, ProviderError
from security.admin_forms import KeepSecretsForm, secret_field


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


class ChannelForm(KeepSecretsForm):
    """Secrets are written, never shown: an empty field keeps the stored value."""

    secret_fields = ("credentials", "webhook_secret", "handshake_secret")
    credentials = secret_field(_("credentials"), help_text=_(
        "Telegram and MAX: the bot token; WhatsApp: the access token; VK: the community's "
        "access token."))
    webhook_secret = secret_field(_("webhook secret"), help_text=_(
        "WhatsApp: the Meta app's secret. Telegram, MAX and VK: made on connecting when "
        "empty."))
    handshake_secret = secret_field(_("verify token or confirmation code"), help_text=_(
        "WhatsApp: the verify token given to Meta; VK: the confirmation code (filled in on "
        "connecting)."))
    api_base_url = forms.URLField(label=_("API base URL"), required=False, assume_scheme="https",
                                  help_text=_("Empty for the provider's public API."))

    class Meta:
        model = Channel
        fields = ["name", "kind", "team", "is_active", "allowed_origins", "credentials",
                  "webhook_secret", "handshake_secret", "account_id", "business_account_id",
                  "api_base_url", "business_hours", "time_zone",
                  "out_of_office_reply", "first_response_minutes"]

    def clean(self):
        cleaned = super().clean()
        for line in (cleaned.get("allowed_origins") or "").splitlines():
            line = line.strip()
            if line and website.origin_of(line) != line.rstrip("/").lower():
                self.add_error("allowed_origins", _(
                    "%(line)s is not a site origin such as https://shop.example or "
                    "http://localhost:8000 (no path).") % {"line": line[:100]})
        return cleaned


class MailboxForm(KeepSecretsForm):
    secret_fields = ("password",)
    password = secret_field(_("password"), help_text=_(
        "The mailbox's password, or an app password where the mail service asks for one "
        "(Yandex, mail.ru, Gmail)."))

    class Meta:
        model = Mailbox
        fields = ["server", "address", "username", "password", "imap_host", "imap_port",
                  "imap_security", "folder", "smtp_host", "smtp_port", "smtp_security",
                  "sent_folder"]


class MailboxInline(admin.StackedInline):
    """An e-mail channel's mailbox, shown once the channel is saved as an e-mail one."""

    model = Mailbox
    form = MailboxForm
    max_num = 1
    can_delete = False
    readonly_fields = ["state"]

    @admin.display(description=_("last read"))
    def state(self, obj):
        if obj is None or obj.checked_at is None:
            return _("Not read yet.")
        if obj.last_error:
            return format_html('{} <strong class="errornote">{}</strong>',
                               obj.checked_at.strftime("%d.%m.%Y %H:%M"), obj.last_error)
        return obj.checked_at.strftime("%d.%m.%Y %H:%M")


@admin.register(Channel)
class ChannelAdmin(admin.ModelAdmin):
    form = ChannelForm
    list_display = ["name", "kind", "team", "is_active"]
    list_filter = ["kind", "is_active"]
    readonly_fields = ["uuid", "public_key", "embed_snippet", "webhook_url"]
    actions = ["connect_webhook", "sync_templates", "test_mailbox"]

    def get_inlines(self, request, obj):
        return [MailboxInline] if obj is not None and obj.kind == Channel.Kind.EMAIL else []

    @admin.action(description=_("Test the mailbox connection (IMAP and SMTP)"),
                  permissions=["change"])
    def test_mailbox(self, request, queryset):
        from inbox.providers.base import provider_for

        for channel in queryset.filter(kind=Channel.Kind.EMAIL).select_related("mailbox"):
            if getattr(channel, "mailbox", None) is None:
                self.message_user(request, _("%(channel)s: no mailbox is set up yet.") % {
                    "channel": channel}, messages.WARNING)
                continue
            try:
                answers = provider_for(channel).test_connection()
            except ProviderError as error:
                self.message_user(request, _("%(channel)s: %(reason)s") % {
                    "channel": channel, "reason": error.message}, messages.ERROR)
            else:
                for answer in answers:
                    self.message_user(request, f"{channel}: {answer}", messages.SUCCESS)

    def _webhook_url(self, request, channel) -> str:
        return request.build_absolute_uri(webhooks.url_path(channel.kind, channel.uuid))

    @admin.display(description=_("webhook URL"))
    def webhook_url(self, obj):
        if obj is None or obj.kind not in WEBHOOK_KINDS or not hasattr(obj, "_webhook_url"):
            return "—"
        return obj._webhook_url

    @admin.action(description=_("Connect the webhook (register this CRM's URL with the "
                                "provider)"), permissions=["change"])
    def connect_webhook(self, request, queryset):
        for channel in queryset.filter(kind__in=WEBHOOK_KINDS):
            url = self._webhook_url(request, channel)
            try:
                done = services.channel_connect_webhook(channel=channel, webhook_url=url)
            except ProviderError as error:
                self.message_user(request, _("%(channel)s: the provider refused the webhook: "
                                             "%(reason)s") % {
                    "channel": channel, "reason": error.message}, messages.ERROR)
            else:
                self.message_user(request, f"{channel}: {done}", messages.SUCCESS)

    @admin.action(description=_("Sync the message templates (WhatsApp)"),
                  permissions=["change"])
    def sync_templates(self, request, queryset):
        for channel in queryset.filter(kind=Channel.Kind.WHATSAPP):
            try:
                synced = services.templates_sync(channel=channel)
            except ProviderError as error:
                self.message_user(request, _("%(channel)s: the provider refused: %(reason)s")
                                  % {"channel": channel, "reason": error.message},
                                  messages.ERROR)
            else:
                self.message_user(request, _("%(channel)s: %(count)d templates synced.") % {
                    "channel": channel, "count": synced["templates"]}, messages.SUCCESS)

    @admin.display(description=_("embed snippet"))
    def embed_snippet(self, obj):
        if obj is None or obj.kind != Channel.Kind.WEBSITE or not obj.public_key:
            return _("A website chat channel gets its snippet once saved.")
        code = website.snippet(obj, getattr(obj, "_admin_base_url", "/"))
        return format_html(
            '<textarea readonly rows="2" cols="90" onfocus="this.select()">{}</textarea>'
            '<p class="help">{}</p>', code,
            _("Add this tag to every page of the site, before </body>. Only the sites listed "
              "in the allowed site origins can use it."))

    def get_fields(self, request, obj=None):
        fields = [f for f in self.form.Meta.fields if f != "kind" or obj is None]
        return ["uuid", *fields, *(["kind"] if obj else []), "public_key", "embed_snippet",
                "webhook_url"]

    def get_readonly_fields(self, request, obj=None):
        # The kind decides what the other fields mean: it is chosen once.
        return [*self.readonly_fields, *(["kind"] if obj else [])]

    def get_form(self, request, obj=None, **kwargs):
        if obj is not None:  # the snippet names this server as the request reached it
            obj._admin_base_url = request.build_absolute_uri("/")
            obj._webhook_url = self._webhook_url(request, obj)
        return super().get_form(request, obj, **kwargs)

    def save_model(self, request, obj, form, change):
        website.channel_ensure_public_key(obj)
        super().save_model(request, obj, form, change)


@admin.register(CannedReply)
class CannedReplyAdmin(admin.ModelAdmin):
    list_display = ["title", "team"]
    list_filter = ["team"]
    search_fields = ["title", "text"]


@admin.register(MessageTemplate)
class MessageTemplateAdmin(admin.ModelAdmin):
    """As the provider approved them: synced from the channel's list, never edited here."""

    list_display = ["name", "language", "channel", "category", "status", "synced_at"]
    list_filter = ["channel", "status"]
    readonly_fields = ["channel", "name", "language", "category", "status", "body",
                       "parameters", "synced_at"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(MessengerPolicy)
class MessengerPolicyAdmin(admin.ModelAdmin):
    """One row: the organisation's switch (inbox/policy.py)."""

    list_display = ["__str__", "restrict_foreign"]

    def has_add_permission(self, request):
        return not MessengerPolicy.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False
