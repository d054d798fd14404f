"""The embedded mode matches exactly as PostgreSQL does (a property, Hypothesis): for any text
of Russian and English word forms in any case, with punctuation and digits, and any word typed
in any case, SQLite's stored form and instr() matching (core.search, run here in Python as
SQLite runs it) find the text exactly when PostgreSQL's tsvector and tsquery do, both as a
word form (messages, notes), as a name typed (prefixes) and as a file's name typed (its parts
split at `_.-`)."""

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from core import search
from crm.models import Company, Task

pytestmark = pytest.mark.django_db

VOCABULARY = (
    "договор договора договоры договорились договорённость скидка скидку скидки скидкой "
    "доставка доставку доставкой поставка поставщик счёт счета счет оплата оплатили оплачен "
    "клиент клиенту клиенты менеджер сделка сделки кедр кедров кедровый кедрового иванов "
    "иванову иванова пётр петр ёлка елка рассрочка рассрочку гарантия гарантию invoice "
    "invoices shipping delivered и в на не что это как но да или ничего нибудь всех "
    "2026 7701234567 inn7701 №5 100%"
).split()

word = st.sampled_from(VOCABULARY).flatmap(
    lambda w: st.sampled_from([w, w.upper(), w.capitalize()]))
text = st.lists(st.one_of(word, st.sampled_from([",", "!", " - ", "?", "«", "»", "_"])),
                min_size=1, max_size=8).map(" ".join)
file_name = st.tuples(
    st.lists(word, min_size=1, max_size=4), st.sampled_from(["_", ".", "-", " ", "__"]),
    st.sampled_from(["", ".pdf", ".docx", "(1).jpg"]),
).map(lambda parts: parts[1].join(parts[0]) + parts[2])
prefix = word.flatmap(lambda w: st.integers(1, len(w)).map(lambda n: w[:n]))


def _file_in_postgres(name: str, typed: str, message) -> bool:
    from inbox.models import Attachment

    row = Attachment.objects.create(message=message, name=name[:255])
    match = search.Match(search.Query.parse(typed), names=True)
    return Attachment.objects.filter(pk=row.pk, search_document__matches=match).exists()


def _postgres(body: str, typed: str, *, names: bool, assignee) -> bool:
    """Through the models and the lookup the search uses: a company's name is matched as a
    name, a task's title as word forms."""
    query = search.Query.parse(typed)
    if names:
        row = Company.objects.create(name=body[:200])
    else:
        row = Task.objects.create(title=body[:300], assignee=assignee)
    match = search.Match(query, names=names)
    return type(row).objects.filter(pk=row.pk, search_document__matches=match).exists()


def _sqlite(body: str, typed: str, *, names: bool) -> bool:
    """As the lookup asks SQLite: every typed word's patterns, any of them, in the stored
    form the database function makes."""
    query = search.Query.parse(typed)
    if not query:
        return False
    stored = search.sqlite_document(body)
    return all(any(pattern in stored for pattern in search.sqlite_patterns(w, names=names))
               for w in query.words)


# anna is only the tasks' assignee: the same for every example.
SHARED = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture]


@settings(max_examples=300, deadline=None, suppress_health_check=SHARED)
@given(body=text, typed=word)
def test_a_word_form_matches_as_in_postgresql(anna, body, typed):
    assert _sqlite(body, typed, names=False) == _postgres(body, typed, names=False,
                                                          assignee=anna)


@settings(max_examples=300, deadline=None, suppress_health_check=SHARED)
@given(body=text, typed=prefix)
@example(body="договорённость", typed="договорённос")  # ё kept as written on PostgreSQL once
@example(body="Ёлка", typed="Ёл")
def test_a_name_typed_matches_as_in_postgresql(anna, body, typed):
    assert _sqlite(body, typed, names=True) == _postgres(body, typed, names=True,
                                                         assignee=anna)


@pytest.fixture
def message(anna):
    from inbox.models import Channel, ChannelIdentity, Conversation, Message
    from tests.factories import make_contact

    channel = Channel.objects.create(kind="website", name="Чат", team=anna.team,
                                     public_key="property")
    contact = make_contact(anna)
    identity = ChannelIdentity.objects.create(channel=channel, contact=contact,
                                              external_id="visitor")
    conversation = Conversation.objects.create(channel=channel, identity=identity,
                                               contact=contact)
    return Message.objects.create(conversation=conversation, channel=channel, direction="in",
                                  status="received")


@settings(max_examples=200, deadline=None, suppress_health_check=SHARED)
@given(name=file_name, typed=prefix)
def test_a_file_name_typed_matches_as_in_postgresql(message, name, typed):
    assert _sqlite(name, typed, names=True) == _file_in_postgres(name, typed, message)
