from django.contrib.auth.models import Group

from security import roles


def test_every_role_is_a_group_with_its_permissions(db):
    for role, perms in roles.ROLE_PERMISSIONS.items():
        group = Group.objects.get(name=role)
        granted = {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.all()}
        assert set(perms) <= granted, role


def test_a_user_has_the_role_of_their_group(anna, head_north, director, security_officer):
    assert anna.role == roles.MANAGER
    assert head_north.role == roles.SALES_HEAD
    assert director.role == roles.ADMIN
    assert security_officer.role == roles.SECURITY_OFFICER


def test_only_sales_heads_and_admins_may_export(anna, head_north, director, marketer):
    assert not anna.has_perm("crm.export_deals")
    assert not marketer.has_perm("crm.export_deals")
    assert head_north.has_perm("crm.export_deals")
    assert director.has_perm("crm.export_deals")
