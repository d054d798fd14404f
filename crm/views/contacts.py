"""The contacts' pages: the list, the contact card, its notes and forms."""

from django.apps import apps
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core.forms import apply_service_errors
from core.http import query_text
from crm import merge as merging
from crm import selectors, services
from crm.forms import (
    ContactForm,
    NoteForm,
)
from crm.views.common import (
    RELATED_LIMIT,
    entry_json,
    form_errors_json,
    form_page,
    int_or_none,
    listed,
    page_of,
    with_kinds,
)
from security import masking
from security.audit import access_log
from security.audit.access_log import Action
from security.ratelimit import list_rate_limited
from security.requests import wants_json as _wants_json


@login_required
@require_GET
@list_rate_limited
def contact_list(request):
    q = query_text(request.GET, "q")
    return render(request, "crm/contact_list.html", {
        "nav": "contacts",
        "q": q,
        "page": listed(page_of(request, selectors.contact_list(user=request.user, q=q)), q),
        "can_add": request.user.has_perm("crm.add_contact"),
    })


def _contact_card(request, contact, *, note_form=None):
    user = request.user
    access_log.read(contact, action=Action.VIEW)
    can_edit = selectors.contact_can_edit(user=user, contact=contact)
    return render(request, "crm/contact_detail.html", {
        "nav": "contacts",
        "contact": contact,
        "points": masking.present_points(user=user, contact=contact),
        "tags": contact.tags.all(),
        "deals": selectors.deal_list(user=user).filter(contact=contact)[:RELATED_LIMIT],
        "entries": with_kinds(selectors.contact_timeline(user=user, contact=contact)),
        "can_edit": can_edit,
        "duplicates": merging.duplicates_of(user=user, contact=contact) if can_edit else [],
        "merges": [(m, merging.merge_can_undo(merge=m))
                   for m in merging.merges_into(contact=contact)[:RELATED_LIMIT]],
        "can_add_deal": user.has_perm("crm.add_deal"),
        "can_add_note": user.has_perm("crm.add_note"),
        "note_form": note_form or NoteForm(),
    })


@login_required
@require_GET
def contact_detail(request, pk):
    return _contact_card(request, selectors.contact_get(user=request.user, pk=pk))


@login_required
@require_POST
def contact_note_add(request, pk):
    contact = selectors.contact_get(user=request.user, pk=pk)
    form = NoteForm(request.POST)
    if form.is_valid():
        try:
            note = services.note_add(
                by=request.user, text=form.cleaned_data["text"], contact=contact
            )
        except ValidationError as e:
            apply_service_errors(form, e)
        else:
            if _wants_json(request):
                entry = selectors.timeline_entry_for(kind="note", source=note)
                return entry_json(request, entry)
            messages.success(request, _("Note added."))
            return redirect(f"{contact.get_absolute_url()}#timeline")
    if _wants_json(request):
        return form_errors_json(form)
    return _contact_card(request, contact, note_form=form)


@login_required
@require_http_methods(["GET", "POST"])
def contact_create(request):
    user = request.user
    if not user.has_perm("crm.add_contact"):
        raise PermissionDenied(_("Your role does not allow this action."))
    initial = {}
    company_id = int_or_none(request.GET.get("company"))
    if company_id:
        initial["company"] = selectors.company_get(user=user, pk=company_id).pk
    form = ContactForm(request.POST or None, user=user, initial=initial)
    return form_page(request, form, save=lambda data: services.contact_create(by=user, **data),
                     done=_("Contact created."), template="crm/contact_form.html",
                     context={"nav": "contacts", "contact": None})


@login_required
@require_http_methods(["GET", "POST"])
def contact_edit(request, pk):
    user = request.user
    contact = selectors.contact_get(user=user, pk=pk)
    if not selectors.contact_can_edit(user=user, contact=contact):
        raise PermissionDenied(_("Your role does not allow this action."))
    form = ContactForm(request.POST or None, user=user, contact=contact)

    def save(data):
        services.contact_update(
            contact=contact, by=user,
            add_phones=data.pop("phones"), add_emails=data.pop("emails"),
            remove_point_ids=data.pop("remove_points"), **data,
        )
        return contact

    return form_page(request, form, save=save, done=_("Contact saved."),
                     template="crm/contact_form.html",
                     context={"nav": "contacts", "contact": contact}, shown=contact)


@login_required
@require_http_methods(["GET", "POST"])
def contact_merge(request, pk, other):
    """Merge card `other` into card `pk`: what would move (GET), then the merge (POST)."""
    kept = selectors.contact_get(user=request.user, pk=pk)
    duplicate = selectors.contact_get(user=request.user, pk=other)
    if request.method == "POST":
        try:
            merging.contacts_merge(by=request.user, kept=kept, duplicate=duplicate)
        except ValidationError as error:
            for text in error.messages:
                messages.error(request, text)
        else:
            messages.success(request, _("%(duplicate)s is merged into this card; it can be "
                                        "undone here for 30 days.") % {"duplicate": duplicate})
        return redirect(kept.get_absolute_url())
    for contact in (kept, duplicate):
        if not selectors.contact_can_edit(user=request.user, contact=contact):
            raise PermissionDenied(_("You may merge only cards you can change."))
    access_log.read([kept, duplicate], action=Action.VIEW)
    return render(request, "crm/contact_merge.html", {
        "nav": "contacts", "kept": kept, "duplicate": duplicate,
        "moves": [(apps.get_model(label)._meta.verbose_name_plural, count) for label, count
                  in merging.preview(kept=kept, duplicate=duplicate).items()],
        "points": masking.present_points(user=request.user, contact=duplicate),
    })


@login_required
@require_POST
def contact_merge_undo(request, pk, merge_id):
    kept = selectors.contact_get(user=request.user, pk=pk)
    merge = get_object_or_404(merging.merges_into(contact=kept), pk=merge_id)
    try:
        merging.contacts_merge_undo(by=request.user, merge=merge)
    except ValidationError as error:
        for text in error.messages:
            messages.error(request, text)
    else:
        messages.success(request, _("The merge is undone: %(duplicate)s is a card of its own "
                                    "again.") % {"duplicate": merge.duplicate})
    return redirect(kept.get_absolute_url())
