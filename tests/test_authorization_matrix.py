"""The authorization matrix: every route that takes an object id, HTML or API, answers 404 to
a manager of the other team and 401 / a login redirect to an anonymous client.

The routes come from the URL resolver and the OpenAPI schema, not from a hand-kept list: a
new object route that is not in ROUTES below fails `test_every_object_route_is_covered`.
The websocket subscription follows the same rule (tests/crm/test_consumers.py).
"""

import uuid
from dataclasses import dataclass, field

import pytest
from django.test import Client
from django.urls import resolve, reverse
from django.utils import timezone
from rest_framework.test import APIClient

from consents.services import subject_request_register
from crm import services, sharing
from inbox import attachments
from inbox.models import Channel, ChannelIdentity, Conversation, MailDetails, Message
from security import exports, offboarding
from security.audit import incidents
from security.models import Alert, ExportRequest
from tests.factories import make_user
from tests.routes import site_routes


@dataclass(frozen=True)
class Route:
    methods: tuple[str, ...]  # the methods the route serves; each one is checked
    kwargs: object  # world -> URL kwargs
    body: object = field(default_factory=dict)  # a dict, or world -> dict
    api: bool = False
    # The fixture of a user the route serves (default: the owner, anna; exports: head_north).
    actor: str | None = None


def _deal(w):
    return {"pk": w.deal.pk}


def _contact(w):
    return {"pk": w.contact.pk}


def _alert(w):
    return {"pk": w.alert.pk}


def _subject_request(w):
    return {"pk": w.subject_request.pk}


