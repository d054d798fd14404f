"""One search across every record a user may see: the sources each app declares
(core.holdings.SearchSource: deals, contacts, companies, notes, tasks, messages...), each
through its own model's visibility rule, so a hit, and a count, come only from what the user
sees. Matching is core.search's (Russian word forms; names as typed; a phone or e-mail typed
whole through the blind index).

Counts stop at COUNT_CAP: "100+" says enough and costs a bounded scan (a head's count of a
word in 9% of 10M messages: 27 ms to 100, 200 ms to 1,000). The hits of
a page are the newest (or, `relevance`, the best matching) of every kind merged, each kind
asked for no more than the page needs.
"""

import datetime
import json
import operator
from dataclasses import dataclass, field
from functools import reduce

from django.db import connection
from django.db.models import F, FloatField, IntegerField, Q, Value
from django.utils import timezone

from core import search as text_search
from core import sql  # also the `among` lookup
from core.holdings import SearchSource, search_sources
from crm.selectors import deal_visibility_parts
from security.audit import access_log
from security.audit.access_log import Action

COUNT_CAP = 100
PROBE = 5000  # rows holding a word, past which it is common (see _text_match)
PER_PAGE = 20
MAX_PAGE = 25  # 500 hits: past that a person narrows the search
RECENT, RELEVANCE = "recent", "relevance"
_NONE = Value(None, output_field=IntegerField())


@dataclass(frozen=True)
class Filters:
    kind: str | None = None
    channel: str | None = None  # a channel kind: only records of a channel (messages)
    start: datetime.date | None = None
    end: datetime.date | None = None  # included
    person: int | None = None  # whose record: a deal's owner, a message's, a note's author
    order: str = RECENT


@dataclass
class Hit:
    kind: str
    label: str
    id: int
    deal_id: int | None
    contact_id: int | None
    at: datetime.datetime
    title: str
    snippet: str  # HTML: the text escaped, the matching words in <mark>
    url: str
    record: object = field(repr=False)
    rank: float = 0.0


@dataclass
class Results:
    text: str
    hits: list[Hit]
    counts: dict[str, int]  # per kind, at most COUNT_CAP
    labels: dict[str, str]
    page: int
    has_next: bool

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def capped(self) -> set[str]:
        return {kind for kind, count in self.counts.items() if count >= COUNT_CAP}


def kinds() -> dict[str, str]:
    return {source.kind: source.label for source in search_sources()}


def _window(filters: Filters) -> tuple[datetime.datetime | None, datetime.datetime | None]:
    """The period's bounds in the current time zone: [start 00:00, the day after end)."""
    zone = timezone.get_current_timezone()

    def midnight(day):
        return datetime.datetime.combine(day, datetime.time.min, tzinfo=zone)

    return (midnight(filters.start) if filters.start else None,
            midnight(filters.end + datetime.timedelta(days=1)) if filters.end else None)


def _text_match(source: SearchSource, model, query) -> tuple[Q, int]:
    """The rows holding the words (in their own text or a related row's: a file's name, a
    mail's subject), and about how many rows of the base hold them (PROBE or more: the words
    are common). A rare word first: every row holding it, if there are fewer than PROBE,
    found through the GIN indexes alone and then narrowed to what the user sees; asked with
    ORDER BY time LIMIT 20 instead, PostgreSQL walks the time index hoping to meet a match
    early, and for a word of ten rows walks millions. A common word is matched as it is
    (see _rows)."""
    documents = [(model, "pk", source.names)]
    for related in source.related:
        relation = model._meta.get_field(related.relation)
        documents.append((relation.related_model, relation.field.name, related.names))
    common, found, holding_rows = [], set(), 0  # the common ones' conditions; the rare ones'
    for document_model, key, names in documents:
        match = Q(search_document__matches=text_search.Match(query, names=names))
        # No order: a model's default ordering (a deal's last activity) would walk that index.
        holding = document_model._default_manager.filter(match).order_by()
        condition = match if key == "pk" else Q(pk__in=holding.values(key))
        # The statistics know a common word (not a prefix: those they guess): no counting.
        estimate = 0 if names else _estimated_rows(holding)
        if estimate > 4 * PROBE:
            common.append(condition)
            holding_rows += estimate
            continue
        probe = list(holding.values_list(key, flat=True)[:PROBE])
        if len(probe) == PROBE:
            common.append(condition)
            holding_rows += max(estimate, PROBE)
        else:
            found.update(probe)
    # The rare ones' rows by their ids, an index condition: a subquery beside the common
    # word's match made PostgreSQL give up the GIN index (the director's count of a word in
    # 10,000 of 10M messages: 240 ms, where it takes 27).
    rare = [Q(pk__among=frozenset(found))] if found or not common else []
    return reduce(operator.or_, common + rare), holding_rows + len(found)


def _estimated_rows(rows) -> int:
    """PostgreSQL's estimate of a query's rows from its statistics (0 elsewhere). It knows
    the common words well; the rare ones it guesses, so they are counted."""
    if connection.vendor != "postgresql":
        return 0
    statement, params = rows.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {statement}", params)
        plan = cursor.fetchone()[0]
    plan = json.loads(plan) if isinstance(plan, str) else plan
    return int(plan[0]["Plan"]["Plan Rows"])


# The newest rows of a common word in a user's part of the base: walked by time through the
# whole base when its newest WALKED rows should hold a page of the user's (the word in
# 9% of the rows, the user's 0.5%: a head, 45 in 100,000); else the user's rows holding it
# are all read, unordered, and sorted here (_keyed). Walking read 47,000 rows in time
# order for a head's common word (15 ms) where reading the team's 51,000 messages, scattered
# over the table, took 280 ms; for a word in 0.1% of the rows, a walk would read millions.
WALKED = 100_000


