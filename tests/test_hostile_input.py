"""Empty and hostile input never answers 500: objects whose optional relations and fields are
empty render on every HTML page that shows them; absurd ids, Range headers, export cells,
websocket frames and signed events are refused or answered, never crashed on."""

from dataclasses import dataclass

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from hypothesis import given
from hypothesis import settings as fuzz_settings
from hypothesis import strategies as st

from crm import services
from inbox.models import Channel, ChannelIdentity, Conversation

# Surfaces that are not HTML pages of signed-in staff (the API, the provider webhooks, the
# privacy center, the public widget) have tests of their own below and elsewhere.
_NOT_STAFF_PAGES = ("api/", "privacy/", "hooks/", "i18n/", "admin/", "widget/", "demo/")


def _html_routes():
    """(name, path pattern, kwarg names) of every HTML route of signed-in staff."""
    found = []

    def walk(patterns, namespace, prefix):
        for p in patterns:
            route = prefix + str(p.pattern)
            if route.startswith(_NOT_STAFF_PAGES):
                continue
            if isinstance(p, URLResolver):
                walk(p.url_patterns, ":".join(filter(None, [namespace, p.namespace])), route)
            elif isinstance(p, URLPattern):
                name = ":".join(filter(None, [namespace, p.name]))
                found.append((name, route, tuple(p.pattern.regex.groupindex)))

    walk(get_resolver().url_patterns, None, "")
    return found


@dataclass
class Bare:
    """anna's objects with every optional relation and field left empty."""

    deals: list  # no contact, no company, no amount; and one whose contact has nothing
    contacts: list  # no company, no phone or e-mail, no tags
    companies: list  # a name and nothing else
    calls: list  # a call of no deal and no contact
    tasks: list  # a task of no deal and no contact; a task of a bare deal


@pytest.fixture
def bare(anna):
    from telephony.models import Call, PbxAccount

    company = services.company_create(by=anna, name="Пустая компания")
    contact = services.contact_create(by=anna, name="Клиент без всего")
    deal = services.deal_create(by=anna, title="Сделка без клиента")
    with_bare_contact = services.deal_create(by=anna, title="Сделка с пустым клиентом",
                                             contact=contact)
    tasks = [services.task_create(by=anna, title="Задача без сделки"),
             services.task_create(by=anna, title="Задача пустой сделки", deal=deal)]
    # A chat of the bare contact that no deal holds yet.
    channel = Channel.objects.create(kind=Channel.Kind.TELEGRAM, name="Telegram",
                                     team=anna.team, credentials="1:x",
                                     api_base_url="http://127.0.0.1:9")
    identity = ChannelIdentity.objects.create(channel=channel, external_id="1",
                                              contact=contact)
    Conversation.objects.create(channel=channel, identity=identity, contact=contact)
    account = PbxAccount.objects.create(name="Mango", team=anna.team,
                                        api_base_url="http://127.0.0.1:9/vpbx/")
    call = Call.objects.create(account=account, entry_id="bare", direction="in",
                               client_number="", manager=anna)
    return Bare(deals=[deal, with_bare_contact], contacts=[contact], companies=[company],
                calls=[call], tasks=tasks)


# The first segment of a route -> the bare objects its `pk` names.
_OBJECTS_BY_PREFIX = {"deals/": "deals", "contacts/": "contacts", "companies/": "companies",
                      "calls/": "calls", "tasks/": "tasks"}
# Pages of these must render for every bare object (GET), or refuse the method (POST only).
_CARD_PREFIXES = ("deals/", "contacts/", "companies/")


def _urls(bare, name, route, kwargs):
    if not kwargs:
        return [reverse(name)]
    prefix = route.split("<")[0]
    if prefix not in _OBJECTS_BY_PREFIX or set(kwargs) - {"pk", "entry_id"}:
        return []  # a route of another object: the authorization matrix opens those
    urls = []
    for obj in getattr(bare, _OBJECTS_BY_PREFIX[prefix]):
        values = {"pk": obj.pk}
        if "entry_id" in kwargs:
            values["entry_id"] = obj.timeline.first().pk
        urls.append(reverse(name, kwargs=values))
    return urls


@pytest.mark.parametrize("role", ["director", "anna"])
def test_every_page_renders_objects_with_nothing_optional(role, bare, request):
    user = request.getfixturevalue(role)
    client = Client(raise_request_exception=False)
    client.force_login(user)
    failures, opened = [], 0
    for name, route, kwargs in _html_routes():
        for url in _urls(bare, name, route, kwargs):
            opened += 1
            status = client.get(url).status_code
            card = kwargs and route.startswith(_CARD_PREFIXES)
            if status >= 500 or (card and status not in (200, 405)):
                failures.append((name, url, status))
    assert opened > 30, "the resolver walk found too few pages"
    assert not failures, failures


def test_the_lists_show_the_bare_objects(bare, anna):
    client = Client()
    client.force_login(anna)
    for name, obj in [("deal_list", bare.deals[0]), ("contact_list", bare.contacts[0]),
                      ("company_list", bare.companies[0]), ("task_list", bare.tasks[0])]:
        response = client.get(reverse(name))
        assert response.status_code == 200
        assert str(obj).encode() in response.content, name