# Object routes by URL name. Parameters without an object behind them are listed apart.
ROUTES: dict[str, Route] = {
    # HTML
    "deal_detail": Route(("get",), _deal),
    "deal_edit": Route(("get", "post"), _deal, {"title": "x"}),
    "deal_move": Route(("post",), _deal, {"stage": "1"}),
    "deal_status": Route(("post",), _deal, {"status": "won"}),
    "deal_note_add": Route(("post",), _deal, {"text": "x"}),
    "deal_task_add": Route(("get", "post"), _deal, {"title": "x"}),  # GET: the folded form
    "deal_timeline": Route(("get",), _deal),
    "deal_mention_candidates": Route(("get",), _deal),
    "deal_timeline_entry": Route(("get",), lambda w: {"pk": w.deal.pk, "entry_id": w.entry.pk}),
    "task_complete": Route(("post",), lambda w: {"pk": w.task.pk}),
    "contact_detail": Route(("get",), _contact),
    "contact_edit": Route(("get", "post"), _contact, {"name": "x", "source": "manual"}),
    "contact_note_add": Route(("post",), _contact, {"text": "x"}),
    # Merging two cards of one client, and its undo: whoever may change both cards.
    "contact_merge": Route(("get", "post"), lambda w: {"pk": w.contact.pk,
                                                       "other": w.duplicate.pk}),
    "contact_merge_undo": Route(("post",), lambda w: {"pk": w.contact.pk,
                                                      "merge_id": w.merge.pk}),
    "contact_point_reveal": Route(
        ("post",), lambda w: {"pk": w.contact.pk, "point_id": w.point.pk},
        {"reason": "для проверки"},
    ),
    # The privacy center's staff side; the owner's empty POST is a 400 (no channel chosen).
    "privacy_link_send": Route(("get", "post"), _contact),
    "privacy_links_revoke": Route(("post",), _contact),
    # The consent history (GET) and a manager's grant or withdrawal (POST).
    "contact_consents": Route(("get", "post"), _contact,
                              {"purpose": "newsletter", "kind": "granted", "note": "x"}),
    # Campaigns: their author, the heads of its team, the admin.
    "campaign_detail": Route(("get",), lambda w: {"pk": w.campaign.pk}),
    "campaign_send": Route(("post",), lambda w: {"pk": w.campaign.pk}),
    "campaign_cancel": Route(("post",), lambda w: {"pk": w.campaign.pk}),
    "company_detail": Route(("get",), lambda w: {"pk": w.company.pk}),
    "company_edit": Route(("get", "post"), lambda w: {"pk": w.company.pk}, {"name": "x"}),
    "deal_shares": Route(("get", "post"), _deal, lambda w: {"user": w.colleague.pk,
                                                             "access": "read"}),
    "deal_share_revoke": Route(("post",), lambda w: {"pk": w.deal.pk, "user_id": w.colleague.pk}),
    "conversation_reply": Route(
        ("post",), lambda w: {"pk": w.deal.pk, "conversation_id": w.conversation.pk},
        {"text": "x"},
    ),
    "message_retry": Route(("post",), lambda w: {"pk": w.deal.pk, "message_id": w.message.pk}),
    "attachment_download": Route(
        ("get",), lambda w: {"pk": w.deal.pk, "attachment_id": w.attachment.pk},
    ),
    # A client mail's HTML, served for the card's sandboxed frame.
    "mail_html": Route(("get",), lambda w: {"pk": w.deal.pk, "message_id": w.message.pk}),
    "conversation_messages": Route(
        ("get",), lambda w: {"pk": w.deal.pk, "conversation_id": w.conversation.pk},
    ),
    "conversation_read": Route(
        ("post",), lambda w: {"pk": w.deal.pk, "conversation_id": w.conversation.pk},
    ),
    "call_recording": Route(("get",), lambda w: {"pk": w.deal.pk, "call_id": w.call.pk}),
    # The owner has no extension in this world: a 400 that says so, not a refusal.
    "click_to_call": Route(("post",), _deal),
    "click_to_call_status": Route(
        ("get",), lambda w: {"pk": w.deal.pk, "command_id": w.command.pk},
    ),
    "export_detail": Route(("get",), lambda w: {"export_id": w.export.pk}),
    # The incoming-call pop-up: the call's manager, whoever it rang, whoever sees its deal.
    "call_popup": Route(("get",), lambda w: {"pk": w.call.pk}),
    "export_download": Route(("get",), lambda w: {"export_id": w.export.pk}),
    # The security console: its owners are the security officers (and admins).
    "incident_detail": Route(("get",), lambda w: {"pk": w.incident.pk},
                             actor="security_officer"),
    "incident_action": Route(("post",), lambda w: {"pk": w.incident.pk},
                             {"action": "note", "text": "x"}, actor="security_officer"),
    "incident_notification": Route(("get",), lambda w: {"pk": w.incident.pk},
                                   actor="security_officer"),
    "security_alert_detail": Route(("get",), _alert, actor="security_officer"),
    "security_alert_assign": Route(("post",), _alert, {"assign-assignee": ""},
                                   actor="security_officer"),
    "security_alert_resolve": Route(("post",), _alert, {"resolve-outcome": "resolved",
                                                        "resolve-comment": "проверено"},
                                    actor="security_officer"),
    "security_alert_evidence": Route(("get",), _alert, actor="security_officer"),
    # A rule's code names no client object, but the page is the console's: 404 to outsiders.
    "security_rule_edit": Route(("get", "post"), lambda w: {"code": "deletions"},
                                {"enabled": "on", "threshold": "12", "window_minutes": "10",
                                 "response": "alert"}, actor="security_officer"),
    # The admin's user pages: every other role gets 404 (the list, which names no object,
    # answers them 403: tests/security/test_offboarding_surfaces.py).
    "user_offboard": Route(("get", "post"), lambda w: {"pk": w.leaver.pk},
                           lambda w: {"successor": w.colleague.pk, "when": "now"},
                           actor="director"),
    "user_reinstate": Route(("post",), lambda w: {"pk": w.leaver.pk}, actor="director"),
    "offboarding_detail": Route(("get",), lambda w: {"pk": w.offboarding.pk},
                                actor="director"),
    "offboarding_cancel": Route(("post",), lambda w: {"pk": w.offboarding.pk},
                                actor="director"),
    # Data subjects' requests: the contact's owner registers, sees, extends and answers them
    # (an erasure request is answered by the admin or the security officer only).
    "contact_subject_request_add": Route(("post",), _contact, {"kind": "access"}),
    "subject_request_extend": Route(("post",), _subject_request, {"reason": "нужна справка"}),
    "subject_request_close": Route(("post",), _subject_request, {"response": "Ответили"}),
    # API
    "api:contact-detail": Route(("get", "patch"), _contact, {"name": "x"}, api=True),
    "api:contact-reveal": Route(
        ("post",), _contact, lambda w: {"point": w.point.pk, "reason": "для проверки"}, api=True
    ),
    "api:company-detail": Route(
        ("get", "patch"), lambda w: {"pk": w.company.pk}, {"name": "x"}, api=True
    ),
    "api:deal-detail": Route(("get", "patch"), _deal, {"title": "x"}, api=True),
    "api:deal-timeline": Route(("get",), _deal, api=True),
    "api:deal-notes": Route(("post",), _deal, {"text": "x"}, api=True),
    "api:deal-move": Route(("post",), _deal, {"stage": 1}, api=True),
    "api:deal-close": Route(("post",), _deal, {"status": "won"}, api=True),
    "api:task-detail": Route(("get", "patch"), lambda w: {"pk": w.task.pk}, {"title": "x"},
                             api=True),
    "api:task-complete": Route(("post",), lambda w: {"pk": w.task.pk}, api=True),
    "api:export-download": Route(("get",), lambda w: {"export_id": w.export.pk}, api=True),
    "api:deal-shares": Route(("get", "post"), _deal,
                             lambda w: {"user": w.colleague.pk, "access": "read"}, api=True),
    "api:deal-share-detail": Route(
        ("delete",), lambda w: {"pk": w.deal.pk, "user_id": w.colleague.pk}, api=True
    ),
    "api:conversation-detail": Route(("get",), lambda w: {"pk": w.conversation.pk}, api=True),
    "api:conversation-messages": Route(("get", "post"), lambda w: {"pk": w.conversation.pk},
                                       {"text": "x"}, api=True),
    "api:conversation-message-retry": Route(
        ("post",), lambda w: {"pk": w.conversation.pk, "message_id": w.message.pk}, api=True
    ),
    "api:call-detail": Route(("get",), lambda w: {"pk": w.call.pk}, api=True),
    # An empty body: the admin gets 400 (nobody is offboarded by the matrix), others 404.
    "api:user-offboard": Route(("post", "delete"), lambda w: {"pk": w.leaver.pk}, api=True,
                               actor="director"),
    "api:alert-detail": Route(("get",), _alert, api=True, actor="security_officer"),
    "api:subject-request-detail": Route(("get",), _subject_request, api=True),
    "api:subject-request-extend": Route(("post",), _subject_request,
                                        {"reason": "нужна справка"}, api=True),
    "api:subject-request-close": Route(("post",), _subject_request, {"response": "Ответили"},
                                       api=True),
}

