"""The deal card's "Shared with" panel: share a deal with a colleague and revoke a share.

The deal comes through `crm.selectors.deal_get` first, so anyone who may not see it gets 404
whatever the route; someone who sees it but may not share it (a colleague it is shared
with, a teammate's head of another team...) gets 403.
"""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from core.forms import apply_service_errors
from core.http import query_text, wants_folded_form
from crm import selectors, sharing
from crm.forms import MAX_PICKER_OPTIONS
from security.audit import access_log
from security.audit.access_log import Action


def _colleague_label(user) -> str:
    return f"{user} ({user.team})" if user.team_id else str(user)


class DealShareForm(forms.Form):
    prefix = "share"

    user = forms.ModelChoiceField(label=gettext_lazy("Colleague"), queryset=None)
    access = forms.ChoiceField(
        label=gettext_lazy("Access"), choices=list(sharing.ACCESS_LABELS.items()),
        initial=sharing.READ, widget=forms.RadioSelect,
    )
    expires_at = forms.DateTimeField(
        label=gettext_lazy("Until"), required=False,
        help_text=gettext_lazy("Leave empty to share until revoked."),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )

    def __init__(self, *args, deal, by, q: str = "", options: int = MAX_PICKER_OPTIONS,
                 **kwargs):
        super().__init__(*args, **kwargs)
        candidates = sharing.share_candidates(deal=deal, by=by)
        # Validation takes any eligible colleague; the picker shows at most `options` of
        # them (narrowed by `q` on the sharing page) to stay fast, the rest a search away.
        self.fields["user"].queryset = candidates
        found = sharing.share_candidates_search(candidates, q)
        # The deal's team first, whom a deal is most often shared with; then anyone by name.
        shown = list(found.filter(team_id=deal.team_id)[: options + 1]) if deal.team_id else []
        if len(shown) <= options:
            shown += found.exclude(pk__in=[user.pk for user in shown])[: options + 1 - len(shown)]
        self.more_candidates = len(shown) > options
        self.fields["user"].widget.choices = [("", "---------")] + [
            (user.pk, _colleague_label(user)) for user in shown[:options]
        ]


# The card's picker: the deal's team and a few more; the sharing page finds anyone by name.
# (300 colleagues rendered into every card's folded form took a third of its time.)
CARD_OPTIONS = 30


def _sharable_deal(request, pk):
    deal = selectors.deal_get(user=request.user, pk=pk)
    if not sharing.deal_can_share(user=request.user, deal=deal):
        raise PermissionDenied(_("Only the owner, their sales head or the admin share a deal."))
    return deal


@login_required
@require_http_methods(["GET", "POST"])
def deal_shares(request, pk):
    """GET: the sharing page (the card's form with a colleague search), or with ?part=form
    the card's folded form alone, fetched when unfolded; POST: share."""
    deal = _sharable_deal(request, pk)
    if wants_folded_form(request):
        # Colleagues' names and the access choices: nothing of the client, nothing to log.
        form = DealShareForm(deal=deal, by=request.user, options=CARD_OPTIONS)
        return render(request, "crm/_deal_share_form.html", {"deal": deal, "form": form})
    q = query_text(request.GET, "q")
    form = DealShareForm(request.POST or None, deal=deal, by=request.user, q=q)
    if request.method == "POST" and form.is_valid():
        try:
            share = sharing.deal_share(deal=deal, by=request.user, **form.cleaned_data)
        except ValidationError as e:
            apply_service_errors(form, e)
        else:
            messages.success(request, _("The deal is shared with %(name)s.") % {"name": share.user})
            return redirect(f"{deal.get_absolute_url()}#shares")
    access_log.read(deal, action=Action.VIEW)  # the page names the deal and its client
    return render(request, "crm/deal_shares.html", {
        "nav": "deals",
        "deal": deal,
        "form": form,
        "q": q,
        "shares": sharing.deal_shares(deal=deal),
        "can_share": True,
    }, status=400 if form.errors else 200)


@login_required
@require_POST
def deal_share_revoke(request, pk, user_id):
    deal = _sharable_deal(request, pk)
    share = sharing.deal_share_get(deal=deal, user_id=user_id)
    sharing.deal_unshare(deal=deal, user=share.user, by=request.user)
    messages.success(request, _("%(name)s no longer has the deal.") % {"name": share.user})
    return redirect(f"{deal.get_absolute_url()}#shares")
