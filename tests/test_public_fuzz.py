"""Random and hostile bodies on every public endpoint (Hypothesis): whatever arrives, the
answer is never a 5xx, and a body an endpoint refuses leaves nothing behind: no delivery, no
call event, no consent, no client, no message. The hand-picked worst cases are in
tests/test_untrusted_json.py; this one lets Hypothesis look for the rest, including bodies
shaped like the real thing with hostile values in the fields."""

import json

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from tests.test_untrusted_json import SURFACES, surfaces  # noqa: F401 (the fixture)

pytestmark = pytest.mark.django_db

hostile_text = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["<script>alert(1)</script>", "=HYPERLINK(\"http://x\")", "\x00",
                     "\ud800".encode("utf-8", "surrogatepass").decode("utf-8", "replace"),
                     "😀" * 50, "1e999", "-0", "' OR 1=1 --", "../../etc/passwd"]),
)
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                    hostile_text)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)


def shaped(keys: dict):
    """A body with the endpoint's own field names, holding anything at all."""
    return st.fixed_dictionaries({}, optional={k: st.one_of(v, json_values)
                                               for k, v in keys.items()})


SHAPES = {
    "telegram webhook": shaped({
        "update_id": st.integers(),
        "message": shaped({"message_id": st.integers(), "text": hostile_text,
                           "chat": shaped({"id": st.integers(), "type": hostile_text}),
                           "from": shaped({"id": st.integers(), "first_name": hostile_text}),
                           "date": st.integers()}),
        "edited_message": json_values, "my_chat_member": json_values,
    }),
    "whatsapp webhook": shaped({
        "object": hostile_text,
        "entry": st.lists(shaped({"id": hostile_text, "changes": st.lists(shaped({
            "field": st.sampled_from(["messages", "x"]),
            "value": shaped({
                "metadata": shaped({"phone_number_id": st.sampled_from(["1", "2"])}),
                "contacts": json_values,
                "messages": st.lists(shaped({
                    "from": hostile_text, "id": hostile_text, "timestamp": hostile_text,
                    "type": st.sampled_from(["text", "image", "location", "reaction", "x"]),
                    "text": shaped({"body": hostile_text}), "image": json_values,
                    "context": json_values}), max_size=2),
                "statuses": st.lists(shaped({
                    "id": hostile_text, "status": st.sampled_from(["sent", "read", "x"]),
                    "timestamp": hostile_text, "errors": json_values}), max_size=2),
            })}), max_size=2)}), max_size=2),
    }),
    "max webhook": shaped({
        "update_type": st.sampled_from(["message_created", "message_edited", "bot_stopped",
                                        "message_callback", "x"]),
        "timestamp": st.integers(), "chat_id": st.integers(),
        "message": shaped({"sender": json_values,
                           "recipient": shaped({"chat_id": st.integers(),
                                                "chat_type": st.sampled_from(["dialog", "x"])}),
                           "timestamp": st.integers(),
                           "body": shaped({"mid": hostile_text, "text": hostile_text,
                                           "attachments": json_values}),
                           "link": json_values}),
        "callback": json_values,
    }),
    "vk webhook": shaped({
        "type": st.sampled_from(["message_new", "message_edit", "message_reply",
                                 "message_deny", "confirmation", "x"]),
        "event_id": hostile_text, "object": shaped({
            "message": shaped({"id": st.integers(), "date": st.integers(),
                               "peer_id": st.integers(), "from_id": st.integers(),
                               "text": hostile_text, "attachments": json_values,
                               "geo": json_values, "reply_message": json_values}),
            "user_id": st.integers(), "peer_id": st.integers(), "text": hostile_text}),
    }),
    "mango webhook": shaped({"entry_id": hostile_text, "call_id": hostile_text,
                             "timestamp": st.integers(), "seq": st.integers(),
                             "call_state": hostile_text,
                             "from": shaped({"number": hostile_text}),
                             "to": shaped({"number": hostile_text})}),
    # A first message (no token yet) is what a visitor's browser sends with these two.
    "website chat": st.fixed_dictionaries(
        {"id": st.uuids().map(str), "text": hostile_text},
        optional={"name": st.one_of(hostile_text, json_values),
                  "token": st.one_of(hostile_text, json_values)}),
    "consent form": shaped({"email": hostile_text, "phone": hostile_text, "name": hostile_text,
                            "purposes": json_values, "text_versions": json_values,
                            "page_url": hostile_text}),
    "REST API": shaped({"name": hostile_text, "website": hostile_text, "inn": hostile_text}),
}

bodies = {
    surface: st.one_of(
        st.binary(max_size=300),
        json_values.map(lambda value: json.dumps(value).encode()),
        SHAPES[surface].map(lambda value: json.dumps(value).encode()),
    )
    for surface in SURFACES
}


def _stored() -> dict[str, int]:
    from consents.models import ConsentEvent
    from crm.models import Contact
    from inbox.models import InboundEvent, Message
    from telephony.models import CallEvent

    return {model.__name__: model.objects.count()
            for model in (InboundEvent, CallEvent, ConsentEvent, Contact, Message)}


def _parse_what_was_stored() -> None:
    """Whatever a messenger's webhook took, its provider reads without an exception (the
    worker would record a failure and retry it for nothing)."""
    from inbox.models import InboundEvent
    from inbox.providers.base import provider_for

    for event in InboundEvent.objects.select_related("channel"):
        provider_for(event.channel).parse(json.loads(event.payload))


@pytest.mark.parametrize("surface", SURFACES)
def test_no_body_gets_a_5xx_and_a_refused_one_leaves_nothing(surfaces, surface,  # noqa: F811
                                                             settings):
    # The per-address budgets would answer 429 to most examples and hide the rest.
    settings.CONSENT_CAPTURE_RATE = settings.WIDGET_RATE = "100000/minute"
    post = surfaces[surface]

    @hypothesis_settings(max_examples=60, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(body=bodies[surface])
    def check(body):
        before = _stored()
        response = post(body)
        assert response.status_code < 500, (body[:200], response.content[:300])
        if response.status_code >= 400:
            assert _stored() == before, (body[:200], response.status_code)
        else:
            _parse_what_was_stored()

    check()
