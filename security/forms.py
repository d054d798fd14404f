"""Forms of the security pages (offboarding)."""

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from security.offboarding import successor_candidates


class SuccessorChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, user):
        team = f", {user.team}" if user.team_id else ""
        return f"{user} ({user.role_label}{team})"


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
