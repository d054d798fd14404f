"""The search (issue 20): Russian word forms, names as typed, phones in any format, snippets
that keep client text as text, hits and counts only from what the user sees (every role), the
access log and the viewing rules, erasure taking hits away, the page and the API with their
clear errors, and the deal card opened at a message."""

import json

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from consents import erasure
from core import search as text_search
from crm import services as crm_services
from inbox import selectors as inbox_selectors
from inbox import services as inbox_services
from inbox.models import Attachment, Channel, Conversation, MailDetails, Message
from search import services
from security.models import AccessRecord
from tests.factories import api_for, client_for, make_contact, make_deal

pytestmark = pytest.mark.django_db


@pytest.fixture
def chat(north, south):
    return Channel.objects.create(kind="website", name="Чат", team=north, public_key="search")


_events = iter(range(1, 10**6))


def client_writes(channel, visitor: str, text: str) -> Message:
    """A client's message through the product's path: stored event, drain, routing."""
    event = f"search-{next(_events)}"
    payload = {"visitor": visitor, "id": event, "text": text,
               "sent_at": timezone.now().isoformat()}
    inbox_services.event_receive(channel=channel, provider_event_id=event,
                                 event_type="message", payload=json.dumps(payload))
    inbox_services.events_drain(linger=0, pause=0)
    return Message.objects.filter(direction="in").latest("pk")


def owned_by(message: Message, user, by) -> Message:
    """The message's deal made `user`'s (the round-robin picked someone)."""
    deal = message.conversation.deal
    if deal.owner_id != user.pk:
        crm_services.deal_reassign(deal=deal, to_user=user, by=by)
    Conversation.objects.filter(pk=message.conversation_id).update(assignee=user)
    return message


def found(user, text, **filters):
    return services.search(user=user, text=text, filters=services.Filters(**filters))


def hit_ids(results, kind="message"):
    return {hit.id for hit in results.hits if hit.kind == kind}


# --- Word forms ---------------------------------------------------------------------------

# (what the client wrote, what is typed, found?)
WORD_FORMS = [
    ("Пришлите, пожалуйста, договор", "договора", True),
    ("Договора подписаны", "договор", True),
    ("Мы обо всём договорились", "договорились", True),
    ("Какая будет скидка?", "скидку", True),
    ("Скидки для постоянных клиентов", "скидка", True),
    ("СКИДКА на поставку", "скидка", True),
    ("Сколько стоит доставка в Тверь?", "доставкой", True),
    ("Счёт оплатили вчера", "счет", True),
    ("Отправьте счета", "счёт", True),
    ("Invoice attached", "invoices", True),
    # Different words stay apart, however alike they look.
    ("Какая будет скидка?", "ссылка", False),
    ("Переговоры в четверг", "договор", False),
    ("Доставка завтра", "достав ка", False),
    # Every typed word must be there.
    ("Какая будет скидка?", "скидка договор", False),
    # Stop words alone find nothing rather than everything.
    ("и в на с", "и", False),
]


@pytest.mark.parametrize("written, typed, expected", WORD_FORMS)
def test_word_forms(chat, anna, head_north, written, typed, expected):
    message = owned_by(client_writes(chat, "v-forms", written), anna, head_north)
    assert (message.pk in hit_ids(found(anna, typed))) is expected


def test_our_stems_are_postgresqls():
    """The embedded mode's stems and the snippets' highlights come from the same Snowball
    stemmers and stop words as PostgreSQL's `russian` configuration: word by word, equal."""
    vocabulary = ("договор договора договорились договорённость скидка скидку скидки "
                  "доставка доставкой поставка поставщик счёт счета оплата оплатили "
                  "клиент клиенты клиентами менеджер менеджеру сделка сделки "
                  "кедр кедров кедрового иванов иванову петрова invoice invoices shipping "
                  "и в на не что это как 2026 inn7701").split()
    with connection.cursor() as cursor:
        for word in vocabulary:
            cursor.execute("SELECT array_to_string(tsvector_to_array("
                           "to_tsvector('russian', %s)), ' ')", [word])
            theirs = cursor.fetchone()[0]
            folded = text_search.fold(word)
            ours = "" if text_search.is_stop_word(folded) else text_search.stem(folded)
            # PostgreSQL keeps ё where we fold it to е; the rest must be the same.
            assert text_search.fold(theirs) == ours, word


