"""What a search asks, read the same way for the page and the API: a clear error for a bad
value, never a guess."""

from django import forms
from django.utils.translation import gettext_lazy as _

from core.holdings import search_sources
from core.search import MAX_QUERY
from search import services


def _kind_choices():
    return [("", _("Everything")), *services.kinds().items()]


def _channel_choices():
    choices = {}
    for source in search_sources():
        if source.channels:
            choices.update(source.channels())
    return [("", _("Any channel"))] + sorted(choices.items())


class SearchForm(forms.Form):
    q = forms.CharField(label=_("Search"), max_length=MAX_QUERY, required=False)
    kind = forms.ChoiceField(label=_("What"), choices=_kind_choices, required=False)
    channel = forms.ChoiceField(label=_("Channel"), choices=_channel_choices, required=False)
    start = forms.DateField(label=_("From"), required=False)
    end = forms.DateField(label=_("To"), required=False)
    user = forms.IntegerField(label=_("Whose"), required=False, min_value=1,
                              max_value=2**63 - 1, widget=forms.HiddenInput)
    order = forms.ChoiceField(label=_("Order"), required=False, choices=[
        (services.RECENT, _("Newest first")), (services.RELEVANCE, _("Best match first"))])
    page = forms.IntegerField(required=False, min_value=1, max_value=services.MAX_PAGE,
                              widget=forms.HiddenInput)

    def __init__(self, data=None, **kwargs):
        # The API's names for the period: ?from=&to= ("from" is a keyword in Python).
        if data is not None and ("from" in data or "to" in data):
            data = data.copy()
            data.setdefault("start", data.get("from", ""))
            data.setdefault("end", data.get("to", ""))
        super().__init__(data, **kwargs)

    def clean(self):
        data = super().clean()
        if data.get("start") and data.get("end") and data["start"] > data["end"]:
            raise forms.ValidationError(_("The period ends before it starts."))
        return data

    def filters(self) -> services.Filters:
        data = self.cleaned_data
        return services.Filters(
            kind=data.get("kind") or None, channel=data.get("channel") or None,
            start=data.get("start"), end=data.get("end"), person=data.get("user"),
            order=data.get("order") or services.RECENT)
