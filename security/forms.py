"""Forms of the security pages: offboarding, and the security console. They parse and check
input; selectors read, services (security.offboarding, security.audit.alerts, security.audit.rules)
write."""

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from security import selectors
from security.audit import rules
from security.audit.alerts import rule_title
from security.models import AccessRecord, Alert, RuleSetting
from security.offboarding import successor_candidates

DATETIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d"]


def _datetime_field(label):
    return forms.DateTimeField(
        label=label, required=False, input_formats=DATETIME_FORMATS,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )


def rule_choices():
    return [(code, rule_title(code)) for code in rules.RULES]


class AlertFilterForm(forms.Form):
    status = forms.ChoiceField(label=_("Status"), required=False)
    rule = forms.ChoiceField(label=_("Rule"), required=False)
    user = forms.TypedChoiceField(label=_("User"), required=False, coerce=int,
                                  empty_value=None)

    def __init__(self, data, *, user):
        super().__init__(data)
        self.fields["status"].choices = [("", _("Any status"))] + list(Alert.Status.choices)
        self.fields["rule"].choices = [("", _("Any rule"))] + rule_choices()
        self.fields["user"].choices = [("", _("Anyone"))] + [
            (u.pk, f"{u.username} ({u})" if str(u) != u.username else u.username)
            for u in selectors.alerted_users(user)[:300]
        ]

    def filters(self) -> selectors.AlertFilters:
        # A bad value (a stale link) drops that filter, not the whole list.
        self.is_valid()
        data = self.cleaned_data
        return selectors.AlertFilters(status=data.get("status") or "",
                                      rule=data.get("rule") or "", user=data.get("user"))

    @property
    def is_filtered(self) -> bool:
        data = getattr(self, "cleaned_data", {})
        return any(data.get(name) for name in ("status", "rule", "user"))


class AlertAssignForm(forms.Form):
    prefix = "assign"

    assignee = forms.ModelChoiceField(label=_("Assign to"), queryset=None, required=False,
                                      empty_label=_("— nobody —"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = selectors.triage_assignees()
        self.fields["assignee"].label_from_instance = (
            lambda u: f"{u} ({u.role_label})")


class AlertResolveForm(forms.Form):
    prefix = "resolve"

    RESOLVED, FALSE_POSITIVE = "resolved", "false_positive"

    outcome = forms.ChoiceField(
        label=_("Outcome"), widget=forms.RadioSelect, initial=RESOLVED,
        choices=[(RESOLVED, _("Resolved: the alert was real and has been dealt with")),
                 (FALSE_POSITIVE, _("False positive: nothing wrong happened"))],
    )
    comment = forms.CharField(
        label=_("Comment"), max_length=4000,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("What was found and what was done. Required."),
    )
    reinstate = forms.BooleanField(
        label=_("Reinstate the account"), required=False,
        help_text=_("The rule suspended the account; it becomes active again (the user logs "
                    "in anew)."),
    )

    def __init__(self, *args, alert: Alert, **kwargs):
        super().__init__(*args, **kwargs)
        if not alert.suspended:
            del self.fields["reinstate"]


class AccessLogFilterForm(forms.Form):
    user = forms.CharField(label=_("User"), required=False, max_length=150,
                           help_text=_("Username or id"))
    contact = forms.IntegerField(label=_("Client (contact id)"), required=False, min_value=1)
    action = forms.ChoiceField(label=_("Action"), required=False)
    since = _datetime_field(_("From"))
    until = _datetime_field(_("To"))

    def __init__(self, data):
        super().__init__(data)
        self.fields["action"].choices = [("", _("Any action"))] + list(
            AccessRecord.Action.choices)

    def clean(self):
        data = super().clean()
        since, until = data.get("since"), data.get("until")
        if since and until and since > until:
            self.add_error("until", _("The end is before the start."))
        return data

    def filters(self) -> selectors.AccessFilters:
        self.is_valid()
        data = self.cleaned_data
        return selectors.AccessFilters(
            user=(data.get("user") or "").strip(), contact=data.get("contact"),
            action=data.get("action") or "", since=data.get("since"),
            until=data.get("until"),
        )

    @property
    def is_filtered(self) -> bool:
        data = getattr(self, "cleaned_data", {})
        return any(data.get(name) for name in ("user", "contact", "action", "since", "until"))


class RuleSettingForm(forms.Form):
    enabled = forms.BooleanField(label=_("Enabled"), required=False)
    threshold = forms.IntegerField(label=_("Threshold"), min_value=1,
                                   max_value=rules.MAX_THRESHOLD)
    window_minutes = forms.IntegerField(label=_("Window, minutes"), min_value=1,
                                        max_value=rules.MAX_WINDOW_MINUTES)
    response = forms.ChoiceField(label=_("Response"), choices=RuleSetting.Response.choices,
                                 widget=forms.RadioSelect)


class SuccessorChoiceField(forms.ModelChoiceField):
    leaver = None  # set by the form: a successor of another team is marked

    def label_from_instance(self, user):
        team = f", {user.team}" if user.team_id else ""
        label = f"{user} ({user.role_label}{team})"
        if self.leaver is not None and user.team_id != self.leaver.team_id:
            label += " — " + str(_("another team"))
        return label


class OffboardForm(forms.Form):
    NOW, AT = "now", "at"

    successor = SuccessorChoiceField(
        queryset=None, label=_("Successor"),
        help_text=_("Takes over the deals, contacts, companies, open tasks, conversations and "
                    "PBX extensions."),
    )
    when = forms.ChoiceField(
        label=_("When"), choices=[(NOW, _("Now")), (AT, _("At a set date and time"))],
        initial=NOW, widget=forms.RadioSelect,
    )
    at = forms.DateTimeField(
        label=_("Date and time"), required=False, input_formats=["%Y-%m-%dT%H:%M"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text=_("The employee's last day: access ends and the records move at this time."),
    )

    def __init__(self, *args, leaver, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["successor"].queryset = successor_candidates(user=leaver)
        self.fields["successor"].leaver = leaver

    def clean(self):
        data = super().clean()
        if data.get("when") == self.AT and not data.get("at"):
            self.add_error("at", _("Give the date and time."))
        return data

    def at_value(self):
        return self.cleaned_data.get("at") if self.cleaned_data.get("when") == self.AT else None

    def add_service_errors(self, error: ValidationError) -> None:
        """The service's errors next to their fields; those of no field of the form on top."""
        if not hasattr(error, "error_dict"):
            self.add_error(None, error)
            return
        for field, messages in error.message_dict.items():
            self.add_error(field if field in self.fields else None, messages)
