"""What each app holds about a client (a contact) or an employee (a user), declared once.

An app declares its `Holdings` in its AppConfig.ready(); the code that acts on every app's data
asks here instead of importing the apps, so a new app plugs in by declaring:

- offboarding (security/offboarding.py): `handover`, what a leaver owns going to the successor;
- erasure of a client (consents/erasure.py): `identifiers`, `erase`, `raw_deliveries`, `kept`;
- retention (consents/retention.py): `retention`, the data types past their keeping period,
  and `contact_activity`, when a client last did something here;
- the client's own download (consents/privacy_data.py): `subject_data`;
- the REST API (config/api_urls.py): `api_urls`, the app's routes under /api/v1/;
- the demo (crm/demo.py): `demo`, `demo_describe`;
- the deal timeline (crm/timeline.py): `timeline_kinds`;
- `manage.py verify_audit`: `audit_chains`;
- exports (security/exports.py): `exports`, the lists an app lets be exported;
- the anomaly rules (security/audit/rules.py): `clients_worked_with`;
- the privacy link (consents/privacy.py): `client_routes`, `client_send`;
- merging two cards of one client (crm/merge.py): `merge_models`, `merge`, `unmerge`.
- the sales head's figures (reports/): `activity_facts`, what the app's rows count for;
- a sandbox for training and testing (security/sandbox.py, `manage.py make_sandbox`):
  `pseudonym_sources`, `pseudonymize`.

tests/test_holdings.py fails when an app whose models hold client data declares no erasure, no
download or no pseudonymization.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from django.apps import apps

# What an erased text becomes (in Russian: the reports and the cards show it as it is).
ERASED = "[удалено]"
# What a provider's stored delivery that named an erased client holds afterwards.
ERASED_PAYLOAD = '{"erased": true}'


class ErasureReport:
    """What an erasure changed, per table: {"inbox.message": {"anonymized": 3}}."""

    def __init__(self):
        self.tables: dict[str, dict[str, int]] = {}
        self.files_deleted = 0

    def add(self, table: str, what: str, count: int) -> None:
        if count:
            row = self.tables.setdefault(table, {})
            row[what] = row.get(what, 0) + count

    @property
    def changed(self) -> bool:
        return bool(self.tables) or bool(self.files_deleted)


@dataclass
class Erasure:
    """One client's erasure, as every app's `erase` sees it."""

    contact: object  # crm.Contact
    deal_ids: list[int]
    phone_indexes: list[str]  # the blind indexes of their phones
    report: ErasureReport


@dataclass
class Merge:
    """Two cards of one client made one, as every app's `merge` sees it."""

    kept: object  # crm.Contact
    duplicate: object  # crm.Contact
    by: object  # the user merging


def move_contact_rows(label: str, merge: Merge) -> list[int]:
    """Point the rows of model `label` ("inbox.conversation") that name the duplicate at the
    kept contact; their ids."""
    model = apps.get_model(label)
    rows = model.objects.filter(contact=merge.duplicate)
    ids = list(rows.values_list("pk", flat=True))
    rows.update(contact=merge.kept)
    return ids


def move_contact_rows_back(label: str, ids: list[int], merge: Merge) -> int:
    """An undo: those of `ids` still on the kept contact go back to the duplicate."""
    return apps.get_model(label).objects.filter(pk__in=ids, contact=merge.kept).update(
        contact=merge.duplicate)


class SandboxReport(ErasureReport):
    """What making a sandbox changed, per table: {"inbox.message": {"pseudonymized": 3}}."""


@dataclass
class Pseudonymization:
    """A sandbox being made, as every app's `pseudonym_sources` and `pseudonymize` see it. They
    run in the sandbox's own process, whose database is the sandbox's copy and nothing else."""

    # security.pseudonyms.Pseudonyms: each client person's fake (the same in every table),
    # and free texts with names, phones, e-mails, addresses and document numbers replaced.
    pseudonyms: object
    report: SandboxReport
    password_hash: str  # every user's password in the sandbox


def rewrite_rows(rows, fields: list[str], change: Callable[[object], bool], *, table: str,
                 report: ErasureReport, what: str = "pseudonymized", batch: int = 500) -> int:
    """Walk the QuerySet `rows` by primary key, a batch at a time: `change(row)` sets a row's
    new values and says whether anything changed; the changed rows are written (bulk_update
    of `fields`: encrypted fields are encrypted on the way, the search documents follow in the
    database, a blind index is `change`'s to set). Returns how many changed."""
    changed, last = 0, None
    rows = rows.order_by("pk")
    while True:
        page = list((rows if last is None else rows.filter(pk__gt=last))[:batch])
        if not page:
            break
        dirty = [row for row in page if change(row)]
        if dirty:
            rows.model._base_manager.bulk_update(dirty, fields)
        changed += len(dirty)
        last = page[-1].pk
    report.add(table, what, changed)
    return changed


