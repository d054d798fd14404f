"""What every app's forms share."""

from django import forms
from django.core.exceptions import ValidationError
from django.forms.renderers import DjangoTemplates, Jinja2
from django.template import TemplateDoesNotExist
from django.utils.functional import cached_property


class WidgetRenderer(DjangoTemplates):
    """Form widgets through Django's Jinja2 copies of its own widget templates, the same HTML
    in half the time (the deal card's dozen fields and 85 options: 17 ms, 8 with Jinja2);
    widgets that have Django templates only (the admin's) through Django's, as before."""

    @cached_property
    def jinja2(self):
        return Jinja2()

    def get_template(self, template_name):
        try:
            return self.jinja2.get_template(template_name)
        except TemplateDoesNotExist:
            return super().get_template(template_name)


def apply_service_errors(form: forms.Form, error: ValidationError) -> None:
    """Show a service's ValidationError next to the fields it names, else above the form."""
    if hasattr(error, "error_dict"):
        for field, errors in error.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, error.messages)
