"""Empty and hostile input never answers 500: objects whose optional relations and fields are
empty render on every HTML page that shows them; absurd ids, Range headers, export cells,
websocket frames and signed events are refused or answered, never crashed on."""

import re
from dataclasses import dataclass

import pytest
from django.test import Client
from django.urls import reverse
from hypothesis import given
from hypothesis import settings as fuzz_settings
from hypothesis import strategies as st

from crm import services
from inbox.models import Channel, ChannelIdentity, Conversation
from tests.routes import site_routes

# Surfaces that are not HTML pages of signed-in staff (the API, the provider webhooks, the
# privacy center, the public widget) have tests of their own below and elsewhere.
_NOT_STAFF_PAGES = ("api/", "privacy/", "hooks/", "i18n/", "admin/", "widget/", "demo/")


def _html_routes():
    """(name, path pattern, kwarg names) of every HTML route of signed-in staff."""
    return [(route.name, route.path, route.parameters) for route in site_routes()
            if not route.path.startswith(_NOT_STAFF_PAGES)]


@dataclass
class Bare:
    """anna's objects with every optional relation and field left empty."""

    deals: list  # no contact, no company, no amount; and one whose contact has nothing
    contacts: list  # no company, no phone or e-mail, no tags
    companies: list  # a name and nothing else
    calls: list  # a call of no deal and no contact
    tasks: list  # a task of no deal and no contact; a task of a bare deal
    conversations: list  # a chat of the bare contact on no deal


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
    conversation = Conversation.objects.create(channel=channel, identity=identity,
                                               contact=contact)
    account = PbxAccount.objects.create(name="Mango", team=anna.team,
                                        api_base_url="http://127.0.0.1:9/vpbx/")
    call = Call.objects.create(account=account, entry_id="bare", direction="in",
                               client_number="", manager=anna)
    return Bare(deals=[deal, with_bare_contact], contacts=[contact], companies=[company],
                calls=[call], tasks=tasks, conversations=[conversation])


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


# --- Ids beyond 64 bits and other numbers that are not ids ------------------------------------

# One of each kind (a negative number beyond 64 bits takes the path of "-1" and of the
# positive one): every page tries each on every parameter, so each costs seconds.
HOSTILE_IDS = ["99999999999999999999999", "-1", "1e3", "１２", "9" * 5000, "\x00"]
_GET_FORM = re.compile(r'<form\b[^>]*method="get"[^>]*>(.*?)</form>', re.S | re.I)
_FIELD_NAME = re.compile(r'\bname="([\w-]+)"')
_LINK_QUERY = re.compile(r'href="[^"?#]*\?([^"#]*)"')


def _query_names(html: str) -> set[str]:
    """The parameters a list page itself sends: its GET forms' fields and its links' query
    keys (sorting, pagination, quick filters)."""
    names = {name for form in _GET_FORM.findall(html) for name in _FIELD_NAME.findall(form)}
    for query in _LINK_QUERY.findall(html):
        names |= {pair.split("=", 1)[0] for pair in query.replace("&amp;", "&").split("&")}
    return {name for name in names if name} - {"csrfmiddlewaretoken"}


# Parameters that pages read without a form or link of their own naming them (a deal form
# preset with ?contact=, a timeline's ?before= cursor): tried on every page.
_USUAL_PARAMETERS = {"id", "deal", "contact", "company", "page", "before", "q"}


def _fresh_budget():
    """Every request here is one of many from one user: the list rate limits, counted in the
    cache, are not what is tested."""
    from django.core.cache import cache

    cache.clear()


@pytest.mark.parametrize("role", ["director", "anna"])
def test_html_pages_answer_hostile_ids_in_the_query_without_a_500(role, bare, request):
    user = request.getfixturevalue(role)
    client = Client(raise_request_exception=False)
    client.force_login(user)
    failures, tried = [], set()
    for name, route, kwargs in _html_routes():
        for url in _urls(bare, name, route, kwargs):
            _fresh_budget()
            page = client.get(url)
            if page.status_code != 200 or "text/html" not in page.get("Content-Type", ""):
                continue
            for param in _query_names(page.content.decode()) | _USUAL_PARAMETERS:
                tried.add((name, param))
                for value in HOSTILE_IDS:
                    _fresh_budget()
                    status = client.get(url, {param: value}).status_code
                    if status >= 500:
                        failures.append((url, param, value[:30], status))
    assert {("deal_list", "stage"), ("deal_detail", "before")} <= tried
    assert not failures, failures


def _api_list_operations(bare):
    """(path, query parameter names) of every GET of the API schema that takes query
    parameters; a path's {id} is filled with one of the bare objects'."""
    from drf_spectacular.generators import SchemaGenerator

    ids = {"deals": bare.deals[0].pk, "conversations": bare.conversations[0].pk}
    schema = SchemaGenerator().get_schema(request=None, public=True)
    for path, operations in schema["paths"].items():
        operation = operations.get("get")
        names = [p["name"] for p in (operation or {}).get("parameters", [])
                 if p["in"] == "query"]
        if not names:
            continue
        if "{" in path:
            kind = path.split("/")[3]
            if path.count("{") > 1 or kind not in ids:
                continue
            path = re.sub(r"\{\w+\}", str(ids[kind]), path)
        yield path, names