@dataclass(frozen=True)
class RetentionKind:
    """A data type an app keeps for a limited time (consents.RetentionRule.DataType)."""

    key: str
    default_days: int
    default_action: str  # "anonymize" or "delete"
    find: Callable[[datetime, str], list[int]]  # (before, action) -> the ids past it
    apply: Callable[[list[int], str], None]  # (ids, action), in one transaction


@dataclass(frozen=True)
class ExportResource:
    """A list a role may export (security/exports.py controls who, how much, the file)."""

    filters: dict  # name -> parser of one value (ValueError when bad), as the list takes them
    table: Callable  # (user, filters, limit) -> (header, rows, objects), what `user` sees
    from_request: Callable  # the list page's filters from the export button's POST
    list_url: str  # the list page's URL name
    # (filters) -> [(label, value)]: the filters as a reader of the file names them (the
    # owner's name, not owner=5); None: "name=value".
    describe: Callable | None = None


@dataclass(frozen=True)
class RelatedDocument:
    """Rows of another model whose own `search_document` finds a search source's record too:
    a message's files by their names, its mail by its subject."""

    relation: str  # the reverse relation from the record's model: "attachments"
    names: bool = False  # as SearchSource.names, for these rows' text


@dataclass(frozen=True)
class SearchSource:
    """One kind of record the search box finds (search/services.py). Its model has a
    `search_document` (core.search.document_field)."""

    kind: str  # "message": the hit's `kind` in the API
    label: str  # "Messages", what the results page calls the group
    visible: Callable  # (user) -> the QuerySet of these records `user` may see
    at: str  # the field of the record's time: "created_at"
    deal: str | None  # the path to its deal's id ("conversation__deal_id"), None if it has none
    contact: str | None  # the path to its client's contact id, for the access log
    title: Callable  # (row) -> what the hit is called (its deal's title, the contact's name)
    text: Callable  # (row) -> the text its snippet is cut from
    url: Callable  # (row) -> the page a click opens, at the record
    names: bool = False  # matched as typed, by the words' beginnings (names are)
    text_match: bool = True  # False: found only by a phone or e-mail (no search_document)
    channel: str | None = None  # the path to its channel's kind, for `?channel=`
    channels: Callable | None = None  # () -> {kind: label} of those channels
    person: str | None = None  # the path to whose record it is, for `?user=`
    select_related: tuple = ()
    prefetch_related: tuple = ()
    related: tuple[RelatedDocument, ...] = ()  # other rows' words that find the record
    # (user) -> (the same records in the form PostgreSQL reads a common word's rows of
    # fastest: a user's conversations listed by id; about what share of the table they are,
    # 0..1). None: `visible` serves, and a common word's rows are read whole.
    listed: Callable | None = None
    # (user, query text) -> ids of records found by a phone or e-mail typed in full (the
    # blind index: the values are encrypted and never in the stored search form).
    by_contact_point: Callable | None = None


