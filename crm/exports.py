"""What crm lets be exported (core.holdings: exports): deals and contacts, each with the
filters of its list page and its table. Who may export, how much, the file and its one
download are security's (security/exports.py)."""

from dataclasses import asdict

from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from core.holdings import ExportResource
from crm import selectors
from crm.forms import SORT_LABELS, DealFilterForm
from crm.models import Deal, Stage
from security import masking
from security.models import ExportRequest, User

# --- Filters: the same as each list's (crm.selectors) ------------------------------------


def _text(value) -> str:
    if not isinstance(value, str):
        raise ValueError
    return value.strip()[:100]


def _positive_int(value) -> int:
    if isinstance(value, bool):
        raise ValueError
    number = int(value)
    if number < 1:
        raise ValueError
    return number


def _one_of(choices):
    def parse(value):
        if value not in choices:
            raise ValueError
        return value

    return parse


DEAL_FILTERS = {
    "q": _text,
    "status": _one_of(set(Deal.Status.values)),
    "stage": _positive_int,
    "owner": _positive_int,
    "sort": _one_of(set(selectors.DEAL_SORTS)),
}
CONTACT_FILTERS = {"q": _text}


def _deal_list_filters(request) -> dict:
    """The filters as the deal list read them from its query string (the export button copies
    it), so the file holds what the list showed."""
    user = request.user
    form = DealFilterForm(request.POST, user=user, pipeline=selectors.pipeline_for(user=user))
    return {name: value for name, value in asdict(form.filters()).items() if value}


def _contact_list_filters(request) -> dict:
    q = request.POST.get("q", "").strip()[:100]
    return {"q": q} if q else {}

def _describe_deal_filters(filters: dict) -> list[tuple[str, str]]:
    """The deal list's filters as its form labels and shows them."""
    shown = []
    for name, value in filters.items():
        if name == "q":
            shown.append((_("Search"), f"«{value}»"))
        elif name == "status":
            shown.append((_("Status"), str(Deal.Status(value).label)))
        elif name == "stage":
            stage = Stage.objects.filter(pk=value).first()
            shown.append((_("Stage"), stage.name if stage else f"№{value}"))
        elif name == "owner":
            owner = User.objects.filter(pk=value).first()
            shown.append((_("Owner"), str(owner) if owner else f"№{value}"))
        elif name == "sort":
            shown.append((_("Sort by"), str(SORT_LABELS.get(value, value))))
        else:
            shown.append((name, str(value)))
    return shown


def _describe_contact_filters(filters: dict) -> list[tuple[str, str]]:
    return [(_("Search"), f"«{filters['q']}»")] if filters.get("q") else []


# --- Rows ------------------------------------------------------------------------------------


def _local(moment) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M") if moment else ""


def _point(user, contact, kind: str) -> str:
    """The contact's primary phone or e-mail (the first of its kind) as `user` may see it."""
    if contact is None:
        return ""
    for point in contact.points.all():  # prefetched, primary first
        if point.kind == kind:
            return masking.present_value(user=user, contact=contact, kind=kind,
                                         value=point.value)
    return ""


def _all_points(user, contact, kind: str) -> str:
    shown = (
        masking.present_value(user=user, contact=contact, kind=kind, value=point.value)
        for point in contact.points.all()
        if point.kind == kind
    )
    return "; ".join(value for value in shown if value)


def _deal_table(user, filters: dict, limit: int):
    header = [
        _("ID"), _("Deal"), _("Status"), _("Stage"), _("Amount"), _("Currency"), _("Owner"),
        _("Contact"), _("Phone"), _("E-mail"), _("Company"), _("Next step"),
        _("Expected close"), pgettext("export column", "Created"),
        pgettext("export column", "Last activity"),
        # KPIs count only what was worked in the CRM (a won deal with a recorded client touch
        # in the 30 days before it was won); empty for deals not won.
        pgettext("export column", "Worked in the CRM"),
    ]
    deals = selectors.deal_list(user=user, filters=selectors.DealFilters(**filters))
    deals = deals.prefetch_related("contact__points")
    rows, deals = [], list(deals[:limit])
    not_worked = selectors.deals_not_worked_in_crm(deals)
    for deal in deals:
        contact = deal.contact
        rows.append([
            deal.pk, deal.title, deal.get_status_display(), str(deal.stage), deal.amount,
            deal.currency, str(deal.owner), contact.name if contact else "",
            _point(user, contact, masking.PHONE), _point(user, contact, masking.EMAIL),
            deal.company.name if deal.company else "", deal.next_step,
            deal.expected_close.isoformat() if deal.expected_close else "",
            _local(deal.created_at), _local(deal.last_activity_at),
            "" if deal.status != Deal.Status.WON else (
                _("no") if deal.pk in not_worked else _("yes")),
        ])
    return header, rows, deals


def _contact_table(user, filters: dict, limit: int):
    header = [
        _("ID"), pgettext("person", "Name"), _("Position"), _("Company"), _("Phones"),
        _("E-mails"), _("Owner"), _("Source"), _("Tags"), pgettext("export column", "Created"),
    ]
    contacts = selectors.contact_list(user=user, q=filters.get("q", ""))
    contacts = contacts.select_related("company", "owner").prefetch_related("points", "tags")
    rows, contacts = [], list(contacts.order_by("name", "id")[:limit])
    for contact in contacts:
        rows.append([
            contact.pk, contact.name, contact.position,
            contact.company.name if contact.company else "",
            _all_points(user, contact, masking.PHONE), _all_points(user, contact, masking.EMAIL),
            str(contact.owner) if contact.owner else "", contact.get_source_display(),
            ", ".join(tag.name for tag in contact.tags.all()), _local(contact.created_at),
        ])
    return header, rows, contacts


EXPORTS = {
    ExportRequest.Resource.DEALS: ExportResource(
        filters=DEAL_FILTERS, table=_deal_table, from_request=_deal_list_filters,
        list_url="deal_list", describe=_describe_deal_filters),
    ExportRequest.Resource.CONTACTS: ExportResource(
        filters=CONTACT_FILTERS, table=_contact_table, from_request=_contact_list_filters,
        list_url="contact_list", describe=_describe_contact_filters),
}
