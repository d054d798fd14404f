"""Forms of the HTML UI: they parse and check input; the services do the writing.

Choice fields take their querysets from the selectors, so a user can only pick a contact,
company or stage they may see (a forged id is "not one of the available choices").
"""

from decimal import Decimal, InvalidOperation

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm import selectors, services
from crm.models import Contact, Deal
from security import masking

# Long pickers are cut to this many options (plus the current value) to keep pages fast.
MAX_PICKER_OPTIONS = 300

SORT_LABELS = {
    "activity": _("Last activity"),
    "amount": _("Amount"),
    "created": _("Newest"),
    "close": _("Expected close"),
}


def _limit_picker(field: forms.ModelChoiceField, current=None) -> None:
    """Render at most MAX_PICKER_OPTIONS options; validation still uses the whole queryset."""
    objects = list(field.queryset[:MAX_PICKER_OPTIONS])
    if current is not None and current not in objects:
        objects.insert(0, current)
    blank = [] if field.empty_label is None else [("", field.empty_label)]
    field.widget.choices = blank + [(o.pk, str(o)) for o in objects]


def _people(user):
    """Staff the user may give a deal or a task to (the services check the same rule)."""
    return selectors.assignable_users(user=user).order_by("first_name", "last_name", "pk")


def _lines(value: str) -> list[str]:
    return [line.strip() for line in (value or "").splitlines() if line.strip()]


class MoneyField(forms.DecimalField):
    """Accepts "150 000", "150 000,50" and "150000.50" alike."""

    def to_python(self, value):
        if isinstance(value, str):
            value = value.replace("\u00a0", "").replace("\u202f", "").replace(" ", "")
            value = value.replace(",", ".")
        return super().to_python(value)


def _money_initial(amount) -> str:
    try:
        value = Decimal(amount)
    except (InvalidOperation, TypeError):
        return ""
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


# --- Deals -----------------------------------------------------------------------------------


class DealFilterForm(forms.Form):
    q = forms.CharField(label=_("Search"), required=False, max_length=100)
    status = forms.ChoiceField(label=_("Status"), required=False)
    stage = forms.TypedChoiceField(label=_("Stage"), required=False, coerce=int, empty_value=None)
    owner = forms.TypedChoiceField(label=_("Owner"), required=False, coerce=int, empty_value=None)
    sort = forms.ChoiceField(label=_("Sort by"), required=False)

    def __init__(self, data, *, user, pipeline):
        super().__init__(data)
        self.fields["q"].widget.attrs.update(
            {"type": "search", "placeholder": _("Title, contact or company")}
        )
        self.fields["status"].choices = [("", _("Any status"))] + list(Deal.Status.choices)
        self.fields["stage"].choices = [("", _("Any stage"))] + [
            (s.pk, s.name) for s in selectors.pipeline_stages(pipeline=pipeline)
        ]
        self.fields["sort"].choices = [
            (key, SORT_LABELS.get(key, key)) for key in selectors.DEAL_SORTS
        ]
        if selectors.user_can_see_owner_filter(user):
            self.fields["owner"].choices = [("", _("Anyone"))] + [
                (u.pk, str(u)) for u in selectors.deal_owner_choices(user=user)
            ]
        else:
            del self.fields["owner"]

    def filters(self) -> selectors.DealFilters:
        # A bad value in one field (a stale link) drops that filter, not the whole list.
        self.is_valid()
        data = self.cleaned_data
        return selectors.DealFilters(
            q=data.get("q") or "",
            status=data.get("status") or "",
            stage=data.get("stage"),
            owner=data.get("owner"),
            sort=data.get("sort") or "activity",
        )

    @property
    def is_filtered(self) -> bool:
        data = getattr(self, "cleaned_data", {})
        return any(data.get(name) for name in ("q", "status", "stage", "owner"))


class DealForm(forms.Form):
    title = forms.CharField(label=_("Title"), max_length=200)
    amount = MoneyField(
        label=_("Amount"), required=False, min_value=0, max_digits=14, decimal_places=2,
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
    )
    currency = forms.ChoiceField(label=_("Currency"), choices=Deal.Currency.choices)
    stage = forms.ModelChoiceField(label=_("Stage"), queryset=None, empty_label=None)
    contact = forms.ModelChoiceField(
        label=_("Contact"), queryset=None, required=False, empty_label=_("— none —")
    )
    company = forms.ModelChoiceField(
        label=_("Company"), queryset=None, required=False, empty_label=_("— none —"),
        help_text=_("Taken from the contact when left empty."),
    )
    next_step = forms.CharField(label=_("Next step"), max_length=300, required=False)
    expected_close = forms.DateField(
        label=_("Expected close"), required=False, widget=forms.DateInput(attrs={"type": "date"}),
    )
    owner = forms.ModelChoiceField(label=_("Owner"), queryset=None, empty_label=None)

    def __init__(self, *args, user, pipeline, deal: Deal | None = None, **kwargs):
        if deal is not None and "initial" not in kwargs:
            kwargs["initial"] = {
                "title": deal.title, "amount": _money_initial(deal.amount),
                "currency": deal.currency, "stage": deal.stage_id, "contact": deal.contact_id,
                "company": deal.company_id, "next_step": deal.next_step,
                "expected_close": deal.expected_close, "owner": deal.owner_id,
            }
        super().__init__(*args, **kwargs)
        self.fields["stage"].queryset = selectors.pipeline_stages(pipeline=pipeline)
        # Only records the user may change can be linked (the services check the same);
        # the deal's current ones stay acceptable.
        self.fields["contact"].queryset = selectors.with_current(
            selectors.contacts_editable_by(user), deal.contact if deal else None
        )
        self.fields["company"].queryset = selectors.with_current(
            selectors.companies_editable_by(user), deal.company if deal else None
        )
        _limit_picker(self.fields["contact"], deal.contact if deal else None)
        _limit_picker(self.fields["company"], deal.company if deal else None)
        if user.has_perm("crm.reassign_deal"):
            self.fields["owner"].queryset = selectors.with_current(
                selectors.owner_candidates(user=user), deal.owner if deal else user
            ).order_by("first_name", "last_name", "pk")
            _limit_picker(self.fields["owner"], deal.owner if deal else user)
            self.initial.setdefault("owner", user.pk)
        else:
            del self.fields["owner"]

    def clean_amount(self):
        return self.cleaned_data["amount"] or Decimal("0")


