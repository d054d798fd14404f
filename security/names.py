"""What the security pages call an object the logs hold by id ("crm.deal", 152): a deal by
its title, a client by their name; never a contact detail. A model's str() is what the change
log stores in clear (crm.Contact: the name; ContactPoint: "Телефон #5"), so it is what these
pages may show. Models are found by label, not imported: security knows no app above it.
"""

from collections.abc import Iterable
from dataclasses import dataclass

from django.apps import apps
from django.utils.translation import gettext as _


@dataclass
class Named:
    """One object the evidence names: the text to show, and the row when it still exists
    (the page records that it showed it)."""

    label: str
    pk: int
    text: str
    instance: object = None


def objects_named(refs: Iterable[tuple[str, int]]) -> dict[tuple[str, int], Named]:
    """(model label, id) -> how it reads: "Сделка «Поставка»", "Анна Петрова" (a client),
    "сделка №152 (удалена)" once gone; an unknown type as "type №id"."""
    wanted: dict[str, set[int]] = {}
    for label, pk in refs:
        if label and pk is not None:
            wanted.setdefault(label, set()).add(int(pk))
    named = {}
    for label, ids in wanted.items():
        model = _model_of(label)
        rows = _rows(model, ids) if model is not None else {}
        for pk in ids:
            named[(label, pk)] = _name(label, pk, model, rows.get(pk))
    return named


def _rows(model, ids: set[int]) -> dict:
    # A str() may name a related row ("Telegram · Анна Петрова"): one join, not a query each.
    related = [f.name for f in model._meta.concrete_fields if f.many_to_one]
    return model._default_manager.select_related(*related).in_bulk(ids)


def _model_of(label: str):
    try:
        if "." in label:
            return apps.get_model(label)
        # The change log names a model without its app ("deal:152").
        return next((m for m in apps.get_models() if m._meta.model_name == label), None)
    except LookupError:
        return None


def _name(label: str, pk: int, model, instance) -> Named:
    if model is None:
        return Named(label, pk, f"{label} №{pk}")
    kind = str(model._meta.verbose_name)
    if instance is None:
        return Named(label, pk, _("%(kind)s №%(id)s (deleted)") % {"kind": kind, "id": pk})
    text = str(instance)
    # Rows whose str() is only their id ("Входящий #12", "Note #5") read as "Звонок №12".
    if not text or text.endswith(f"object ({pk})") or text.endswith(f"#{pk}"):
        text = f"{kind.capitalize()} №{pk}"
    elif model._meta.label_lower == "crm.contact":
        pass  # a client reads as their name
    elif not text.startswith(kind.capitalize()):
        text = f"{kind.capitalize()} «{text}»"
    return Named(model._meta.label_lower, pk, text, instance)