# --- Names, phones, INN ------------------------------------------------------------------


def test_names_are_found_as_typed(anna):
    contact = make_contact(anna, name="Кедров Пётр Ильич")
    deal = make_deal(anna, title="Поставка кедрового бруса", contact=contact)
    company = crm_services.company_create(by=anna, name="ООО «Лесторг»", inn="7701234567")
    for typed in ("Кед", "кедр", "КЕДРОВ", "петр", "Пётр Ильич"):
        assert contact.pk in hit_ids(found(anna, typed), "contact"), typed
    assert deal.pk in hit_ids(found(anna, "кедровый брус"), "deal")
    assert company.pk in hit_ids(found(anna, "лестор"), "company")
    assert company.pk in hit_ids(found(anna, "7701234567"), "company")
    assert not hit_ids(found(anna, "едров"), "contact")  # a word's beginning, not its middle


@pytest.mark.parametrize("typed", ["+7 916 123-45-67", "8 (916) 123 45 67", "79161234567",
                                   "+7(916)1234567"])
def test_a_phone_in_any_format_finds_its_client(anna, typed):
    contact = make_contact(anna, name="Клиент с телефоном", phones=["+79161234567"])
    assert hit_ids(found(anna, typed), "contact") == {contact.pk}


def test_the_hidden_digits_of_a_phone_find_nothing(anna, olga):
    """A manager sees +7 *** ***-45-67: neither the hidden digits nor a part of the number
    match (the numbers are encrypted and never in the stored search form), and a number of
    a client the manager does not see finds nothing."""
    make_contact(anna, name="Клиент", phones=["+79161234567"])
    make_contact(olga, name="Чужой", phones=["+79035550011"])
    for typed in ("916", "9161234", "123", "4567", "+7 903 555-00-11"):
        assert not found(anna, typed).hits, typed


# --- Snippets -----------------------------------------------------------------------------


def test_snippets_keep_client_text_as_text(chat, anna, head_north):
    text = '<script>alert("x")</script> Скидка <b>10%</b> & доставка'
    message = owned_by(client_writes(chat, "v-html", text), anna, head_north)
    [hit] = [hit for hit in found(anna, "скидки").hits if hit.id == message.pk]
    assert str(hit.snippet) == ("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; "
                                "<mark>Скидка</mark> &lt;b&gt;10%&lt;/b&gt; &amp; доставка")
    page = client_for(anna).get(reverse("search"), {"q": "скидка"}).content.decode()
    assert "<script>alert" not in page and "<mark>Скидка</mark>" in page


def test_a_long_message_is_cut_around_the_match(chat, anna, head_north):
    text = " ".join(["слово"] * 200 + ["договор"] + ["хвост"] * 200)
    message = owned_by(client_writes(chat, "v-long", text), anna, head_north)
    [hit] = [hit for hit in found(anna, "договор").hits if hit.id == message.pk]
    assert str(hit.snippet).startswith("… слово") and str(hit.snippet).endswith("хвост …")
    assert "<mark>договор</mark>" in hit.snippet and len(hit.snippet) < 300


# --- Who finds what -----------------------------------------------------------------------


@pytest.fixture
def two_teams(chat, anna, ivan, olga, head_north):
    """A message with the word in anna's deal, ivan's (her team) and olga's (south)."""
    south_chat = Channel.objects.create(kind="website", name="Юг", team=olga.team,
                                        public_key="search-south")
    return {
        "anna": owned_by(client_writes(chat, "v-a", "Нужна рассрочка"), anna, head_north),
        "ivan": owned_by(client_writes(chat, "v-i", "Про рассрочку"), ivan, head_north),
        "olga": client_writes(south_chat, "v-o", "Рассрочка возможна?"),
    }