def _rows(source: SearchSource, *, user, text: str, query, filters: Filters,
          wanted: int = PER_PAGE + 1):
    """The records of `source` that `user` sees and the search finds, and whether the page's
    newest are to be found by reading every one of them (_keyed) rather than asked in order;
    (None, False) when the filters leave the source out."""
    if filters.channel and not source.channel:
        return None, False
    visible = source.visible(user)
    match, holding = Q(pk__in=[]), 0
    if source.text_match:
        match, holding = _text_match(source, visible.model, query)
    keyed = holding >= PROBE and deal_visibility_parts(user) is not None
    if keyed and source.listed:  # read whole from the user's conversations, listed; unless
        visible, share = source.listed(user)  # the statistics say a walk meets a page soon
        table = sql.table_rows(visible.model)
        keyed = not table or holding / table * share * WALKED < wanted
    if source.by_contact_point:
        match |= Q(pk__in=source.by_contact_point(user, text))
    rows = visible.filter(match)
    start, end = _window(filters)
    if start:
        rows = rows.filter(**{f"{source.at}__gte": start})
    if end:
        rows = rows.filter(**{f"{source.at}__lt": end})
    if filters.channel:
        rows = rows.filter(**{source.channel: filters.channel})
    if filters.person:
        if not source.person:
            return None, False
        rows = rows.filter(**{source.person: filters.person})
    return rows, keyed


# Reading a user's rows of a common word (_keyed) stops past this many: the newest are then
# asked in order.
NEWEST_SCAN = 20_000


def _keyed(matching, at: str) -> list | None:
    """(time, id) of every row of `matching`, newest first; None past NEWEST_SCAN."""
    keyed = list(matching.order_by().values_list(at, "pk")[:NEWEST_SCAN + 1])
    return sorted(keyed, reverse=True) if len(keyed) <= NEWEST_SCAN else None


def _first(source: SearchSource, rows, keyed: list | None, wanted: int, *, query,
           order: str) -> list:
    """The first `wanted` of `rows`, newest (or best matching) first, annotated for hits.
    From `keyed` when the user's rows were read already: by their ids alone (asked with the
    match and the user's conversations again, PostgreSQL read them all a second time)."""
    if keyed is not None:
        rows = rows.model._default_manager.filter(pk__in=[pk for _at, pk in keyed[:wanted]])
    rows = rows.annotate(
        search_at=F(source.at),
        search_deal=F(source.deal) if source.deal else _NONE,
        search_contact=F(source.contact) if source.contact else _NONE)
    if order == RELEVANCE:
        rank = (text_search.Rank(F("search_document"), query) if source.text_match
                else Value(0.0, output_field=FloatField()))
        rows = rows.annotate(search_rank=rank).order_by("-search_rank", f"-{source.at}", "-pk")
    else:
        rows = rows.order_by(f"-{source.at}", "-pk")
    if source.select_related:
        rows = rows.select_related(*source.select_related)
    if source.prefetch_related:
        rows = rows.prefetch_related(*source.prefetch_related)
    return list(rows[:wanted])


def search(*, user, text: str, filters: Filters = Filters(), page: int = 1,
           per_page: int = PER_PAGE) -> Results:
    query = text_search.Query.parse(text)
    page = max(1, min(page, MAX_PAGE))
    sources = search_sources()
    wanted = page * per_page + 1  # of each kind: enough for this page of the merge
    counts, hits = {}, []
    for source in sources:
        rows, read_all = _rows(source, user=user, text=text, query=query, filters=filters,
                               wanted=wanted)
        if rows is None:
            continue
        keyed = None
        if read_all and filters.order != RELEVANCE:
            keyed = _keyed(rows, source.at)  # every row of the user's: counted here too
        counts[source.kind] = (min(len(keyed), COUNT_CAP) if keyed is not None
                               else rows.order_by()[:COUNT_CAP].count())
        if not counts[source.kind] or filters.kind not in (None, source.kind):
            continue  # counted for the tabs; hits only of the kind asked for
        found = _first(source, rows, keyed, wanted, query=query, order=filters.order)
        hits += [_hit(source, row, query) for row in found]
    if filters.order == RELEVANCE:
        hits.sort(key=lambda hit: (hit.rank, hit.at, hit.id), reverse=True)
    else:
        hits.sort(key=lambda hit: (hit.at, hit.id), reverse=True)
    first = (page - 1) * per_page
    return Results(text=text, hits=hits[first:first + per_page], counts=counts,
                   labels=kinds(), page=page,
                   has_next=len(hits) > first + per_page and page < MAX_PAGE)


def _hit(source: SearchSource, row, query) -> Hit:
    return Hit(kind=source.kind, label=source.label, id=row.pk, deal_id=row.search_deal,
               contact_id=row.search_contact, at=row.search_at, title=source.title(row),
               snippet=text_search.snippet(source.text(row), query, names=source.names),
               url=source.url(row), record=row, rank=getattr(row, "search_rank", 0.0) or 0.0)


def record_reads(results: Results) -> None:
    """A search is a read of every hit it shows (the access log, and so the viewing-volume
    rules), and one entry of its own with how many it showed. What was typed is not kept:
    it may be a client's phone, and the log is never rewritten. In a request: the log
    writes them when the response leaves."""
    for hit in results.hits:
        access_log.read(hit.record, action=Action.SEARCH, contact_id=hit.contact_id)
    access_log.event(action=Action.SEARCH,
                     detail={"shown": len(results.hits),
                             "found": {kind: n for kind, n in results.counts.items() if n}})
