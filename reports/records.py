"""A figure's drill-down: the records behind it, found by the same facts the rollups sum
(core.holdings: activity_facts), shown through the visibility rule."""

from dataclasses import dataclass
from datetime import datetime

from django.utils.translation import gettext_lazy as _

from crm import selectors as crm_selectors
from inbox import selectors as inbox_selectors
from reports import rebuild
from reports.periods import Period
from telephony import selectors as telephony_selectors

# The figures that open a list of records, as the team page names them.
FIGURES = {
    "inbound": _("Messages from clients"),
    "outbound": _("Replies sent"),
    "conversations_started": _("Conversations started"),
    "responses": _("First responses"),
    "calls_answered": _("Incoming calls answered"),
    "calls_missed": _("Incoming calls missed"),
    "calls_outgoing": _("Outgoing calls"),
    "tasks_done": _("Tasks done"),
    "deals_created": _("Deals created"),
    "deals_won": _("Deals won"),
    "deals_lost": _("Deals lost"),
}


def facts(*, user_id: int, period: Period, figure: str, channel: str | None = None) -> list:
    """Every fact of `figure` that counts for the person in the period (in one channel): the
    facts the rebuild sums, narrowed."""
    return sorted((fact for fact in rebuild.facts(period, {user_id}) if fact.counts.get(figure)
                   and (channel is None or fact.channel == channel)),
                  key=lambda fact: fact.at, reverse=True)


@dataclass
class Record:
    at: datetime
    obj: object  # the row shown (a deal, a message...), visible to the viewer
    deal: object | None  # the deal it opens
    channel: str
    counts: dict


def _visible(viewer) -> dict:
    """Each source's rows the viewer may see, by model label."""
    return {
        "crm.deal": crm_selectors.deals_visible_to(viewer),
        "crm.task": crm_selectors.tasks_visible_to(viewer).select_related("deal"),
        "inbox.message": inbox_selectors.messages_visible_to(viewer).select_related(
            "conversation__deal", "channel"),
        "inbox.conversation": inbox_selectors.conversations_visible_to(viewer).select_related(
            "deal", "channel"),
        "telephony.call": telephony_selectors.calls_visible_to(viewer).select_related("deal"),
    }


def records(*, viewer, found: list) -> tuple[list[Record], int]:
    """The records of `found` the viewer may see, newest first, and how many they may not
    (a deal moved to another team since)."""
    wanted: dict[str, set[int]] = {}
    for fact in found:
        if fact.source:
            wanted.setdefault(fact.source[0], set()).add(fact.source[1])
    visible = _visible(viewer)
    rows: dict[tuple[str, int], object] = {}
    for label, ids in wanted.items():
        if label in visible:
            rows.update({(label, obj.pk): obj for obj in visible[label].filter(pk__in=ids)})
    shown, hidden = [], 0
    for fact in found:
        obj = rows.get(fact.source) if fact.source else None
        if obj is None:
            hidden += 1
            continue
        shown.append(Record(fact.at, obj, _deal_of(obj), fact.channel, fact.counts))
    return shown, hidden


def _deal_of(obj):
    if obj._meta.label_lower == "crm.deal":
        return obj
    if obj._meta.label_lower == "inbox.message":
        return obj.conversation.deal
    return getattr(obj, "deal", None)