@pytest.mark.parametrize("role, sees", [
    ("anna", {"anna"}), ("ivan", {"ivan"}), ("head_north", {"anna", "ivan"}),
    ("olga", {"olga"}), ("director", {"anna", "ivan", "olga"}),
    ("marketer", set()), ("support", set()), ("security_officer", set()),
])
def test_each_role_finds_only_what_it_sees(two_teams, role, sees, request):
    user = request.getfixturevalue(role)
    results = found(user, "рассрочка")
    assert hit_ids(results) == {two_teams[name].pk for name in sees}
    assert results.counts.get("message", 0) == len(sees)
    api = api_for(user).get("/api/v1/search/", {"q": "рассрочка"}).json()
    assert {hit["id"] for hit in api["results"] if hit["kind"] == "message"} == {
        two_teams[name].pk for name in sees}


def test_the_count_does_not_move_when_hidden_deals_gain_matches(two_teams, chat, anna, olga):
    before = found(anna, "рассрочка").counts
    south_chat = Channel.objects.get(public_key="search-south")
    for visitor in ("v-o2", "v-o3", "v-o4"):
        client_writes(south_chat, visitor, "И ещё про рассрочку")
    assert found(anna, "рассрочка").counts == before
    assert found(olga, "рассрочка").counts["message"] == 4


def test_a_shared_deal_is_found_by_whom_it_is_shared_with(two_teams, anna, olga):
    from crm import sharing

    deal = two_teams["olga"].conversation.deal
    assert two_teams["olga"].pk not in hit_ids(found(anna, "рассрочка"))
    sharing.deal_share(deal=deal, user=anna, access="read", by=olga)
    assert two_teams["olga"].pk in hit_ids(found(anna, "рассрочка"))


def test_filters_narrow_the_hits(two_teams, head_north, anna, ivan):
    assert hit_ids(found(head_north, "рассрочка", person=anna.pk)) == {two_teams["anna"].pk}
    assert hit_ids(found(head_north, "рассрочка", channel="telegram")) == set()
    assert len(hit_ids(found(head_north, "рассрочка", channel="website"))) == 2
    today = timezone.localdate()
    assert not found(head_north, "рассрочка", start=today.replace(year=today.year + 1)).hits
    assert len(found(head_north, "рассрочка", end=today).hits) == 2
    only_deals = found(head_north, "рассрочка", kind="deal")
    assert not only_deals.hits and only_deals.counts["message"] == 2  # the tabs still count


def test_notes_and_tasks_are_found(anna, olga):
    deal = make_deal(anna, title="Офис на Тверской")
    note = crm_services.note_add(by=anna, deal=deal, text="Клиент просил созвониться в среду")
    task = crm_services.task_create(by=anna, title="Подготовить коммерческое предложение",
                                    deal=deal, assignee=anna)
    assert hit_ids(found(anna, "созвонимся"), "note") == {note.pk}
    assert hit_ids(found(anna, "коммерческих предложений"), "task") == {task.pk}
    assert not found(olga, "созвонимся").hits and not found(olga, "предложение").hits


