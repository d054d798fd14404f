from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.shortcuts import redirect
from django.utils.translation import gettext_lazy as _

from core import events
from security import masking
from security.models import ExportRequest, FieldPolicy, FieldReveal, Team, User


class MemberInline(admin.TabularInline):
    model = User
    fk_name = "team"
    fields = ["username", "first_name", "last_name", "is_active"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True
    verbose_name_plural = _("members")

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "head", "time_zone"]
    search_fields = ["name"]
    inlines = [MemberInline]

    # A sales head sees the deals of the teams they head: the former head's open sockets
    # check their deals again.
    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if change and "head" in form.changed_data:
            for user_id in {form.initial.get("head"), obj.head_id} - {None}:
                events.access_changed(user_id=user_id)


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = ["username", "get_full_name", "role_label", "team", "is_active"]
    list_filter = ["groups", "team", "is_active"]
    fieldsets = DjangoUserAdmin.fieldsets + (
        (_("Team and telephony"), {"fields": ["team", "phone_extension"]}),
    )
    add_fieldsets = DjangoUserAdmin.add_fieldsets + (
        (_("Team and role"), {"fields": ["team", "groups"]}),
    )

    actions = ["offboard"]

    # What a user sees follows their role (the group), their account and their team: a
    # change of any makes their open sockets check the session and their deals again.
    ACCESS_FIELDS = {"groups", "is_active", "is_superuser", "team", "user_permissions"}

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)  # the groups are saved here
        if change and self.ACCESS_FIELDS & set(form.changed_data):
            events.access_changed(user_id=form.instance.pk)

    @admin.display(description=_("role"))
    def role_label(self, obj):
        return obj.role_label

    @admin.action(description=_("Offboard the selected employee…"))
    def offboard(self, request, queryset):
        """Offboarding has its own page (preview, successor, time, report): go there."""
        if queryset.count() != 1:
            self.message_user(request, _("Offboard one employee at a time."),
                              level=messages.WARNING)
            return None
        return redirect("user_offboard", pk=queryset.get().pk)


@admin.register(FieldPolicy)
class FieldPolicyAdmin(admin.ModelAdmin):
    """How each role sees phones and e-mails. Roles without a row keep the defaults of
    security.masking.DEFAULT_POLICY."""

    list_display = ["role", "field", "mode"]
    list_editable = ["mode"]
    list_filter = ["role", "field"]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        masking.policy_changed()

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        masking.policy_changed()

    def delete_queryset(self, request, queryset):
        super().delete_queryset(request, queryset)
        masking.policy_changed()

    def save_formset(self, request, form, formset, change):
        super().save_formset(request, form, formset, change)
        masking.policy_changed()

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context)
        if request.method == "POST":  # list_editable saves through here
            masking.policy_changed()
        return response


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records kept as evidence: visible to the admin, never edited or deleted here."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(FieldReveal)
class FieldRevealAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "user", "field", "contact", "reason", "ip"]
    list_filter = ["field"]
    search_fields = ["user__username", "reason"]
    date_hierarchy = "created_at"


@admin.register(ExportRequest)
class ExportRequestAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "user", "resource", "format", "status", "row_count", "capped"]
    list_filter = ["status", "resource", "format"]
    search_fields = ["user__username"]
    date_hierarchy = "created_at"
    exclude = ["file_path"]
