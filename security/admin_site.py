from django.contrib import admin
from django.contrib.admin.apps import AdminConfig

from security import roles


class CrmAdminSite(admin.AdminSite):
    """The Django admin is for the admin role only: staff status alone is not enough, so a
    sales head or a security officer flagged as staff by mistake still gets no admin."""

    site_header = "CRM"

    def has_permission(self, request):
        user = request.user
        return bool(user.is_active and user.is_staff and user.role == roles.ADMIN)


class CrmAdminConfig(AdminConfig):
    default_site = "security.admin_site.CrmAdminSite"