@pytest.mark.parametrize("probe", [services.PROBE, 1], ids=["rare word", "common word"])
def test_a_message_is_found_by_its_files_and_its_mails_subject(chat, anna, olga, head_north,
                                                                 director, probe, monkeypatch):
    monkeypatch.setattr(services, "PROBE", probe)
    with_files = owned_by(client_writes(chat, "v-files", "Смотрите вложение"), anna, head_north)
    for name in ("КП_Кедр-2027.итог.pdf", "кедр.jpg"):  # two files: the message once
        Attachment.objects.create(message=with_files, name=name, kind="document")
    mail = owned_by(client_writes(chat, "v-mail", "Добрый день"), anna, head_north)
    MailDetails.objects.create(message=mail, mail_id="s1@crm.test",
                               subject="Договор поставки <b>на 2027 год</b>")
    assert [hit.id for hit in found(anna, "кедр").hits] == [with_files.pk]
    for typed in ("кп", "итог", "pdf", "Кед"):  # the parts of a file's name, as typed
        assert hit_ids(found(anna, typed)) == {with_files.pk}, typed
    assert hit_ids(found(anna, "2027")) == {with_files.pk, mail.pk}
    [hit] = found(anna, "поставка").hits
    assert hit.id == mail.pk and found(anna, "поставка").counts["message"] == 1
    assert "<mark>поставки</mark>" in hit.snippet and "&lt;b&gt;" in hit.snippet
    assert not found(olga, "кедр").hits and not found(olga, "поставка").hits
    erasure.erase_contact(contact=mail.conversation.contact, by=director,
                          reason="subject_request")
    assert not found(director, "поставка").hits


# --- The log and the viewing rules --------------------------------------------------------


def test_a_search_is_logged_with_what_it_showed(two_teams, anna):
    before = AccessRecord.objects.count()
    response = client_for(anna).get(reverse("search"), {"q": "рассрочка"})
    assert response.status_code == 200
    records = list(AccessRecord.objects.order_by("seq")[before:])
    reads = [r for r in records if r.object_id is not None]
    [event] = [r for r in records if r.object_id is None]
    message = two_teams["anna"]
    assert [(r.action, r.object_type, r.object_id, r.contact_id) for r in reads] == [
        ("search", "inbox.message", message.pk, message.conversation.contact_id)]
    assert event.action == "search" and event.detail == {"shown": 1, "found": {"message": 1}}
    assert "рассрочка" not in json.dumps([r.detail for r in records], ensure_ascii=False)
    assert all(r.path == "/search/" for r in records)


def test_search_results_count_toward_the_viewing_rules(chat, anna, head_north):
    from security.audit import rules
    from security.models import Alert, RuleSetting

    RuleSetting.objects.update_or_create(rule=rules.CLIENTS_SERVED, defaults={
        "threshold": 3, "window_minutes": 60})
    rules.settings_changed()
    for visitor in ("r1", "r2", "r3", "r4"):
        owned_by(client_writes(chat, visitor, "Вопрос про гарантию"), anna, head_north)
    client_for(anna).get(reverse("search"), {"q": "гарантия"})
    assert Alert.objects.filter(rule=rules.CLIENTS_SERVED, user=anna).exists()


# --- Erasure ------------------------------------------------------------------------------


def test_erasure_takes_the_hits_away(chat, anna, head_north, director):
    message = owned_by(client_writes(chat, "v-erase", "Мой паспорт 4510 123456, адрес Тверь"),
                       anna, head_north)
    contact = message.conversation.contact
    assert message.pk in hit_ids(found(anna, "паспорт"))
    erasure.erase_contact(contact=contact, by=director, reason="subject_request")
    for typed in ("паспорт", "Тверь", "4510"):
        assert not found(director, typed).hits, typed
    with connection.cursor() as cursor:  # nothing of it left in the index either
        cursor.execute("SELECT search_document::text FROM inbox_message WHERE id = %s",
                       [message.pk])
        assert "паспорт" not in cursor.fetchone()[0]


@pytest.mark.parametrize("action", ["anonymize", "delete"])
def test_retention_takes_the_hits_away(chat, anna, head_north, action):
    import datetime as dt

    from consents import retention
    from consents.models import RetentionRule

    old = owned_by(client_writes(chat, "v-old-kept", "Старая накладная на кедр"), anna,
                   head_north)
    Attachment.objects.create(message=old, name="накладная_кедр.pdf")
    MailDetails.objects.create(message=old, mail_id="old@crm.test", subject="Накладная")
    new = owned_by(client_writes(chat, "v-new-kept", "Новая накладная"), anna, head_north)
    Message.objects.filter(pk=old.pk).update(
        created_at=timezone.now() - dt.timedelta(days=400))
    assert hit_ids(found(anna, "накладная")) == {old.pk, new.pk}
    RetentionRule.objects.create(data_type="messages", days=365, action=action)
    retention.apply(dry_run=False)
    for typed in ("накладная", "кедр"):
        assert old.pk not in hit_ids(found(anna, typed)), typed
    assert hit_ids(found(anna, "накладная")) == {new.pk}