@dataclass(frozen=True)
class Holdings:
    app: str  # the app's label
    # Offboarding: fn(handover) moves what the leaver owns of `handover_kinds` (kind ->
    # label) to the successor and returns {kind: [ids]} (security.offboarding.Handover).
    handover: Callable | None = None
    handover_kinds: dict = field(default_factory=dict)
    # The model of each kind's ids (kind -> "app.model"): the report names what moved.
    handover_models: dict = field(default_factory=dict)
    # Erasure: the values that identify the client here (messenger ids...), read before
    # anything is erased; erase(erasure) clears the app's content about them and returns the
    # ids that name them in raw provider deliveries; raw_deliveries are the models of those
    # deliveries (a `payload` and an `error` text), rewritten where the ids appear;
    # kept(contact) says which rows stay and why ({"inbox.message": (rows, "why, in Russian")}).
    identifiers: Callable[[object], set[str]] | None = None
    erase: Callable[[Erasure], set[str]] | None = None
    raw_deliveries: tuple = ()
    kept: Callable[[object], dict[str, tuple[int, str]]] | None = None
    # Retention.
    retention: tuple[RetentionKind, ...] = ()
    contact_activity: str = ""  # an ORM path from a contact to a datetime: "calls__started_at"
    # The client's download: fn(contact, full=...) -> sections of data.json ({"calls": [...]});
    # `full` is the archive (every message), else the page (counts).
    subject_data: Callable[..., dict] | None = None
    # The module of the app's API routes, mounted under /api/v1/.
    api_urls: str = ""
    # The demo (crm/demo.py, `manage.py seed_demo`): demo(builder) writes the app's part once
    # crm's records are there and returns counts ({"consent events": 40}); demo_describe()
    # adds to `seed_demo --json` ({"channels": [...]}).
    demo: Callable | None = None
    demo_describe: Callable[[], dict] | None = None
    # The kinds of deal timeline entries the app writes (crm.timeline.TimelineKind: how the
    # deal card shows one and the API serializes it).
    timeline_kinds: tuple = ()
    # The app's append-only, hash-chained ledgers, as (title, model): `manage.py verify_audit`
    # checks each.
    audit_chains: tuple = ()
    # The app's files in the file store (core/storage.py) encrypted with
    # core.crypto.encrypt_bytes, as (folder, fn(name in the store) -> the purpose they are
    # encrypted under): `manage.py rotate_keys` moves each to the current key, and `--check`
    # counts those under old ones.
    encrypted_files: tuple = ()
    # What a role with the export permission may export from the app, by resource
    # (security.models.ExportRequest.Resource): {"deals": ExportResource(...)}.
    exports: dict = field(default_factory=dict)
    # The anomaly rules (security/audit/rules.py): fn(user, contact ids) -> the ones the user works
    # with, whose cards are no "foreign" reading.
    clients_worked_with: Callable | None = None
    # Reaching a client where they wrote to us (the privacy link, consents/privacy.py):
    # client_routes(user=, contact=) -> [(route, label)] the user may write to ("conversation:
    # 12"), only where the client wrote to us; client_send(route=, by=, text=, shown=) sends
    # `text` there, keeps only `shown` readable, and returns what the timeline notes.
    client_routes: Callable | None = None
    client_send: Callable | None = None
    # Merging two cards of one client (crm/merge.py): the models whose `contact` moves to the
    # kept card (and back on an undo), and for what needs more than that, merge(merge) ->
    # {"app.model": [ids]} and unmerge(merge, moved) with what it returned.
    merge_models: tuple[str, ...] = ()
    merge: Callable | None = None
    unmerge: Callable | None = None
    # "Worked in the CRM" (crm.selectors.deals_not_worked_in_crm): client_touches(windows) ->
    # the deal ids, of {deal id: (after, until)}, with a touch of the client recorded here in
    # that window (a message to or from them, a call).
    client_touches: Callable | None = None
    # The sales head's figures (crm/rollups.py): activity_facts(start=, end=, user_ids=) ->
    # every fact (crm.rollups.Fact) the app's rows hold for [start, end), of those people if
    # given: what `manage.py rebuild_rollups` sums and a figure's drill-down lists.
    activity_facts: Callable | None = None
    # What the search box finds of the app's records (search/).
    search_sources: tuple[SearchSource, ...] = ()
    # A sandbox (security/sandbox.py, `manage.py make_sandbox`), on its own copy of the
    # database: pseudonym_sources(pseudonymization) tells the pseudonyms, before anything is
    # rewritten, the names, phones, e-mails and identifiers the app knows client persons by
    # (so every app's free texts lose them); pseudonymize(pseudonymization) then gives each
    # person's rows their fake, rewrites the app's free texts, drops its files and what must
    # not reach a sandbox (secrets, ledgers, logs), and reports per table. The app's
    # `raw_deliveries` are dropped whole without being declared here.
    pseudonym_sources: Callable | None = None
    pseudonymize: Callable | None = None


_DECLARED: dict[str, Holdings] = {}


def declare(holdings: Holdings) -> None:
    _DECLARED[holdings.app] = holdings


def declared() -> list[Holdings]:
    """Every app's holdings, in the order of INSTALLED_APPS (crm's deals move before
    security revokes the leaver's shares)."""
    order = {config.label: position for position, config in enumerate(apps.get_app_configs())}
    return sorted(_DECLARED.values(), key=lambda h: order.get(h.app, len(order)))


def search_sources() -> list[SearchSource]:
    return [source for holdings in declared() for source in holdings.search_sources]


def retention_kinds() -> dict[str, RetentionKind]:
    return {kind.key: kind for holdings in declared() for kind in holdings.retention}