def test_api_list_filters_answer_hostile_ids_without_a_500(bare, director):
    from rest_framework.test import APIClient

    client = APIClient(raise_request_exception=False)
    client.force_authenticate(director)
    operations = list(_api_list_operations(bare))
    assert {"/api/v1/conversations/", "/api/v1/calls/", "/api/v1/deals/"} <= {
        path for path, _names in operations}
    failures = []
    for path, names in operations:
        for name in names:
            for value in HOSTILE_IDS:
                _fresh_budget()
                status = client.get(path, {name: value}).status_code
                if status >= 500:
                    failures.append((path, name, value[:30], status))
    assert not failures, failures


@fuzz_settings(max_examples=300, deadline=None)
@given(value=st.one_of(st.text(), _DIGITS, st.integers(), st.none()))
def test_an_id_from_a_request_is_a_bigint_or_nothing(value):
    from core.http import MAX_ID, int_or_none

    number = int_or_none(value)
    assert number is None or 0 <= number <= MAX_ID
    if isinstance(value, str) and value.isascii() and value.strip().isdigit():
        digits = value.strip().lstrip("0") or "0"
        assert number == (int(digits) if len(digits) < 20 and int(digits) <= MAX_ID else None)


def _every_route_with_parameters():
    """(name, pattern) of every route that takes a parameter, the API's and the admin's too."""
    return [(route.name, route.pattern) for route in site_routes()
            if route.parameters and route.pattern.name]


# Known 500s: none. (The API's paths take at most 19 digits, core.api.views.ID_REGEX; the
# admin of django-otp's devices, which get() a device without catching DoesNotExist, is off:
# OTP_ADMIN_HIDE_SENSITIVE_DATA, since every user sets up their own authenticator.) A 500
# that comes back fails this test; a known one would be listed here with its reason.
_KNOWN_500S: set[str] = set()
_KNOWN_500S_OF_THOUSANDS_OF_DIGITS: set[str] = set()


@pytest.mark.parametrize("number, known", [
    ("99999999999999999999999", _KNOWN_500S),
    ("9" * 5000, _KNOWN_500S_OF_THOUSANDS_OF_DIGITS),
], ids=["beyond 64 bits", "thousands of digits"])
def test_an_id_beyond_64_bits_in_a_path_is_not_found(number, known, director):
    """Every route with an id (HTML, API, admin), GET and POST: a 4xx, never a 500."""
    import uuid

    client = Client(raise_request_exception=False)
    client.force_login(director)
    failures, tried = [], 0
    for name, pattern in _every_route_with_parameters():
        converters = pattern.pattern.converters
        kwargs = {}
        for key in pattern.pattern.regex.groupindex:
            converter = type(converters.get(key)).__name__
            kwargs[key] = {"UUIDConverter": str(uuid.uuid4()), "SlugConverter": "x",
                           "PathConverter": "x", "StringConverter": number}.get(converter,
                                                                                 number)
        try:
            url = reverse(name, kwargs=kwargs)
        except Exception:
            # A route that takes no such id (the admin's regexes, the API's 19 digits at
            # most): the number goes where an id that fits would, and must find nothing.
            placeholder = "4242424242"
            try:
                url = reverse(name, kwargs={key: placeholder if value == number else value
                                            for key, value in kwargs.items()})
            except Exception:  # a parameter that is no number at all
                continue
            url = url.replace(placeholder, number)
        if number not in url:
            continue
        tried += 1
        for method in ("get", "post"):
            _fresh_budget()
            status = getattr(client, method)(url).status_code
            if status >= 500:
                failures.append((name, method, status))
    assert tried > 60
    failing = {name for name, _method, _status in failures}
    assert not failing - known, sorted(failing - known)
    assert not known - failing, f"fixed: take {sorted(known - failing)} off the known 500s"


# --- A signed Mango event with numbers no call has -------------------------------------------

# "1" is what Mango sends; the others are not.
HOSTILE_NUMBERS = ["1", "1e999", "-1e999", "1e308", "9" * 30, "-1", "0", "1.5", "true", "null",
                   '"1"', "[]", "{}", '"１"']


@pytest.mark.parametrize("field", ["seq", "timestamp"])
@pytest.mark.parametrize("number", HOSTILE_NUMBERS)
def test_a_signed_mango_event_with_a_hostile_number_is_answered_not_crashed(field, number,
                                                                            anna):
    """Signed, so it passes the door; its numbers are then the parser's: a 400 (refused,
    nothing stored) or a 200 whose processing does not fail. A timestamp past what a datetime
    holds (1e308, 30 digits) is stored and fails in processing, its error kept on the event
    (telephony.providers.mango._when: OverflowError), never a 500."""
    import json

    from telephony.models import CallEvent, PbxAccount
    from tests.telephony import mango_events as mango

    account = PbxAccount.objects.create(name="pbx", team=anna.team, api_key=mango.API_KEY,
                                        api_salt=mango.API_SALT,
                                        api_base_url="http://127.0.0.1:9/")
    request = mango.scenario("answered_incoming")[0]
    payload = json.loads(request["json"])
    assert field in payload
    text = mango.encode({**payload, field: "HOSTILE"}).replace('"HOSTILE"', number)
    response = mango.post(account, request["path"], text)
    assert response.status_code in (200, 400), response.status_code
    if "e999" in number:  # infinity: the untrusted-JSON door refuses it
        assert response.status_code == 400
    if response.status_code == 400:
        assert not CallEvent.objects.exists()
    else:
        event = CallEvent.objects.get()
        if field == "timestamp" and number in ("1e308", "9" * 30):
            assert event.status == CallEvent.Status.FAILED and "Overflow" in event.error
        else:
            assert event.status == CallEvent.Status.PROCESSED, event.error
