"""Model fields whose values are encrypted in the database and plain in Python."""

from django import forms
from django.core.exceptions import FieldError
from django.db import models

from core import crypto


class EncryptedTextField(models.TextField):
    """Text stored as `v1:<key id>:<ciphertext>` (core.crypto), read back as plain text.

    `purpose` is bound into every ciphertext, so a value copied from another kind of field
    does not decrypt here. The empty string and NULL are stored as they are.

    Every encryption uses a fresh nonce, so the database cannot compare values: filtering on
    the field raises FieldError instead of silently matching nothing. Give the model a blind
    index (core.crypto.blind_index) for exact lookups.
    """

    description = "Text encrypted at rest"

    def __init__(self, *args, purpose: str, **kwargs):
        self.purpose = purpose
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        kwargs["purpose"] = self.purpose
        return name, path, args, kwargs

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return crypto.encrypt(value, self.purpose)

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return value
        return crypto.decrypt(value, self.purpose)

    def get_lookup(self, lookup_name):
        if lookup_name == "isnull":
            return super().get_lookup(lookup_name)
        raise FieldError(
            f"{self.model.__name__}.{self.name} is encrypted and cannot be filtered with "
            f"__{lookup_name}; look it up through its blind index"
        )

    def formfield(self, **kwargs):
        # One line of text, not the textarea a TextField gets.
        return super().formfield(**{"form_class": forms.CharField, "widget": None, **kwargs})
