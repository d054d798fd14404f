"""The incoming-call pop-up: an HTML fragment static/js/calls.js fetches when the user's
socket says `call.incoming` (the event carries the call's id only)."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.views.decorators.http import require_GET

from security import masking
from security.audit import access_log
from security.audit.access_log import Action
from telephony import selectors
from telephony.models import Call


@login_required
@require_GET
def call_popup(request, pk):
    call, may_see_deal = selectors.call_for_screen_pop(user=request.user, pk=pk)
    number = ""
    if may_see_deal and call.deal_id is not None:  # it shows the deal and its client
        access_log.read(call, action=Action.VIEW)
    if may_see_deal and call.contact is not None:
        number = masking.present_value(user=request.user, contact=call.contact,
                                       kind=masking.PHONE, value=call.client_number)
    return render(request, "telephony/_popup.html", {
        "call": call,
        "deal": call.deal if may_see_deal else None,
        "contact": call.contact if may_see_deal else None,
        "number": number,
        "new_client": call.lead_created or call.deal_id is None,
        "ended": call.state == Call.State.ENDED,
    })
