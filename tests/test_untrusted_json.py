"""JSON from outside goes through one door (core.untrusted), and every surface that takes it
answers a clear 400 to what it cannot read, never a 500: nesting thousands deep (Python's json
raises RecursionError there), numbers hundreds of digits long, NaN, bytes that are not UTF-8.
"""

import json

import pytest
from django.test import Client
from hypothesis import given, settings
from hypothesis import strategies as st

from core.untrusted import MAX_DEPTH, BodyTooLarge, UntrustedJSON, parse_json
from tests.inbox.messengers import signed_headers

HOSTILE = {
    # Thousands deep, yet under every surface's size limit (the consent form's is 16 KB).
    "deep arrays": b"[" * 5_000 + b"]" * 5_000,
    "deep objects": b'{"a":' * 2_000 + b"1" + b"}" * 2_000,
    "just past the depth limit": b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1),
    "a long number": b'{"update_id": ' + b"9" * 500 + b"}",
    "NaN": b'{"update_id": NaN}',
    "infinity": b'{"x": 1e999}',
    "not UTF-8": b'{"text": "\xff\xfe"}',
    "truncated": b'{"update_id": 1, "message": {',
    # PostgreSQL stores a NUL neither in text nor in jsonb: a provider's event holding one
    # was a 500 when it was stored.
    "a NUL in a string": b'{"update_id": 1, "text": "a\\u0000b"}',
    "a NUL in a key": b'{"\\u0000": 1}',
}


# --- The door itself ------------------------------------------------------------------------

# Any text but NUL, which the door refuses (tested below).
texts = st.text(alphabet=st.characters(blacklist_characters="\x00"))
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63) | texts
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(texts.filter(lambda t: len(t) <= 8), children, max_size=4),
    max_leaves=30,
)


@given(json_values)
def test_what_json_can_say_within_the_limits_reads_back_the_same(value):
    assert parse_json(json.dumps(value).encode(), max_bytes=1_000_000) == value


@given(json_values, st.text(max_size=5))
def test_a_nul_anywhere_is_refused(value, around):
    for hostile in ([value, f"{around}\x00"], {f"\x00{around}": value}):
        with pytest.raises(UntrustedJSON, match="NUL"):
            parse_json(json.dumps(hostile).encode(), max_bytes=1_000_000)


@given(st.binary(max_size=400) | st.text(max_size=400).map(str.encode))
@settings(max_examples=300)
def test_any_bytes_give_a_value_or_untrusted_json_and_nothing_else(data):
    try:
        parse_json(data, max_bytes=1_000)
    except UntrustedJSON:
        pass


@given(st.integers(min_value=1, max_value=3 * MAX_DEPTH))
def test_depth_is_refused_exactly_past_the_limit(depth):
    data = "[" * depth + "]" * depth
    if depth <= MAX_DEPTH:
        assert parse_json(data, max_bytes=10_000) is not None
    else:
        with pytest.raises(UntrustedJSON):
            parse_json(data, max_bytes=10_000)


@pytest.mark.parametrize("name", HOSTILE)
def test_each_hostile_body_is_refused(name):
    with pytest.raises(UntrustedJSON):
        parse_json(HOSTILE[name], max_bytes=1_000_000)


def test_a_body_over_the_limit_is_too_large():
    with pytest.raises(BodyTooLarge):
        from core.untrusted import request_body

        class Request:
            META = {"CONTENT_LENGTH": "2000"}
            body = b"{}"

        request_body(Request(), max_bytes=1000)


# --- Every surface that reads JSON ----------------------------------------------------------

SITE = "https://shop.example"


