"""Forms of the privacy center (public pages) and of the staff action that sends a link."""

from django import forms
from django.utils.translation import gettext_lazy as _

from consents.models import SubjectRequest


class WithdrawForm(forms.Form):
    purpose = forms.SlugField(max_length=50)


class SubjectRequestForm(forms.Form):
    # The client asks for these two here; access is the page itself, withdrawal its button.
    KINDS = [
        (SubjectRequest.Kind.RECTIFICATION.value, _("Correct my data")),
        (SubjectRequest.Kind.ERASURE.value, _("Erase my data")),
    ]

    kind = forms.ChoiceField(label=_("What do you ask for?"), choices=KINDS,
                             widget=forms.RadioSelect)
    details = forms.CharField(
        label=_("Details"), max_length=5000, required=False,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text=_("For a correction, say what is wrong and what is right."),
    )

    def clean(self):
        cleaned = super().clean()
        if (cleaned.get("kind") == SubjectRequest.Kind.RECTIFICATION
                and not cleaned.get("details", "").strip()):
            self.add_error("details", _("Say what to correct."))
        return cleaned


class PrivacyLinkForm(forms.Form):
    via = forms.ChoiceField(label=_("Send the link"), widget=forms.RadioSelect)

    def __init__(self, *args, routes: list[tuple[str, str]], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["via"].choices = routes