# --- The page and the API -----------------------------------------------------------------


def test_the_header_has_the_search_box(anna):
    page = client_for(anna).get(reverse("deal_list")).content.decode()
    assert 'role="search"' in page and f'action="{reverse("search")}"' in page


def test_the_page_shows_hits_grouped_with_counts(two_teams, anna):
    page = client_for(anna).get(reverse("search"), {"q": "рассрочка"}).content.decode()
    assert f'data-hit-id="{two_teams["anna"].pk}"' in page
    assert f'data-hit-id="{two_teams["ivan"].pk}"' not in page
    assert 'data-search-kind="message"' in page
    message = two_teams["anna"]
    assert f"?message={message.pk}#message-{message.pk}" in page


@pytest.mark.parametrize("params, field", [
    ({}, "q"),
    ({"q": "x" * 201}, "q"),
    ({"q": "договор", "kind": "passport"}, "kind"),
    ({"q": "договор", "channel": "icq"}, "channel"),
    ({"q": "договор", "from": "2026-13-01"}, "from"),
    ({"q": "договор", "from": "2026-12-07", "to": "2026-12-01"}, "non_field_errors"),
    ({"q": "договор", "user": "abc"}, "user"),
    ({"q": "договор", "order": "random"}, "order"),
    ({"q": "договор", "page": "0"}, "page"),
    ({"q": "договор", "page": "9999"}, "page"),
])
def test_bad_searches_get_a_clear_400(anna, params, field):
    response = api_for(anna).get("/api/v1/search/", params)
    assert response.status_code == 400
    assert list(response.json()) == [field]


def test_the_api_answers_in_the_documented_shape(two_teams, anna):
    body = api_for(anna).get("/api/v1/search/", {"q": "рассрочка", "order": "relevance"}).json()
    assert body["count"]["message"] == 1 and body["page"] == 1 and body["has_next"] is False
    [hit] = body["results"]
    message = two_teams["anna"]
    assert hit["kind"] == "message" and hit["id"] == message.pk
    assert hit["deal"] == message.conversation.deal_id
    assert hit["snippet"] == "Нужна <mark>рассрочка</mark>"
    assert hit["at"] and hit["url"].endswith(f"#message-{message.pk}")


def test_an_anonymous_search_is_refused(two_teams):
    assert APIClient().get("/api/v1/search/", {"q": "рассрочка"}).status_code == 401
    response = Client().get(reverse("search"), {"q": "рассрочка"})
    assert response.status_code == 302 and "рассрочка" not in response.content.decode()


@pytest.mark.parametrize("probe, walked", [(services.PROBE, None), (3, None), (3, 10**9)],
                         ids=["rare word", "common word read whole", "common word walked"])
