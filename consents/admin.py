"""The consents' settings pages (admin role): purposes and their consent texts (a published
text is never edited: a new wording is a new version), the website forms' sites, the
production calendar, the retention rules; the ledger and the requests read-only (they change
through their services only)."""

from django.contrib import admin

from consents.models import (
    CalendarDay,
    ConsentEvent,
    ConsentSite,
    Purpose,
    PurposeText,
    RetentionRule,
    SubjectRequest,
)
from security.admin import ReadOnlyAdmin


class PurposeTextInline(admin.TabularInline):
    model = PurposeText
    extra = 0
    fields = ["version", "text", "sha256", "published_at"]
    readonly_fields = ["sha256", "published_at"]

    # New versions are added here; published ones are shown, never edited.
    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Purpose)
class PurposeAdmin(admin.ModelAdmin):
    list_display = ["title", "code", "legal_basis", "is_advertising", "retention_days",
                    "is_active"]
    list_filter = ["legal_basis", "is_active"]
    inlines = [PurposeTextInline]


@admin.register(ConsentSite)
class ConsentSiteAdmin(admin.ModelAdmin):
    list_display = ["name", "team", "double_opt_in", "is_active"]


@admin.register(CalendarDay)
class CalendarDayAdmin(admin.ModelAdmin):
    list_display = ["date", "is_working", "name"]
    date_hierarchy = "date"


@admin.register(RetentionRule)
class RetentionRuleAdmin(admin.ModelAdmin):
    list_display = ["data_type", "days", "action", "is_active"]


@admin.register(ConsentEvent)
class ConsentEventAdmin(ReadOnlyAdmin):
    list_display = ["seq", "at", "contact_id", "purpose_id", "kind", "source", "text_version"]
    list_filter = ["kind", "source"]


@admin.register(SubjectRequest)
class SubjectRequestAdmin(ReadOnlyAdmin):
    list_display = ["pk", "kind", "contact_id", "status", "received_at", "due_date", "extended"]
    list_filter = ["kind", "status"]