class DealMoveForm(forms.Form):
    stage = forms.ModelChoiceField(label=_("Stage"), queryset=None, empty_label=None)

    def __init__(self, *args, deal: Deal, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["stage"].queryset = selectors.pipeline_stages(pipeline=deal.pipeline)


class DealStatusForm(forms.Form):
    status = forms.ChoiceField(label=_("Status"), choices=Deal.Status.choices)
    loss_reason = forms.CharField(label=_("Loss reason"), max_length=300, required=False)


class NoteForm(forms.Form):
    text = forms.CharField(
        label=_("Note"), max_length=10_000,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": _("Write a note for the team…")}),
    )


class TaskForm(forms.Form):
    title = forms.CharField(label=_("Task"), max_length=300)
    due_at = forms.DateTimeField(
        label=_("Due"), required=False, input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    assignee = forms.ModelChoiceField(label=_("Assignee"), queryset=None, empty_label=None)

    def __init__(self, *args, user, deal: Deal, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = _people(user)
        self.initial.setdefault("assignee", deal.owner_id)
        # The browser's picker starts at now; the service refuses a date in the past anyway.
        self.fields["due_at"].widget.attrs["min"] = timezone.localtime().strftime(
            "%Y-%m-%dT%H:%M")


# --- Contacts and companies ------------------------------------------------------------------


class ContactForm(forms.Form):
    name = forms.CharField(label=_("Full name"), max_length=200)
    position = forms.CharField(label=_("Position"), max_length=150, required=False)
    company = forms.ModelChoiceField(
        label=_("Company"), queryset=None, required=False, empty_label=_("— none —")
    )
    phones = forms.CharField(
        label=_("Phones"), required=False, help_text=_("One number per line."),
        widget=forms.Textarea(attrs={"rows": 2, "autocomplete": "off"}),
    )
    emails = forms.CharField(
        label=_("E-mails"), required=False, help_text=_("One address per line."),
        widget=forms.Textarea(attrs={"rows": 2, "autocomplete": "off"}),
    )
    source = forms.ChoiceField(label=_("Source"), choices=Contact.Source.choices)
    tags = forms.CharField(
        label=_("Tags"), required=False, max_length=500, help_text=_("Separated by commas."),
    )

    remove_points = forms.MultipleChoiceField(
        label=_("Remove"), required=False, widget=forms.CheckboxSelectMultiple,
    )

    def __init__(self, *args, user, contact: Contact | None = None, **kwargs):
        # Existing phones and e-mails are never put into the form in full: the user sees
        # them as the field policy shows them, may remove them, and types only new ones.
        if contact is not None and "initial" not in kwargs:
            kwargs["initial"] = {
                "name": contact.name, "position": contact.position,
                "company": contact.company_id, "source": contact.source,
                "tags": ", ".join(t.name for t in contact.tags.all()),
            }
        super().__init__(*args, **kwargs)
        self.fields["company"].queryset = selectors.with_current(
            selectors.companies_editable_by(user), contact.company if contact else None
        )
        _limit_picker(self.fields["company"], contact.company if contact else None)
        if contact is None:
            del self.fields["remove_points"]
        else:
            self.fields["phones"].label = _("Add phones")
            self.fields["emails"].label = _("Add e-mails")
            self.fields["remove_points"].choices = [
                (str(p.id), p.display) for p in masking.present_points(user=user, contact=contact)
            ]

    def clean_remove_points(self):
        return [int(value) for value in self.cleaned_data["remove_points"]]

    def clean_phones(self):
        lines = _lines(self.cleaned_data["phones"])
        errors = []
        for line in lines:
            try:
                services.phone_normalize(line)
            except ValidationError as e:
                errors.extend(e.messages)
        if errors:
            raise ValidationError(errors)
        return lines

    def clean_emails(self):
        lines = _lines(self.cleaned_data["emails"])
        errors = []
        for line in lines:
            try:
                services.email_normalize(line)
            except ValidationError:
                errors.append(
                    ValidationError(
                        _("“%(value)s” is not a valid e-mail address."), params={"value": line}
                    )
                )
        if errors:
            raise ValidationError(errors)
        return lines

    def clean_tags(self):
        return [t.strip() for t in self.cleaned_data["tags"].split(",") if t.strip()]


class CompanyForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=200)
    inn = forms.RegexField(
        label=_("INN"), required=False, regex=r"^(\d{10}|\d{12})$",
        error_messages={"invalid": _("An INN has 10 or 12 digits.")},
        widget=forms.TextInput(attrs={"inputmode": "numeric"}),
    )
    industry = forms.CharField(label=_("Industry"), max_length=100, required=False)
    website = forms.URLField(label=_("Website"), required=False, assume_scheme="https")
    address = forms.CharField(label=_("Address"), max_length=300, required=False)

    def __init__(self, *args, company=None, **kwargs):
        if company is not None and "initial" not in kwargs:
            kwargs["initial"] = {
                f: getattr(company, f) for f in ("name", "inn", "industry", "website", "address")
            }
        super().__init__(*args, **kwargs)