# Routes with a parameter that names no client object.
NOT_OBJECT_ROUTES = {
    "api:docs-asset",
    # Takes a channel's (or PBX account's) uuid, not a client object; the caller is the
    # provider, authenticated by the channel's secret or each request's signature
    # (tests/inbox/test_telegram_inbound.py, tests/telephony/test_mango_inbound.py).
    "webhook",
    # Take a website chat channel's public key; the callers are visitors of the company's site,
    # allowed by the channel's site origins and their own token (tests/inbox/test_website_chat.py).
    "widget:script",
    "widget:messages",
    # Takes the privacy center's signed token, not an object id; the caller is the client, and
    # the token alone says whose data it opens (tests/consents/test_privacy_center.py: expiry,
    # tampering, revocation, one client's link never showing another, staff refused).
    "privacy:open",
    # Takes a consent site's public key; the callers are the company's website forms, allowed
    # by the site's origins (tests/consents/test_capture.py).
    "consent_capture",
    # Takes the double opt-in link's token, mailed to the address a form gave; the caller is
    # that address's owner (tests/consents/test_double_opt_in.py: expiry, tampering, once).
    "consent_confirm",
}


def _object_routes():
    """(name, pattern) of every route with a parameter, outside the Django admin (an admin
    role surface; see test_staff_status_without_the_admin_role_opens_no_admin)."""
    return [(route.name, route.pattern)
            for route in site_routes(skip_namespaces=("admin",), resolvers=True)
            if route.parameters]


