"""Campaign pages: the list, a new draft, a campaign with its recipients and exclusions, send
and cancel. Thin: reads and writes through inbox.campaigns (404 for a campaign the user may
not see; roles without campaigns get 403 on the list and the form)."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core.forms import apply_service_errors
from crm.models import Tag
from inbox import campaigns
from security.audit import access_log
from security.audit.access_log import Action
from security.ratelimit import list_rate_limited

RECIPIENTS_SHOWN = 500


class CampaignForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=200)
    purpose = forms.ModelChoiceField(
        label=gettext_lazy("Purpose"), queryset=campaigns.purposes_for_campaigns(),
        help_text=gettext_lazy("Only clients with a current consent to it receive the "
                               "message."))
    channel = forms.ModelChoiceField(label=gettext_lazy("Channel"),
                                     queryset=campaigns.channels_for_campaigns())
    tag = forms.ModelChoiceField(
        label=gettext_lazy("Tag"), queryset=Tag.objects.all(), required=False,
        help_text=gettext_lazy("Empty: every client you can see."))
    text = forms.CharField(label=gettext_lazy("Message"), max_length=campaigns.TEXT_LIMIT,
                           widget=forms.Textarea(attrs={"rows": 5}))


def _require(user) -> None:
    if not campaigns.may_use_campaigns(user):
        raise PermissionDenied(_("Your role does not allow this action."))


@login_required
@require_GET
@list_rate_limited
def campaign_list(request):
    _require(request.user)
    return render(request, "inbox/campaign_list.html", {
        "nav": "campaigns", "campaigns": campaigns.campaign_list(user=request.user)[:200],
    })


@login_required
@require_http_methods(["GET", "POST"])
def campaign_create(request):
    user = request.user
    _require(user)
    form = CampaignForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            campaign = campaigns.campaign_create(by=user, **form.cleaned_data)
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            messages.success(request, _("Draft saved. Check it and send."))
            return redirect("campaign_detail", pk=campaign.pk)
    return render(request, "inbox/campaign_form.html", {"nav": "campaigns", "form": form})


@login_required
@require_GET
def campaign_detail(request, pk):
    user = request.user
    campaign = campaigns.campaign_get(user=user, pk=pk)
    recipients = list(campaigns.campaign_recipients(campaign=campaign)[:RECIPIENTS_SHOWN])
    # The names of clients are client data: the page is a list read.
    access_log.read([r.contact for r in recipients], action=Action.LIST)
    return render(request, "inbox/campaign_detail.html", {
        "nav": "campaigns",
        "campaign": campaign,
        "counts": campaigns.campaign_counts(campaign=campaign),
        "recipients": recipients,
        "shown_limit": RECIPIENTS_SHOWN,
        "can_send": campaign.status == campaign.Status.DRAFT,
        "can_cancel": campaign.status in (campaign.Status.DRAFT, campaign.Status.QUEUED,
                                          campaign.Status.SENDING),
    })


@login_required
@require_POST
def campaign_send(request, pk):
    campaign = campaigns.campaign_get(user=request.user, pk=pk)
    try:
        campaigns.campaign_send(campaign=campaign, by=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("The campaign is on its way."))
    return redirect("campaign_detail", pk=campaign.pk)


@login_required
@require_POST
def campaign_cancel(request, pk):
    campaign = campaigns.campaign_get(user=request.user, pk=pk)
    try:
        campaigns.campaign_cancel(campaign=campaign, by=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("The campaign is cancelled."))
    return redirect("campaign_detail", pk=campaign.pk)
