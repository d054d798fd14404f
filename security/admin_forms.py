"""Admin forms for settings that hold secrets (a bot token, a PBX's key and salt)."""

from django import forms
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _


def secret_field(label, help_text="") -> forms.CharField:
    """A secret is typed, never shown again: the field starts empty every time."""
    keep = _("Leave empty to keep the current value.")
    return forms.CharField(label=label, required=False,
                           widget=forms.PasswordInput(render_value=False),
                           help_text=format_lazy("{} {}", help_text, keep) if help_text
                           else keep)


class KeepSecretsForm(forms.ModelForm):
    """A ModelForm whose `secret_fields` (made with `secret_field`) keep the stored value
    when left empty."""

    secret_fields: tuple[str, ...] = ()

    def clean(self):
        cleaned = super().clean()
        for secret in self.secret_fields:
            if not cleaned.get(secret) and self.instance.pk:
                cleaned[secret] = getattr(self.instance, secret)
                setattr(self.instance, secret, cleaned[secret])
        return cleaned
