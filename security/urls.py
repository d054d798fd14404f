"""HTML routes of the security features (exports, the console, users). Each feature adds its
own paths here; views live in security/views/<feature>.py."""

from django.urls import path

from security.views import console, exports, incidents, two_factor, users

urlpatterns: list = [
    path("security/incidents/", incidents.incident_list, name="incident_list"),
    path("security/incidents/open/", incidents.incident_open, name="incident_open"),
    path("security/incidents/<int:pk>/", incidents.incident_detail, name="incident_detail"),
    path("security/incidents/<int:pk>/action/", incidents.incident_action,
         name="incident_action"),
    path("security/incidents/<int:pk>/notification.txt", incidents.incident_notification,
         name="incident_notification"),
    path("account/two-factor/", two_factor.two_factor, name="two_factor"),
    path("exports/", exports.export_create, name="export_create"),
    path("exports/<uuid:export_id>/", exports.export_detail, name="export_detail"),
    path(
        "exports/<uuid:export_id>/download/", exports.export_download, name="export_download"
    ),
    # The security console (security/views/console.py).
    path("security/", console.console_home, name="security_home"),
    path("security/alerts/", console.alert_list, name="security_alert_list"),
    path("security/alerts/<int:pk>/", console.alert_detail, name="security_alert_detail"),
    path("security/alerts/<int:pk>/assign/", console.alert_assign,
         name="security_alert_assign"),
    path("security/alerts/<int:pk>/resolve/", console.alert_resolve,
         name="security_alert_resolve"),
    path("security/alerts/<int:pk>/evidence/", console.alert_evidence,
         name="security_alert_evidence"),
    path("security/access-log/", console.access_log, name="security_access_log"),
    path("security/access-log/export/", console.access_log_export,
         name="security_access_log_export"),
    path("security/rules/", console.rule_list, name="security_rule_list"),
    path("security/rules/<slug:code>/", console.rule_edit, name="security_rule_edit"),
    # The admin's user list and offboarding (the security officer: the list and reinstating).
    path("security/users/", users.user_list, name="user_list"),
    path("security/users/<int:pk>/offboard/", users.user_offboard, name="user_offboard"),
    path("security/users/<int:pk>/reinstate/", users.user_reinstate, name="user_reinstate"),
    path("security/offboardings/<int:pk>/", users.offboarding_detail,
         name="offboarding_detail"),
    path("security/offboardings/<int:pk>/cancel/", users.offboarding_cancel,
         name="offboarding_cancel"),
]
