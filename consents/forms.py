from django import forms
from django.utils.translation import gettext_lazy as _

from consents.models import ConsentEvent, Purpose
from consents.selectors import purposes_needing_consent


class ConsentRecordForm(forms.Form):
    """A grant or a withdrawal recorded by a manager, with what proves it."""

    purpose = forms.ModelChoiceField(
        label=_("Purpose"), queryset=Purpose.objects.none(), to_field_name="code",
        empty_label=None)
    kind = forms.ChoiceField(label=_("What the client said"),
                             choices=ConsentEvent.Kind.choices)
    document = forms.CharField(
        label=_("Document"), max_length=300, required=False,
        help_text=_("The signed consent: its number, file or where it is kept."))
    note = forms.CharField(
        label=_("Note"), max_length=1000, required=False, widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Or how the client said it: the call, the message, the meeting."))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["purpose"].queryset = purposes_needing_consent()

    def clean(self):
        data = super().clean()
        if not (data.get("document") or "").strip() and not (data.get("note") or "").strip():
            raise forms.ValidationError(_(
                "Say what proves it: the signed document, the recorded call, the message."))
        return data
