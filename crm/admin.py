"""The Django admin for CRM configuration (pipelines and stages, tags) and, for the admin
role, a read view of the records. Everyday work happens in the CRM's own pages."""

from django.contrib import admin

from core import events
from crm.models import Company, Contact, ContactPoint, Deal, Pipeline, Stage, Tag


class StageInline(admin.TabularInline):
    model = Stage
    fields = ["position", "name", "probability"]
    ordering = ["position"]
    extra = 1


@admin.register(Pipeline)
class PipelineAdmin(admin.ModelAdmin):
    list_display = ["name", "team", "is_default"]
    list_filter = ["team"]
    inlines = [StageInline]


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    search_fields = ["name"]


class ContactPointInline(admin.TabularInline):
    model = ContactPoint
    fields = ["kind", "value", "label", "is_primary"]
    extra = 0


@admin.register(Company)
class CompanyAdmin(admin.ModelAdmin):
    list_display = ["name", "inn", "industry", "owner", "team"]
    list_filter = ["team"]
    search_fields = ["name", "inn"]
    raw_id_fields = ["owner"]


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):
    list_display = ["name", "company", "owner", "team", "source"]
    list_filter = ["team", "source"]
    search_fields = ["name"]
    raw_id_fields = ["company", "owner"]
    filter_horizontal = ["tags"]
    inlines = [ContactPointInline]


@admin.register(Deal)
class DealAdmin(admin.ModelAdmin):
    list_display = ["title", "stage", "status", "amount", "currency", "owner", "team"]
    list_filter = ["status", "team", "pipeline", "stage"]
    search_fields = ["title"]
    raw_id_fields = ["contact", "company"]
    list_select_related = ["stage", "owner", "team"]
    # Status, owner and stage changes go through the CRM's pages and services, which
    # record them on the timeline; the admin shows them.
    readonly_fields = ["status", "loss_reason", "closed_at", "last_activity_at", "owner", "stage"]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if change and "team" in form.changed_data:
            # The former team's sales head may have lost the deal: its sockets check again.
            events.deal_access_changed(deal_id=obj.pk)
