from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.utils.translation import gettext_lazy as _

from security.models import Team, User


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
    list_display = ["name", "head"]
    search_fields = ["name"]
    inlines = [MemberInline]


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

    @admin.display(description=_("role"))
    def role_label(self, obj):
        return obj.role_label