@pytest.fixture
def surfaces(north, anna, director):
    """Each JSON entry point as (client, path, headers, how the body is posted)."""
    from consents.models import ConsentSite
    from inbox.models import Channel
    from telephony.models import PbxAccount
    from tests.telephony.mango_events import API_KEY, API_SALT, sign

    telegram = Channel.objects.create(kind=Channel.Kind.TELEGRAM, name="tg", team=north,
                                      webhook_secret="s" * 20, credentials="1:x",
                                      api_base_url="http://127.0.0.1:9")
    messengers = {kind: Channel.objects.create(
        kind=kind, name=kind, team=north, webhook_secret="s" * 20, credentials="x",
        handshake_secret="code", account_id="1", api_base_url="http://127.0.0.1:9")
        for kind in ("whatsapp", "max", "vk")}
    website = Channel.objects.create(kind=Channel.Kind.WEBSITE, name="web", team=north,
                                     public_key="pk_untrusted", allowed_origins=SITE)
    account = PbxAccount.objects.create(name="pbx", team=north, api_key=API_KEY,
                                        api_salt=API_SALT, api_base_url="http://127.0.0.1:9/")
    site = ConsentSite.objects.create(name="site", team=north, allowed_origins=SITE)
    api = Client()
    api.force_login(anna)

    def mango(body: bytes):
        text = body.decode(errors="replace")
        return Client().post(f"/hooks/mango/{account.uuid}/events/call",
                             {"vpbx_api_key": API_KEY, "sign": sign(text), "json": text})

    def raw(client, path, **headers):
        return lambda body: client.post(path, data=body, content_type="application/json",
                                        **headers)

    def signed(kind: str):
        """Signed as its provider signs (VK: the secret and community inside an object)."""
        path = f"/hooks/{kind}/{messengers[kind].uuid}/"

        def post(body: bytes):
            if kind == "vk":
                try:
                    value = parse_json(body, max_bytes=10_000_000)
                except ValueError:
                    value = None
                if isinstance(value, dict):
                    body = json.dumps({**value, "secret": "s" * 20, "group_id": 1}).encode()
            headers = signed_headers(messengers[kind], body)
            return Client().post(path, data=body, content_type="application/json", **headers)
        return post

    return {
        "telegram webhook": raw(Client(), f"/hooks/telegram/{telegram.uuid}/",
                                HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN="s" * 20),
        "whatsapp webhook": signed("whatsapp"),
        "max webhook": signed("max"),
        "vk webhook": signed("vk"),
        "mango webhook": mango,
        "website chat": raw(Client(), f"/widget/{website.public_key}/messages/",
                            HTTP_ORIGIN=SITE),
        "consent form": raw(Client(), f"/consents/capture/{site.public_key}/", HTTP_ORIGIN=SITE),
        "REST API": raw(api, "/api/v1/companies/"),
    }


SURFACES = ["telegram webhook", "whatsapp webhook", "max webhook", "vk webhook", "mango webhook",
            "website chat", "consent form", "REST API"]


@pytest.mark.django_db
@pytest.mark.parametrize("surface, body", [
    (surface, body) for surface in SURFACES for body in HOSTILE
    # Mango's JSON is a form field: text, so bytes that are not UTF-8 never reach it as such.
    if not (surface == "mango webhook" and body == "not UTF-8")
])
def test_every_surface_answers_400_and_stores_nothing(surfaces, surface, body):
    from consents.models import ConsentEvent
    from inbox.models import InboundEvent
    from telephony.models import CallEvent

    response = surfaces[surface](HOSTILE[body])
    assert response.status_code == 400, response.content[:200]
    assert not InboundEvent.objects.exists()
    assert not CallEvent.objects.exists()
    assert not ConsentEvent.objects.exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("body", ["deep arrays", "a long number", "truncated"])
async def test_the_websocket_answers_bad_request_and_stays_open(anna, body):
    from tests.crm.test_consumers import connect

    communicator, connected = await connect(anna)
    assert connected
    await communicator.send_to(text_data=HOSTILE[body].decode(errors="replace"))
    assert await communicator.receive_json_from() == {"error": "bad_request"}
    await communicator.send_json_to({"subscribe": "deal", "id": 10**9})
    assert (await communicator.receive_json_from())["error"] == "not_found"
    await communicator.disconnect()


def test_every_api_view_reads_json_through_the_door():
    """A view that set DRF's own JSONParser would take deep JSON to a 500 again."""
    from django.urls import URLPattern, URLResolver, get_resolver

    from core.api.parsers import UntrustedJSONParser

    def views(patterns):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                yield from views(pattern.url_patterns)
            elif isinstance(pattern, URLPattern):
                view = getattr(pattern.callback, "cls", None)
                if view is not None and hasattr(view, "parser_classes"):
                    yield pattern.name, view

    found = dict(views(get_resolver().url_patterns))
    assert {"token", "deal-shares", "contact-reveal", "export-create", "consents",
            "conversation-messages", "user-offboard"} <= set(found)
    wrong = sorted(name for name, view in found.items()
                   if not all(issubclass(parser, UntrustedJSONParser)
                              for parser in view.parser_classes
                              if "json" in parser.media_type))
    assert not wrong, wrong
