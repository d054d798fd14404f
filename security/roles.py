"""Roles are Django groups; this module is the one place that says what each role may do.

The groups and their permissions are (re)set after every migration, so a deployment always
matches the code: a permission added to a group by hand, or removed from this list, is gone
after the next migration (least privilege is decided here, in review, not in the admin).
"""

from django.utils.translation import gettext_lazy as _

MANAGER = "manager"
SALES_HEAD = "sales_head"
MARKETER = "marketer"
SUPPORT = "support"
SECURITY_OFFICER = "security_officer"
ADMIN = "admin"

ROLE_LABELS = {
    MANAGER: _("Manager"),
    SALES_HEAD: _("Sales head"),
    MARKETER: _("Marketer"),
    SUPPORT: _("Support"),
    SECURITY_OFFICER: _("Security officer"),
    ADMIN: _("Administrator"),
}
ROLES = tuple(ROLE_LABELS)

# Permissions as "app_label.codename". Object visibility is a separate rule (selectors);
# these say which kinds of action a role may take at all.
_WORK_WITH_DEALS = [
    "crm.view_deal", "crm.add_deal", "crm.change_deal",
    "crm.view_contact", "crm.add_contact", "crm.change_contact",
    "crm.view_company", "crm.add_company", "crm.change_company",
    "crm.view_task", "crm.add_task", "crm.change_task",
    "crm.view_note", "crm.add_note",
]
ROLE_PERMISSIONS: dict[str, list[str]] = {
    MANAGER: _WORK_WITH_DEALS,
    SALES_HEAD: _WORK_WITH_DEALS + ["crm.reassign_deal", "crm.export_deals"],
    MARKETER: ["crm.view_contact", "crm.view_company"],
    SUPPORT: ["crm.view_contact", "crm.view_company"],
    # The security console (security/views/console.py): alerts to triage, the access log, and
    # the anomaly rules' settings, which only the officer changes. No client data at all.
    SECURITY_OFFICER: [
        "security.view_alert", "security.change_alert", "security.view_accessrecord",
        "security.view_rulesetting", "security.add_rulesetting", "security.change_rulesetting",
    ],
    ADMIN: _WORK_WITH_DEALS
    + [
        "crm.reassign_deal", "crm.export_deals", "crm.delete_deal", "crm.delete_contact",
        "crm.delete_company", "crm.add_pipeline", "crm.change_pipeline", "crm.add_stage",
        "crm.change_stage", "security.add_team", "security.change_team", "security.view_team",
        "security.view_user", "security.add_user", "security.change_user",
        "security.view_fieldpolicy", "security.add_fieldpolicy", "security.change_fieldpolicy",
        "security.delete_fieldpolicy", "security.view_fieldreveal",
        "security.view_exportrequest",
        # The security console beside the officer: alerts (and their triage), the access log
        # and the rules, read-only. The evidence export stays the officer's alone.
        "security.view_alert", "security.change_alert", "security.view_accessrecord",
        "security.view_rulesetting",
        # The inbox's set-up: channels and their mailboxes, canned replies, and the raw
        # deliveries to retry.
        "inbox.view_channel", "inbox.add_channel", "inbox.change_channel",
        "inbox.view_mailbox", "inbox.add_mailbox", "inbox.change_mailbox",
        "inbox.view_cannedreply", "inbox.add_cannedreply", "inbox.change_cannedreply",
        "inbox.delete_cannedreply", "inbox.view_inboundevent",
        # Telephony's set-up: PBX accounts with their lines and extensions, the PBX's requests
        # as received (to retry), and the calls, read-only.
        "telephony.view_pbxaccount", "telephony.add_pbxaccount", "telephony.change_pbxaccount",
        "telephony.view_pbxline", "telephony.add_pbxline", "telephony.change_pbxline",
        "telephony.delete_pbxline", "telephony.view_extension", "telephony.add_extension",
        "telephony.change_extension", "telephony.delete_extension",
        "telephony.view_callevent", "telephony.view_call",
        # Consents' set-up: purposes and their texts, the forms' sites, the production
        # calendar, retention; the ledger and the requests read-only.
        "consents.view_purpose", "consents.add_purpose", "consents.change_purpose",
        "consents.view_purposetext", "consents.add_purposetext",
        "consents.view_consentsite", "consents.add_consentsite", "consents.change_consentsite",
        "consents.view_calendarday", "consents.add_calendarday", "consents.change_calendarday",
        "consents.delete_calendarday", "consents.view_retentionrule",
        "consents.add_retentionrule", "consents.change_retentionrule",
        "consents.view_consentevent", "consents.view_subjectrequest",
    ],
}


def sync_role_groups(sender=None, **kwargs):
    from django.contrib.auth.models import Group, Permission

    if sender is not None and sender.label != "security":
        return
    for role, perms in ROLE_PERMISSIONS.items():
        group, _created = Group.objects.get_or_create(name=role)
        wanted = []
        for perm in perms:
            app_label, codename = perm.split(".")
            wanted.append(
                Permission.objects.get(content_type__app_label=app_label, codename=codename)
            )
        group.permissions.set(wanted)