def test_every_object_route_is_covered():
    names = {name for name, _pattern in _object_routes()}
    uncovered = names - set(ROUTES) - NOT_OBJECT_ROUTES
    assert not uncovered, f"object routes missing from the authorization matrix: {uncovered}"
    assert not set(ROUTES) - names, "the matrix lists routes that no longer exist"


def test_every_object_path_in_the_openapi_schema_is_covered(db):
    schema = APIClient().get("/api/schema/", {"format": "json"}).json()
    for path in schema["paths"]:
        if "{" not in path:
            continue
        concrete = path
        for parameter in ("{id}", "{user_id}", "{point_id}", "{message_id}"):
            concrete = concrete.replace(parameter, "1")
        concrete = concrete.replace("{export_id}", str(uuid.uuid4()))
        match = resolve(concrete)
        name = ":".join(filter(None, [match.namespace, match.url_name]))
        assert name in ROUTES, f"{path} ({name}) is not in the authorization matrix"


@dataclass
class World:
    deal: object
    contact: object
    company: object
    task: object
    entry: object
    point: object
    export: object
    colleague: object  # the deal is shared with them
    conversation: object = None  # a Telegram chat on the deal
    message: object = None  # an outbound message of it that failed to send
    attachment: object = None  # the file of that message, stored
    call: object = None  # a PBX call on the deal, with a stored recording
    command: object = None  # a click-to-call command from the deal
    alert: object = None  # an alert about the deal's owner
    incident: object = None  # opened by the security officer from that alert
    leaver: object = None  # a manager whose offboarding is scheduled for tomorrow
    offboarding: object = None  # that offboarding
    subject_request: object = None  # the contact's request for access to their data
    campaign: object = None  # anna's draft campaign through the deal's Telegram channel
    duplicate: object = None  # another card of the contact's client, not merged yet
    merge: object = None  # a third card, merged into the contact


@pytest.fixture
def world(anna, ivan, head_north, director, anna_company, security_officer):
    contact = services.contact_create(by=anna, name="Клиент Анны", company=anna_company,
                                      phones=["+79161112233"])
    deal = services.deal_create(by=anna, title="Сделка Анны", contact=contact)
    task = services.task_create(by=anna, title="Позвонить", deal=deal)
    export = exports.export_request(user=head_north, resource="deals", fmt="csv", filters={},
                                     ip=None)
    assert export.status == ExportRequest.Status.READY
    sharing.deal_share(deal=deal, user=ivan, access="read", by=anna)
    conversation, message = _telegram_chat(deal)
    attachment = attachments.attach(message=message, data=b"%PDF-1.7", name="offer.pdf",
                                    mime_type="application/pdf")
    call, command = _phone_call(deal)
    alert = Alert.objects.create(rule="foreign_cards", user=anna, count=30, threshold=30,
                                 window_minutes=10, evidence={"records": []})
    incident = incidents.incident_open(alerts=[alert], by=security_officer)
    campaign = _campaign(anna, conversation.channel)
    leaver = make_user("leaver", "manager", anna.team)
    scheduled = offboarding.offboard_user(leaver, head_north, by=director,
                                          at=timezone.now() + timezone.timedelta(days=1))
    from crm import merge as merging

    duplicate = services.contact_create(by=anna, name="Клиент Анны (дубль)")
    merged = merging.contacts_merge(by=anna, kept=contact, duplicate=services.contact_create(
        by=anna, name="Клиент Анны (слит)"))
    return World(
        duplicate=duplicate, merge=merged,
        deal=deal, contact=contact, company=anna_company, task=task,
        entry=deal.timeline.first(), point=contact.points.get(), export=export, colleague=ivan,
        conversation=conversation, message=message, attachment=attachment, call=call,
        command=command, alert=alert, incident=incident, leaver=leaver,
        offboarding=scheduled, campaign=campaign,
        subject_request=subject_request_register(contact=contact, kind="access",
                                                 source="staff", by=anna),
    )


