"""What the search box finds of telephony: a deal's calls by the client's number typed whole
(the numbers are encrypted: found through their blind index only, and never shown in a hit,
whose role may see them masked)."""

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core.holdings import SearchSource
from crm.models import ContactPoint
from crm.selectors import contact_point_index
from telephony.models import Call
from telephony.selectors import calls_visible_to


def _by_number(user, text: str):
    index = contact_point_index(kind=ContactPoint.Kind.PHONE, value=text.strip())
    if index is None:
        return Call.objects.none().values("pk")
    return calls_visible_to(user).filter(client_number_index=index).values("pk")


def _describe(call) -> str:
    minutes, seconds = divmod(call.talk_seconds, 60)
    talk = f"{minutes}:{seconds:02}" if call.answered else gettext("missed")
    manager = call.manager.get_full_name() if call.manager_id else ""
    return " · ".join(part for part in (call.get_direction_display(), talk, manager) if part)


SOURCES = (
    SearchSource(
        kind="call", label=_("Calls"), visible=calls_visible_to, at="started_at",
        deal="deal_id", contact="contact_id", person="manager_id", text_match=False,
        select_related=("deal", "manager"), by_contact_point=_by_number,
        title=lambda call: call.deal.title, text=_describe,
        url=lambda call: f"{call.deal.get_absolute_url()}#timeline"),
)
