"""Every read of calls and recordings, scoped by the deal visibility rule.

A call is visible exactly when its deal is (crm.selectors.deals_visible_to): the deal's owner,
the team's head, the admin, and explicit shares. A call attached to no deal (internal calls)
is on no card and visible to nobody through these selectors.
"""

from django.db.models import QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404

from crm.selectors import deals_visible_to
from telephony.models import Call, Extension, PbxAccount


def calls_visible_to(user) -> QuerySet[Call]:
    return Call.objects.filter(deal__in=deals_visible_to(user).values("pk"))


# A call still ringing or talking after this long lost its ending event: not "on a call now".
LIVE_CALL_HOURS = 4


def calls_now(*, manager_ids, now=None) -> QuerySet[Call]:
    """The calls these people are on now (ringing or talking): the wallboard's."""
    from datetime import timedelta

    from django.utils import timezone

    since = (now or timezone.now()) - timedelta(hours=LIVE_CALL_HOURS)
    return Call.objects.filter(manager_id__in=manager_ids, started_at__gte=since,
                               state__in=[Call.State.RINGING, Call.State.TALKING])


def call_get(*, user, pk) -> Call:
    """The call, or Http404 when `user` may not see it."""
    return get_object_or_404(
        calls_visible_to(user).select_related("account", "manager", "contact", "deal"), pk=pk
    )


def deal_calls(*, deal) -> QuerySet[Call]:
    """The calls of a deal the caller already fetched through crm.selectors.deal_get."""
    return deal.calls.select_related("manager").prefetch_related("recordings")


def account_for_webhook(*, uuid) -> PbxAccount:
    """The active account a webhook URL names, or Http404 (the URL itself is no secret)."""
    return get_object_or_404(PbxAccount, uuid=uuid, is_active=True)


def extension_of(*, user) -> Extension | None:
    """The user's extension (click-to-call rings it first)."""
    return (Extension.objects.select_related("account")
            .filter(user=user, account__is_active=True).first())


def call_for_screen_pop(*, user, pk) -> tuple[Call, bool]:
    """The call whose pop-up `user` may see, and whether they may see its deal; Http404 for
    anyone else. The pop-up belongs to whoever may see the deal, the call's manager and the
    users whose phones it rang (a queue rings several); these last two see the deal only when
    the visibility rule lets them, else just that a client calls."""
    call = get_object_or_404(
        Call.objects.select_related("account", "manager", "contact", "deal__owner"), pk=pk)
    may_see_deal = (call.deal_id is not None
                    and deals_visible_to(user).filter(pk=call.deal_id).exists())
    if may_see_deal or call.manager_id == user.pk:
        return call, may_see_deal
    extensions = [leg.get("extension") for leg in call.legs.values() if leg.get("extension")]
    if extensions and Extension.objects.filter(account_id=call.account_id, user=user,
                                               extension__in=extensions).exists():
        return call, False
    raise Http404