def _campaign(by, channel):
    from consents.models import Purpose
    from consents.services import purpose_text_publish
    from inbox import campaigns

    purpose = Purpose.objects.create(code="newsletter", title="Рассылка",
                                     is_advertising=True)
    purpose_text_publish(purpose=purpose, text="Согласен на рассылку.")
    return campaigns.campaign_create(by=by, name="Акция", purpose=purpose, channel=channel,
                                     text="Скидка")


def _phone_call(deal):
    """A call of the deal's client with a stored recording, and a click-to-call command."""
    from telephony import recordings
    from telephony.models import Call, CallbackCommand, PbxAccount, Recording

    account = PbxAccount.objects.create(name="Mango", team=deal.team,
                                        api_base_url="http://127.0.0.1:9/vpbx/")
    call = Call.objects.create(account=account, entry_id="entry-1", direction="in",
                               client_number="+79161112233", deal=deal, contact=deal.contact,
                               manager=deal.owner)
    Recording.objects.create(call=call, recording_id="rec-1", mime_type="audio/mpeg",
                             file_path=recordings.storage.store(b"ID3"), size=3)
    command = CallbackCommand.objects.create(account=account, user=deal.owner, deal=deal,
                                             to_number="79161112233", extension="101")
    return call, command


def _telegram_chat(deal):
    """A conversation on `deal` whose client blocked the bot, and a reply that failed: retrying
    it fails again at once, without any HTTP call."""
    channel = Channel.objects.create(kind=Channel.Kind.TELEGRAM, name="Telegram",
                                     team=deal.team, credentials="1:x",
                                     api_base_url="http://127.0.0.1:9")
    identity = ChannelIdentity.objects.create(channel=channel, external_id="555001",
                                              contact=deal.contact, is_unreachable=True)
    conversation = Conversation.objects.create(channel=channel, identity=identity,
                                               contact=deal.contact, deal=deal)
    message = Message.objects.create(conversation=conversation, channel=channel,
                                     direction=Message.Direction.OUTBOUND, text="Добрый день",
                                     status=Message.Status.FAILED, error="Forbidden")
    MailDetails.objects.create(message=message, mail_id="m1@crm.test", html="<p>Счёт</p>")
    return conversation, message


@pytest.fixture
def anna_company(anna):
    return services.company_create(by=anna, name="ООО «Ромашка»")


def _request(client, method, url, route, world):
    body = route.body(world) if callable(route.body) else route.body
    if route.api:
        return getattr(client, method)(url, body, format="json")
    return getattr(client, method)(url, body if method == "post" else None)


def _client(user, api):
    client = APIClient() if api else Client()
    if user is not None:
        client.force_login(user)
    return client


CASES = [(name, method) for name, route in ROUTES.items() for method in route.methods]


@pytest.mark.parametrize("name, method", CASES, ids=[f"{n} {m}" for n, m in CASES])
def test_a_manager_of_the_other_team_gets_404(name, method, world, south):
    route = ROUTES[name]
    outsider = make_user("stranger", "manager", south)
    url = reverse(name, kwargs=route.kwargs(world))
    response = _request(_client(outsider, route.api), method, url, route, world)
    assert response.status_code == 404, (url, method, response.status_code)


@pytest.mark.parametrize("name, method", CASES, ids=[f"{n} {m}" for n, m in CASES])
def test_an_anonymous_client_is_sent_to_log_in(name, method, world):
    route = ROUTES[name]
    url = reverse(name, kwargs=route.kwargs(world))
    response = _request(_client(None, route.api), method, url, route, world)
    if route.api:
        assert response.status_code == 401, (url, method, response.status_code)
    else:
        assert response.status_code == 302, (url, method, response.status_code)
        assert response["Location"].startswith("/login/")