def test_no_template_passes_a_filter_an_argument_through_two_relations():
    """`x|default:deal.contact.company` raises when the deal has no contact: Django resolves a
    filter's argument strictly. Resolve such a value in an {% if %} or {% with %} first."""
    import re
    from pathlib import Path

    from django.conf import settings

    argument = re.compile(r"\|\w+:([A-Za-z_]\w*(?:\.\w+){2,})")
    roots = [Path(d) for t in settings.TEMPLATES for d in t["DIRS"]]
    roots += [p for p in Path(settings.BASE_DIR).glob("*/templates")]
    found = [(str(path), m.group(0)) for root in roots for path in root.rglob("*.*")
             if path.suffix in (".html", ".txt") for m in argument.finditer(path.read_text())]
    assert not found, found


# --- Range headers on file downloads ---------------------------------------------------------

# Short numbers, and numbers longer than int() converts (4,300 digits) as often.
_DIGITS = st.one_of(
    st.text(alphabet="0123456789", max_size=20),
    st.builds(lambda digit, n: digit * n, st.sampled_from("0159"), st.integers(4000, 6000)),
)
_RANGE_HEADERS = st.one_of(
    st.text(max_size=200),
    st.builds(lambda a, b: f"bytes={a}-{b}", _DIGITS, _DIGITS),
    st.builds(lambda a, sep, b, tail: f"bytes{sep}{a}{sep}-{sep}{b}{tail}",
              st.text(alphabet="0123456789１٢", max_size=30), st.sampled_from(["", " ", "\t"]),
              st.text(alphabet="0123456789１٢", max_size=30), st.sampled_from(["", ",0-1", " "])),
)


@fuzz_settings(max_examples=300, deadline=None)
@given(header=_RANGE_HEADERS,
       size=st.one_of(st.just(0), st.integers(min_value=0, max_value=10**6)))
def test_any_range_header_gives_a_range_inside_the_file_or_none(header, size):
    from django.test import RequestFactory

    from security.files import byte_range

    wanted = byte_range(RequestFactory().get("/", HTTP_RANGE=header), size, "")
    assert wanted is None or wanted is False or (
        isinstance(wanted, tuple) and 0 <= wanted[0] <= wanted[1] < size), wanted


@pytest.fixture
def downloads(anna):
    """(the URL of an attachment, the URL of a call recording) of anna's deal; both hold
    FILE_BYTES."""
    from inbox import attachments
    from inbox.models import Message
    from telephony import recordings
    from telephony.models import Call, PbxAccount, Recording

    deal = services.deal_create(by=anna, title="Сделка с файлами",
                                contact=services.contact_create(by=anna, name="Клиент"))
    channel = Channel.objects.create(kind=Channel.Kind.TELEGRAM, name="Telegram",
                                     team=anna.team, credentials="1:x",
                                     api_base_url="http://127.0.0.1:9")
    identity = ChannelIdentity.objects.create(channel=channel, external_id="2",
                                              contact=deal.contact)
    conversation = Conversation.objects.create(channel=channel, identity=identity,
                                               contact=deal.contact, deal=deal)
    message = Message.objects.create(conversation=conversation, channel=channel,
                                     direction=Message.Direction.OUTBOUND, text="Файл")
    attachment = attachments.attach(message=message, data=FILE_BYTES, name="offer.pdf",
                                    mime_type="application/pdf")
    account = PbxAccount.objects.create(name="Mango", team=anna.team,
                                        api_base_url="http://127.0.0.1:9/vpbx/")
    call = Call.objects.create(account=account, entry_id="files", direction="in",
                               client_number="+79161112233", deal=deal, contact=deal.contact,
                               manager=anna)
    Recording.objects.create(call=call, recording_id="rec-1", mime_type="audio/mpeg",
                             file_path=recordings.storage.store(FILE_BYTES),
                             size=len(FILE_BYTES))
    return [reverse("attachment_download", args=[deal.pk, attachment.pk]),
            reverse("call_recording", args=[deal.pk, call.pk])]


FILE_BYTES = b"ID3 recorded or attached bytes " * 10


@pytest.mark.parametrize("header, status, body", [
    ("bytes=0-" + "9" * 5000, 206, FILE_BYTES),
    ("bytes=" + "9" * 5000 + "-", 416, b""),
    ("bytes=-" + "9" * 5000, 206, FILE_BYTES),
    ("bytes=" + "0" * 5000 + "4-" + "0" * 5000 + "7", 206, FILE_BYTES[4:8]),
    ("bytes=１-２", 200, FILE_BYTES),  # full-width digits are no HTTP digits
])
def test_a_range_of_thousands_of_digits_is_answered(downloads, anna, header, status, body):
    client = Client(raise_request_exception=False)
    client.force_login(anna)
    for url in downloads:
        response = client.get(url, HTTP_RANGE=header)
        assert (response.status_code, response.content) == (status, body), url


# --- Websocket frames ------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_a_websocket_frame_that_is_not_json_gets_an_error_frame(anna):
    """Plain text, an empty frame, a binary frame and an oversized one: each is answered with
    bad_request and the socket still serves the next frame (tests/test_untrusted_json.py
    covers deep and truncated JSON)."""
    from tests.crm.test_consumers import connect

    communicator, connected = await connect(anna)
    assert connected
    for frame in [{"text": "hello"}, {"text": ""}, {"text": "１２"}, {"bytes": b"\x00\xff{}"},
                  {"text": '{"a": "' + "x" * 10000 + '"}'}]:
        await communicator.send_input({"type": "websocket.receive", **frame})
        assert await communicator.receive_json_from() == {"error": "bad_request"}, frame
    await communicator.send_json_to({"subscribe": "deal", "id": 10**9})
    assert (await communicator.receive_json_from())["error"] == "not_found"
    await communicator.disconnect()
