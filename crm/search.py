"""What the search box finds of crm's records (core.holdings.SearchSource; search/ runs
them): deals, contacts and companies by their names as typed, notes and tasks by their words.
Each through the one visibility rule of its model."""

from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from core.holdings import SearchSource
from crm import selectors
from crm.models import Note


def notes_visible_to(user):
    """A deal's notes where the deal is seen; a contact's own notes where the contact is."""
    return Note.objects.filter(
        Q(deal__in=selectors.deals_visible_to(user).values("pk"))
        | Q(deal__isnull=True, contact__in=selectors.contacts_visible_to(user).values("pk")))


def _contacts_by_point(user, text: str):
    return selectors.contacts_by_typed_point(user=user, text=text).values_list("pk", flat=True)


def _note_url(note) -> str:
    if note.deal_id:
        return f"{note.deal.get_absolute_url()}#timeline"
    return f"{note.contact.get_absolute_url()}#notes"


def _task_url(task) -> str:
    return f"{task.deal.get_absolute_url()}#tasks" if task.deal_id else "/tasks/"


SOURCES = (
    SearchSource(
        kind="deal", label=_("Deals"), visible=selectors.deals_visible_to, at="created_at",
        deal="id", contact="contact_id", names=True, person="owner_id",
        title=lambda deal: deal.title, text=lambda deal: deal.title,
        url=lambda deal: deal.get_absolute_url()),
    SearchSource(
        kind="contact", label=_("Contacts"), visible=selectors.contacts_visible_to,
        at="created_at", deal=None, contact="id", names=True, person="owner_id",
        title=lambda contact: contact.name, text=lambda contact: contact.name,
        url=lambda contact: contact.get_absolute_url(), by_contact_point=_contacts_by_point),
    SearchSource(
        kind="company", label=_("Companies"), visible=selectors.companies_visible_to,
        at="created_at", deal=None, contact=None, names=True, person="owner_id",
        title=lambda company: company.name,
        text=lambda company: f"{company.name} {company.inn}".strip(),
        url=lambda company: company.get_absolute_url()),
    SearchSource(
        kind="note", label=_("Notes"), visible=notes_visible_to, at="created_at",
        deal="deal_id", contact="contact_id", person="author_id",
        select_related=("deal", "contact"),
        title=lambda note: note.deal.title if note.deal_id else note.contact.name,
        text=lambda note: note.text, url=_note_url),
    SearchSource(
        kind="task", label=_("Tasks"), visible=selectors.tasks_visible_to, at="created_at",
        deal="deal_id", contact="contact_id", person="assignee_id", select_related=("deal",),
        title=lambda task: task.deal.title if task.deal_id else task.title,
        text=lambda task: task.title, url=_task_url),
)