@pytest.mark.parametrize("name, method", CASES, ids=[f"{n} {m}" for n, m in CASES])
def test_the_owner_is_not_refused(name, method, world, anna, head_north, request):
    """So that the outsider's 404s above come from the rule, not from a broken URL."""
    route = ROUTES[name]
    if route.actor:
        owner = request.getfixturevalue(route.actor)
    else:
        owner = head_north if "export" in name else anna
    url = reverse(name, kwargs=route.kwargs(world))
    response = _request(_client(owner, route.api), method, url, route, world)
    assert response.status_code not in (401, 403, 404, 405), (url, method, response.status_code)


# --- Actions: a state change needs the edit right, not only sight -----------------------------

ACTION_METHODS = ("post", "put", "patch", "delete")
# Object routes whose POST changes nothing of the client's record, so that sight is enough:
READ_ACTIONS = {
    # Revealing a masked value is a read, justified and counted (security.reveal).
    "contact_point_reveal", "api:contact-reveal",
    # Marks the chat read for the reader alone.
    "conversation_read",
}
ACTION_CASES = [(name, method) for name, method in CASES
                if method in ACTION_METHODS and name not in READ_ACTIONS
                and ROUTES[name].actor is None and "export" not in name]


def _refused(response) -> bool:
    """Refused: 403 or 404 (a route that hides the object entirely), or a page redirected
    back with the refusal as its message rather than the change."""
    return response.status_code in (403, 404)


@pytest.mark.parametrize("name, method", ACTION_CASES, ids=[f"{n} {m}" for n, m in ACTION_CASES])
def test_a_read_only_share_cannot_act(name, method, world, ivan):
    """ivan holds a read share of anna's deal: he sees it, its client and their requests, and
    may change none of them on any surface."""
    route = ROUTES[name]
    url = reverse(name, kwargs=route.kwargs(world))
    response = _request(_client(ivan, route.api), method, url, route, world)
    assert _refused(response), (url, method, response.status_code)


ROLES_WITHOUT_CLIENT_WRITES = ("marketer", "support", "security_officer")
# The security officer changes no client record but answers data subjects' requests for the
# whole company, as the admin does (consents.selectors.REQUEST_HANDLER_ROLES).
SUBJECT_REQUEST_ACTIONS = {"contact_subject_request_add", "subject_request_extend",
                           "subject_request_close", "api:subject-request-extend",
                           "api:subject-request-close"}
ROLE_ACTIONS = {"security_officer": SUBJECT_REQUEST_ACTIONS}


@pytest.mark.parametrize("role", ROLES_WITHOUT_CLIENT_WRITES)
@pytest.mark.parametrize("name, method", ACTION_CASES, ids=[f"{n} {m}" for n, m in ACTION_CASES])
def test_a_role_without_the_right_to_change_clients_cannot_act(name, method, role, world,
                                                               request):
    route = ROUTES[name]
    user = request.getfixturevalue(role)
    url = reverse(name, kwargs=route.kwargs(world))
    response = _request(_client(user, route.api), method, url, route, world)
    if name in ROLE_ACTIONS.get(role, ()):
        assert response.status_code not in (401, 403, 404, 405), (role, url, method,
                                                                  response.status_code)
    else:
        assert _refused(response), (role, url, method, response.status_code)


@pytest.mark.parametrize("role", ("head_north", "director"))
@pytest.mark.parametrize("name, method", ACTION_CASES, ids=[f"{n} {m}" for n, m in ACTION_CASES])
def test_the_roles_that_may_change_the_teams_clients_are_not_refused(name, method, role, world,
                                                                    request):
    route = ROUTES[name]
    user = request.getfixturevalue(role)
    url = reverse(name, kwargs=route.kwargs(world))
    response = _request(_client(user, route.api), method, url, route, world)
    assert response.status_code not in (401, 403, 404, 405), (role, url, method,
                                                              response.status_code)