def test_paging_goes_through_every_hit_once(chat, anna, head_north, olga, director, probe,
                                            walked, monkeypatch):
    """Every way of finding: a word in fewer rows than PROBE (its rows by the index, then the
    user's), a common one read whole from the user's rows, or walked by time through
    everyone's (the statistics say the user's share holds a page soon), with other users'
    rows among them."""
    monkeypatch.setattr(services, "PROBE", probe)
    if walked:  # the statistics the choice is made from, as a large base would have them
        monkeypatch.setattr(services, "WALKED", walked)
        monkeypatch.setattr(services.sql, "table_rows", lambda model: 1000)
    south_chat = Channel.objects.create(kind="website", name="Юг", team=olga.team,
                                        public_key="search-south")
    for i in range(3):
        client_writes(south_chat, f"s-{i}", f"Заказ чужой {i}")
    messages = {owned_by(client_writes(chat, f"p-{i}", f"Заказ номер {i}"), anna,
                         head_north).pk for i in range(25)}
    message_source = next(s for s in services.search_sources() if s.kind == "message")
    _rows, read_whole = services._rows(message_source, user=anna, text="заказ",
                                       query=text_search.Query.parse("заказ"),
                                       filters=services.Filters())
    assert read_whole == (probe == 3 and not walked)
    first = services.search(user=anna, text="заказ", page=1)
    second = services.search(user=anna, text="заказ", page=2)
    assert first.has_next and not second.has_next
    assert len(first.hits) == 20
    ids = [hit.id for hit in first.hits + second.hits if hit.kind == "message"]
    assert len(ids) == len(set(ids)) and set(ids) == messages
    ats = [hit.at for hit in first.hits + second.hits]
    assert ats == sorted(ats, reverse=True)
    assert first.counts["message"] == 25
    # Who sees every deal: the newest by time, over everyone's.
    everyone = services.search(user=director, text="заказ", filters=services.Filters(
        kind="message"))
    assert everyone.counts["message"] == 28 and len(everyone.hits) == 20
    assert [hit.at for hit in everyone.hits] == sorted((hit.at for hit in everyone.hits),
                                                       reverse=True)


# --- The deal card opened at a message ----------------------------------------------------


def test_the_card_opens_at_an_old_message(chat, anna, head_north):
    first = owned_by(client_writes(chat, "v-old", "Самое первое: нужен прайс"), anna,
                     head_north)
    for i in range(inbox_selectors.CHAT_PAGE + 5):
        client_writes(chat, "v-old", f"Потом сообщение {i}")
    deal = first.conversation.deal
    card = client_for(anna).get(deal.get_absolute_url()).content.decode()
    assert f'id="message-{first.pk}"' not in card  # not on the newest page
    at = client_for(anna).get(deal.get_absolute_url(), {"message": first.pk}).content.decode()
    assert f'id="message-{first.pk}"' in at and "data-chat-newer" in at


def test_another_deals_message_id_opens_nothing_of_it(two_teams, anna):
    theirs = two_teams["olga"]
    deal = two_teams["anna"].conversation.deal
    card = client_for(anna).get(deal.get_absolute_url(), {"message": theirs.pk})
    assert card.status_code == 200
    page = card.content.decode()
    assert f'id="message-{theirs.pk}"' not in page and "Рассрочка возможна" not in page


def test_a_call_is_found_by_the_clients_number_typed_whole(pbx_account, pbx_extensions, olga):
    from telephony.models import Call
    from tests.reports.test_calls import MONDAY_10, missed

    missed(pbx_account, "search-call", "79161112233", MONDAY_10)
    call = Call.objects.get(entry_id="search-call")
    owner = call.deal.owner
    [hit] = [hit for hit in found(owner, "8 (916) 111-22-33").hits if hit.kind == "call"]
    assert hit.id == call.pk and hit.deal_id == call.deal_id
    by_relevance = found(owner, "+7 916 111 22 33", order=services.RELEVANCE)
    assert call.pk in {hit.id for hit in by_relevance.hits if hit.kind == "call"}
    assert "1112233" not in hit.snippet and "22-33" not in hit.snippet  # the number, never
    assert not [hit for hit in found(owner, "111-22-33").hits if hit.kind == "call"]
    assert not found(olga, "8 (916) 111-22-33").hits


def test_among_is_in_with_one_array(anna, chat, head_north):
    """core.sql.Among, the lookup the search lists a user's conversations with: the same rows
    as `__in`, none for an empty set (no query at all)."""
    from core import sql  # noqa: F401

    message = owned_by(client_writes(chat, "v-among", "Проверка"), anna, head_north)
    ids = frozenset({message.conversation_id, 10**12})
    assert list(Message.objects.filter(conversation_id__among=ids)) == list(
        Message.objects.filter(conversation_id__in=ids))
    assert list(Message.objects.filter(pk__among=frozenset({message.pk}))) == [message]
    assert not Message.objects.filter(conversation_id__among=frozenset()).exists()
