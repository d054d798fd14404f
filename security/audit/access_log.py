"""The access log: every read of client data, by whom, through which surface, from where.

A view (or anything it calls) says what it showed with `read(objects, action=...)`; the reads
of one request are kept in the request's context and written in one batch, hash-chained
(security.audit.audit_chain), when the response leaves (`AccessLogMiddleware`). Outside a request
(a websocket message, a worker) `read` takes the user and surface and writes at once.

What counts as client data is decided where it is shown: a card, the rows of a list page,
search results, an API item, a timeline page, a recording played, a file downloaded, a value
revealed, an exported row. Each record names the client (`contact_id`) when there is one, so
the log can be searched by client and an incident can list the clients a user touched.
"""

import contextvars
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.dispatch import Signal
from django.utils import timezone

from security.audit import audit_chain
from security.models import AccessRecord
from security.requests import client_ip

logger = logging.getLogger("security.access")

Action = AccessRecord.Action
Surface = AccessRecord.Surface

# Sent after each batch is written, with `records` (the saved AccessRecord rows) and `user`
# (the request's user, when known): the anomaly rules listen to it.
access_recorded = Signal()


@dataclass
class _RequestReads:
    user: object
    surface: str
    path: str
    ip: str | None
    user_agent: str
    records: list[AccessRecord] = field(default_factory=list)


_current: contextvars.ContextVar[_RequestReads | None] = contextvars.ContextVar(
    "access_log_reads", default=None
)


def _describe(obj) -> tuple[str, int | None, int | None]:
    """(object type, id, the client's contact id) of a model instance."""
    label = obj._meta.label_lower
    if label == "crm.contact":
        return label, obj.pk, obj.pk
    return label, obj.pk, getattr(obj, "contact_id", None)


def _surface_of(request) -> str:
    return Surface.API if request.path.startswith("/api/") else Surface.HTML


def read(objects, *, action: str, surface: str | None = None, user=None,
         contact_id: int | None = None, detail: dict | None = None) -> None:
    """Record that `objects` (one instance or an iterable) were shown.

    In a request the records wait for the response; elsewhere `user` (and `surface`) must be
    given and the records are written now. `contact_id` names the client where the object
    does not (an attachment, a recording)."""
    if objects is None:
        return
    if not isinstance(objects, Iterable):
        objects = [objects]
    if user is None and _current.get() is None:
        raise ValueError("access_log.read outside a request needs the user")
    context, deferred = _batch(user=user, surface=surface)
    now = timezone.now()
    for obj in objects:
        object_type, object_id, client = _describe(obj)
        context.records.append(_record(
            context, user=user, at=now, surface=surface or context.surface, action=action,
            object_type=object_type, object_id=object_id,
            contact_id=contact_id if contact_id is not None else client, detail=detail or {},
        ))
    if not deferred:
        _flush(context)


def event(*, action: str, user=None, surface: str | None = None,
          detail: dict | None = None) -> None:
    """Record something about no particular object (a refused id, a revoked token)."""
    context, deferred = _batch(user=user, surface=surface)
    context.records.append(_record(
        context, user=user, at=timezone.now(), surface=surface or context.surface,
        action=action, object_type="", object_id=None, contact_id=None, detail=detail or {},
    ))
    if not deferred:
        _flush(context)


def record_path_as(path: str) -> None:
    """Record the current request's reads under `path` instead of its own: a path that holds
    a credential (the privacy center's signed link) must not be kept in an append-only log."""
    context = _current.get()
    if context is not None:
        context.path = path


def _batch(*, user, surface) -> tuple[_RequestReads, bool]:
    """Where records go: the current request's batch, written when its response leaves
    (True), or a batch of their own, written at once (a websocket, a worker)."""
    context = _current.get()
    if context is not None:
        return context, True
    return _RequestReads(user=user, surface=surface or Surface.HTML, path="", ip=None,
                         user_agent=""), False


def _record(context: _RequestReads, *, user=None, **fields) -> AccessRecord:
    record = AccessRecord(path=context.path[:300], ip=context.ip or "",
                          user_agent=context.user_agent[:300], **fields)
    if user is not None:
        _set_user(record, user)
    return record


def _set_user(record: AccessRecord, user) -> None:
    if getattr(user, "is_authenticated", False):
        record.user_id, record.username = user.pk, user.get_username()


def _context_for(request) -> _RequestReads:
    request = getattr(request, "_request", request)  # DRF's Request wraps Django's
    return _RequestReads(
        user=getattr(request, "user", None), surface=_surface_of(request),
        # The path without its query string: a search's query holds what was typed (a
        # client's name), which must not outlive the client's erasure in an append-only log.
        path=request.path, ip=client_ip(request),
        user_agent=request.headers.get("User-Agent", ""),
    )


def _flush(context: _RequestReads) -> None:
    records, context.records = context.records, []
    # The user is known for sure only now: DRF authenticates a token inside the view.
    for record in records:
        if record.user_id is None and context.user is not None:
            _set_user(record, context.user)
    _write(records, user=context.user)


def _write(records: list[AccessRecord], user=None) -> None:
    if not records:
        return
    audit_chain.append(AccessRecord, records)
    access_recorded.send(sender=AccessRecord, records=records, user=user)


class AccessLogMiddleware:
    """Collects the reads of one request and writes them in one batch when it ends."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        context = _context_for(request)
        token = _current.set(context)
        try:
            response = self.get_response(request)
            # DRF authenticates inside the view: the user known now is the one who read.
            context.user = getattr(request, "user", None)
            if response.status_code == 404 and _is_object_route(request):
                context.records.append(_record(
                    context, at=timezone.now(), surface=context.surface,
                    action=Action.NOT_FOUND, object_type="", object_id=None,
                    contact_id=None, detail={},
                ))
            return response
        finally:
            _current.reset(token)
            _flush(context)


def _is_object_route(request) -> bool:
    """A request for one object by its id, by someone logged in: a 404 there is a refusal
    (or a probe), which the enumeration rule counts."""
    match = getattr(request, "resolver_match", None)
    user = getattr(request, "user", None)
    if match is None or user is None or not user.is_authenticated:
        return False
    return any(name in ("pk", "id") or name.endswith("_id") or name.endswith("_pk")
               for name in match.kwargs)
