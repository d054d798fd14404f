"""The privacy center: signed links that expire, resist tampering and can be revoked; the
client's pages (what we keep, consents and their history, withdraw, requests); the download
holding all of the client's data and nobody else's; the staff action that sends a link."""

import base64
import io
import json
import zipfile
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from consents import privacy, selectors, services, subject_keys
from consents.models import CalendarDay, ConsentEvent, SubjectRequest
from crm.models import TimelineEntry
from inbox.models import Attachment, Channel, ChannelIdentity, Conversation, Message
from security.models import AccessRecord
from telephony.models import Call, PbxAccount
from tests.factories import make_contact, make_deal
from tests.inbox.fake_bot_api import FakeBotApi

MSK = ZoneInfo("Europe/Moscow")
XSS = "<img src=x onerror=alert(1)>"
GRANTED, WITHDRAWN = ConsentEvent.Kind.GRANTED, ConsentEvent.Kind.WITHDRAWN

# The other client's values: none of them may ever reach anna's client's pages or archive.
OTHER = {
    "name": "Ирина Котова-Зазеркальная",
    "phone": "+79035550199",
    "email": "irina.secret@kotova.example",
    "deal": "Южный склад Зазеркалья",
    "message": "СЕКРЕТ-ИРИНЫ-42",
    "attachment": "irina-passport.pdf",
    "call": "+79035550199",
}


def grant(contact, purpose):
    return services.consent_record(contact=contact, purpose=purpose, kind=GRANTED,
                                   source=ConsentEvent.Source.WEBSITE_FORM,
                                   evidence={"ip": "203.0.113.5"})


def url(contact, **kwargs):
    """The link the client gets: it opens a visit and goes on to the token-free pages."""
    return reverse("privacy:open", kwargs={"token": privacy.privacy_token(contact, **kwargs)})


def page(link, client=None):
    """The page a link leads to, as the client's browser ends up on it."""
    return (client or Client()).get(link, follow=True)


def visitor(contact, client=None, **kwargs) -> Client:
    """A browser that opened the contact's link (its visit cookie set)."""
    client = client or Client()
    response = client.get(url(contact, **kwargs))
    assert response.status_code == 302 and response["Location"] == reverse("privacy:home")
    return client


def at(name):
    return reverse(f"privacy:{name}")


def chat(contact, deal, *, name, external_id):
    channel, _ = Channel.objects.get_or_create(
        kind=Channel.Kind.TELEGRAM, name=name, defaults={"team": deal.team,
                                                         "credentials": "1:x"})
    identity = ChannelIdentity.objects.create(channel=channel, external_id=external_id,
                                              contact=contact)
    return Conversation.objects.create(channel=channel, identity=identity, contact=contact,
                                       deal=deal, assignee=deal.owner)


def say(conversation, text, direction=Message.Direction.INBOUND, **fields):
    return Message.objects.create(conversation=conversation, channel=conversation.channel,
                                  direction=direction, text=text,
                                  status=Message.Status.RECEIVED, **fields)


def call(contact, deal, number, *, entry_id, **fields):
    account, _ = PbxAccount.objects.get_or_create(
        name="Mango", defaults={"team": deal.team, "api_base_url": "http://127.0.0.1:9/"})
    return Call.objects.create(account=account, entry_id=entry_id, direction="in",
                               client_number=number, contact=contact, deal=deal,
                               manager=deal.owner, **fields)


@pytest.fixture
def client_world(anna, anna_contact, anna_deal, newsletter, contract):
    """Anna's client with a chat (in, out, a note, a file), a call and a consent."""
    conversation = chat(anna_contact, anna_deal, name="Telegram", external_id="555001")
    say(conversation, "Здравствуйте, нужен счёт на серверы")
    say(conversation, "Счёт во вложении", Message.Direction.OUTBOUND, author=anna)
    say(conversation, "Клиент торгуется, дать скидку 5%", Message.Direction.NOTE, author=anna)
    with_file = say(conversation, "Реквизиты")
    Attachment.objects.create(message=with_file, name="реквизиты-смирнов.pdf", kind="document")
    call(anna_contact, anna_deal, "+79161234567", entry_id="anna-1", answered=True,
         talk_seconds=42)
    grant(anna_contact, newsletter)
    client_wrote_from(anna_contact.points.get(kind="email"))
    return anna_contact


def client_wrote_from(point, *, days_ago=10):
    """The client reached us from this address (an inbound e-mail would say so), and staff
    typed it in long before: a privacy link may go there."""
    at = timezone.now() - timedelta(days=days_ago)
    type(point).objects.filter(pk=point.pk).update(client_used_at=at, staff_set_at=at)


@pytest.fixture
def other_client(olga, newsletter):
    """Olga's client, with distinctive values everywhere anna's client has some."""
    contact = make_contact(olga, name=OTHER["name"], phones=[OTHER["phone"]],
                           emails=[OTHER["email"]])
    deal = make_deal(olga, title=OTHER["deal"], contact=contact)
    conversation = chat(contact, deal, name="Telegram", external_id="999002")
    message = say(conversation, OTHER["message"])
    Attachment.objects.create(message=message, name=OTHER["attachment"], kind="document")
    call(contact, deal, OTHER["call"], entry_id="olga-1", answered=True, talk_seconds=7)
    grant(contact, newsletter)
    services.consent_record(contact=contact, purpose=newsletter, kind=WITHDRAWN,
                            source=ConsentEvent.Source.PRIVACY_CENTER)
    services.subject_request_register(contact=contact, kind="erasure",
                                      source="privacy_center", details="Ирина просит удалить")
    return contact


def archive_of(contact, client=None) -> dict[str, str]:
    response = visitor(contact, client).post(at("download"))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        return {name: archive.read(name).decode() for name in archive.namelist()}


# --- Links -----------------------------------------------------------------------------------


@pytest.mark.django_db
class TestLinks:
    def test_a_link_opens_its_contacts_page_unindexed_and_uncached(self, client_world):
        response = page(url(client_world))
        assert response.status_code == 200
        body = response.content.decode()
        assert "Пётр Смирнов" in body and "+79161234567" in body
        assert "Petr@example.ru" in body  # their own data, in full
        assert response["X-Robots-Tag"] == "noindex, nofollow"
        assert response["Cache-Control"] == "no-store"
        assert response["Referrer-Policy"] == "same-origin"
        assert "default-src 'none'" in response["Content-Security-Policy"]
        assert "<script" not in body

    def test_a_link_expires_after_its_lifetime(self, client_world, settings):
        settings.PRIVACY_LINK_HOURS = 72
        start = datetime(2026, 11, 23, 12, 0, tzinfo=MSK)
        with time_machine.travel(start, tick=False):
            link = url(client_world)
        with time_machine.travel(start + timedelta(hours=71, minutes=59), tick=False):
            assert page(link).status_code == 200
        with time_machine.travel(start + timedelta(hours=72, minutes=1), tick=False):
            response = page(link)
        assert response.status_code == 410
        assert "истёк" in response.content.decode()
        assert "Пётр" not in response.content.decode()

    def test_a_shorter_lifetime_is_kept_by_the_link(self, client_world):
        start = datetime(2026, 11, 23, 12, 0, tzinfo=MSK)
        with time_machine.travel(start, tick=False):
            link = url(client_world, ttl=timedelta(hours=1))
        with time_machine.travel(start + timedelta(minutes=61), tick=False):
            assert page(link).status_code == 410

    def test_a_changed_contact_id_or_signature_is_refused(self, client_world, other_client):
        token = privacy.privacy_token(client_world)
        payload, stamp, signature = token.split(":")
        data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        data["c"] = other_client.pk
        forged = base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode())
        tampered = [
            f"{forged.decode().rstrip('=')}:{stamp}:{signature}",
            f"{payload}:{stamp}:{signature[:-2]}{'AA' if signature[-2:] != 'AA' else 'BB'}",
            f"{payload}:{stamp}",
            "garbage",
            token + "x",
        ]
        for bad in tampered:
            response = page(reverse("privacy:open", kwargs={"token": bad}))
            assert response.status_code == 400, bad
            body = response.content.decode()
            assert "повреждена" in body
            assert OTHER["name"] not in body and "Пётр" not in body

    def test_a_token_signed_for_something_else_is_refused(self, client_world):
        from django.core import signing

        other_salt = signing.TimestampSigner(salt="something.else").sign_object(
            {"c": client_world.pk, "g": 0, "k": "", "t": 3600})
        assert page(reverse("privacy:open", kwargs={"token": other_salt})).status_code == 400

    def test_a_link_for_one_client_never_shows_another(self, client_world, other_client):
        body = page(url(client_world)).content.decode()
        for value in OTHER.values():
            assert value not in body
        other_body = page(url(other_client)).content.decode()
        assert OTHER["name"] in other_body and "Пётр" not in other_body

    def test_revoked_links_stop_working_and_new_ones_work(self, client_world, anna):
        old = url(client_world)
        privacy.privacy_links_revoke(contact=client_world, by=anna)
        response = page(old)
        assert response.status_code == 404
        assert "отозвана" in response.content.decode()
        assert page(url(client_world)).status_code == 200

    def test_staff_revoke_from_the_contact(self, client_world, anna, olga):
        old = url(client_world)
        revoke = reverse("privacy_links_revoke", args=[client_world.pk])
        outsider = Client()
        outsider.force_login(olga)
        assert outsider.post(revoke).status_code == 404
        assert page(old).status_code == 200
        owner = Client()
        owner.force_login(anna)
        assert owner.post(revoke).status_code == 302
        assert page(old).status_code == 404

    def test_an_erased_subject_key_voids_every_link(self, client_world):
        link = url(client_world)
        subject_keys.shred(client_world.pk)
        assert page(link).status_code == 404

    def test_the_access_log_records_the_subject_and_never_the_token(self, client_world):
        token = privacy.privacy_token(client_world)
        page(reverse("privacy:open", kwargs={"token": token}))
        record = AccessRecord.objects.get(contact_id=client_world.pk)
        assert record.user_id is None
        assert record.detail == {"subject": client_world.pk}
        assert record.path == "/privacy/"  # the page, after the link was exchanged
        assert not AccessRecord.objects.filter(path__contains=token.split(":")[-1]).exists()


# --- Sending a link --------------------------------------------------------------------------


@pytest.mark.django_db
class TestSending:
    def send_url(self, contact):
        return reverse("privacy_link_send", args=[contact.pk])

    def test_the_form_offers_masked_addresses_and_the_chats(self, client_world, anna):
        client = Client()
        client.force_login(anna)
        body = client.get(self.send_url(client_world)).content.decode()
        assert "P***@example.ru" in body
        assert "Petr@example.ru" not in body
        assert "Telegram" in body

    def test_it_sends_the_link_by_email(self, client_world, anna):
        client = Client()
        client.force_login(anna)
        point = client_world.points.get(kind="email")
        response = client.post(self.send_url(client_world), {"via": f"email:{point.pk}"})
        assert response.status_code == 302
        [message] = mail.outbox
        assert message.to == ["Petr@example.ru"]
        link = next(word for word in message.body.split() if "/privacy/" in word)
        assert "действует до" in message.body
        assert page(link.replace("http://testserver", "")).status_code == 200
        entry = TimelineEntry.objects.get(contact=client_world, kind=privacy.KIND_SENT)
        assert entry.actor == anna
        assert entry.payload["via"] == "email"
        assert "example.ru" not in json.dumps(entry.payload)
        card = client.get(reverse("contact_detail", args=[client_world.pk])).content.decode()
        assert "Отправлена по e-mail." in card

    def test_it_sends_the_link_in_the_clients_chat(self, anna, anna_deal, anna_contact,
                                                   django_capture_on_commit_callbacks):
        fake = FakeBotApi().start()
        try:
            channel = Channel.objects.create(kind=Channel.Kind.TELEGRAM, name="Telegram north",
                                             team=anna_deal.team, credentials=fake.token,
                                             api_base_url=fake.base_url)
            identity = ChannelIdentity.objects.create(channel=channel, external_id="555001",
                                                      contact=anna_contact)
            conversation = Conversation.objects.create(channel=channel, identity=identity,
                                                       contact=anna_contact, deal=anna_deal,
                                                       assignee=anna)
            say(conversation, "Где мои данные?")
            client = Client()
            client.force_login(anna)
            with django_capture_on_commit_callbacks(execute=True):
                response = client.post(self.send_url(anna_contact),
                                       {"via": f"conversation:{conversation.pk}"})
            assert response.status_code == 302
            [sent] = fake.calls("sendMessage")
            card = client.get(reverse("deal_detail", args=[anna_deal.pk])).content.decode()
            api = client.get(f"/api/v1/conversations/{conversation.pk}/messages/").content
        finally:
            fake.stop()
        assert "/privacy/" in sent.body["text"]
        message = Message.objects.get(conversation=conversation, author=anna)
        assert not message.is_automatic
        assert message.status == Message.Status.SENT
        # What staff can read back says a link went, never the link.
        token = sent.body["text"].split("/privacy/")[1].split("/")[0]
        assert "/privacy/" not in message.text and "Ссылка на центр" in message.text
        assert message.sealed_text == ""  # kept only until sent
        assert token not in card and token not in api.decode()
        assert "Ссылка на центр конфиденциальности отправлена" in card

    def test_an_outsider_gets_404_and_sends_nothing(self, client_world, olga):
        client = Client()
        client.force_login(olga)
        point = client_world.points.get(kind="email")
        assert client.get(self.send_url(client_world)).status_code == 404
        response = client.post(self.send_url(client_world), {"via": f"email:{point.pk}"})
        assert response.status_code == 404
        assert not mail.outbox

    def test_a_route_of_another_contact_is_refused(self, client_world, other_client, director):
        client = Client()
        client.force_login(director)
        foreign = other_client.points.get(kind="email")
        response = client.post(self.send_url(client_world), {"via": f"email:{foreign.pk}"})
        assert response.status_code == 400
        assert not mail.outbox

    @pytest.mark.parametrize("via", ["conversation:999999", "email:abc", "email:", "junk", ""])
    def test_a_route_that_is_no_route_is_refused(self, client_world, director, via):
        client = Client()
        client.force_login(director)
        response = client.post(self.send_url(client_world), {"via": via})
        assert response.status_code == 400
        assert not mail.outbox


# --- What staff can never get through it -----------------------------------------------------


@pytest.mark.django_db
class TestNoWayInForStaff:
    """A manager cannot obtain any unmasked value of a client through the privacy center:
    the link goes only where the client reached us from, staff never read it back, and the
    pages refuse a browser signed in as staff."""

    def send(self, user, contact, via):
        client = Client()
        client.force_login(user)
        return client.post(reverse("privacy_link_send", args=[contact.pk]), {"via": via})

    def test_an_address_staff_added_is_never_offered_nor_accepted(self, client_world, anna):
        # anna adds her own address to her client and asks for the link there.
        client = Client()
        client.force_login(anna)
        client.post(reverse("contact_edit", args=[client_world.pk]),
                    {"name": client_world.name, "source": client_world.source,
                     "emails": "anna.private@example.org"})
        mine = client_world.points.get(value_index=type(client_world.points.first()).index_of(
            "email", "anna.private@example.org"))
        form = client.get(reverse("privacy_link_send", args=[client_world.pk])).content.decode()
        assert f"email:{mine.pk}" not in form
        assert self.send(anna, client_world, f"email:{mine.pk}").status_code == 400
        assert not mail.outbox

    def test_an_address_changed_by_staff_within_a_links_lifetime_is_refused(self, client_world,
                                                                              anna):
        point = client_world.points.get(kind="email")
        type(point).objects.filter(pk=point.pk).update(
            staff_set_at=timezone.now() - privacy.lifetime() + timedelta(minutes=5))
        assert self.send(anna, client_world, f"email:{point.pk}").status_code == 400
        type(point).objects.filter(pk=point.pk).update(
            staff_set_at=timezone.now() - privacy.lifetime() - timedelta(minutes=5))
        assert self.send(anna, client_world, f"email:{point.pk}").status_code == 302

    def test_a_chat_the_client_never_wrote_in_is_no_route(self, anna, anna_deal, anna_contact):
        quiet = chat(anna_contact, anna_deal, name="Telegram", external_id="777")
        routes = dict(privacy.link_routes(user=anna, contact=anna_contact))
        assert f"conversation:{quiet.pk}" not in routes
        assert self.send(anna, anna_contact, f"conversation:{quiet.pk}").status_code == 400
        say(quiet, "Добрый день")
        assert f"conversation:{quiet.pk}" in dict(
            privacy.link_routes(user=anna, contact=anna_contact))

    @pytest.mark.parametrize("name", ["home", "withdraw", "download", "request"])
    def test_a_browser_signed_in_as_staff_is_refused_every_page(self, client_world, anna,
                                                                director, name):
        for user in (anna, director):
            staff = Client()
            staff.force_login(user)
            opened = staff.get(url(client_world))
            assert opened.status_code == 403
            assert "privacy_visit" not in opened.cookies
            # Even with the client's own visit cookie copied over.
            staff.cookies["privacy_visit"] = visitor(client_world).cookies["privacy_visit"].value
            for method in ("get", "post"):
                response = getattr(staff, method)(at(name))
                assert response.status_code in (403, 405), (name, method)
                assert b"+79161234567" not in response.content
                assert b"Petr@example.ru" not in response.content

    def test_the_token_leaves_the_address_at_once(self, client_world):
        client = Client()
        token = privacy.privacy_token(client_world)
        response = client.get(reverse("privacy:open", kwargs={"token": token}))
        assert response.status_code == 302 and response["Location"] == "/privacy/"
        cookie = response.cookies["privacy_visit"]
        assert cookie["httponly"] and cookie["path"] == "/privacy/"
        assert cookie["samesite"] == "Lax" and int(cookie["max-age"]) <= 30 * 60
        assert token not in response["Location"]
        assert client.get("/privacy/").status_code == 200

    def test_without_a_visit_the_pages_show_nothing(self, client_world):
        for name in ("home", "withdraw", "request"):
            response = Client().get(at(name))
            assert response.status_code == 400
            assert b"+79161234567" not in response.content

    def test_a_visit_ends_after_its_minutes_and_with_a_revocation(self, client_world, anna):
        start = datetime(2026, 11, 23, 12, 0, tzinfo=MSK)
        with time_machine.travel(start, tick=False):
            client = visitor(client_world)
        with time_machine.travel(start + timedelta(minutes=29), tick=False):
            assert client.get(at("home")).status_code == 200
        with time_machine.travel(start + timedelta(minutes=31), tick=False):
            assert client.get(at("home")).status_code == 400
        client = visitor(client_world)
        privacy.privacy_links_revoke(contact=client_world, by=anna)
        assert client.get(at("home")).status_code == 404


# --- Consents --------------------------------------------------------------------------------


@pytest.mark.django_db
class TestWithdraw:
    def test_the_page_shows_consents_with_their_history_and_texts(self, client_world,
                                                                  newsletter):
        body = page(url(client_world)).content.decode()
        assert "Рассылка новостей и акций" in body
        assert "Я согласен получать новости и акции." in body
        assert "версия текста 1" in body
        assert "Форма на сайте" in body or "Website form" in body
        assert "Исполнение договора" in body  # the purposes, with their legal basis

    def test_withdrawing_takes_effect_at_once(self, client_world, newsletter):
        client = visitor(client_world, Client(enforce_csrf_checks=True,
                                              HTTP_USER_AGENT="Test phone"))
        link = at("withdraw")
        confirm = client.get(f"{link}?purpose=newsletter")
        assert confirm.status_code == 200
        assert "Я согласен получать новости и акции." in confirm.content.decode()
        csrf = confirm.cookies["csrftoken"].value
        response = client.post(link, {"purpose": "newsletter", "csrfmiddlewaretoken": csrf})
        assert response.status_code == 302
        assert not selectors.may_contact(contact_id=client_world.pk, purpose=newsletter)
        [item] = [h for h in selectors.consent_history(contact_id=client_world.pk)
                  if h["event"].kind == WITHDRAWN]
        assert item["event"].source == ConsentEvent.Source.PRIVACY_CENTER
        assert item["evidence"] == {"ip": "127.0.0.1", "user_agent": "Test phone"}
        home = client.get(response["Location"]).content.decode()
        assert "отозвано" in home.lower()

    def test_a_post_without_the_csrf_token_is_refused(self, client_world, newsletter):
        client = visitor(client_world, Client(enforce_csrf_checks=True))
        response = client.post(at("withdraw"), {"purpose": "newsletter"})
        assert response.status_code == 403
        assert selectors.may_contact(contact_id=client_world.pk, purpose=newsletter)

    def test_a_purpose_not_granted_records_nothing(self, client_world, contract):
        before = ConsentEvent.objects.count()
        response = visitor(client_world).post(at("withdraw"), {"purpose": "contract"})
        assert response.status_code == 302
        assert ConsentEvent.objects.count() == before

    def test_posts_are_rate_limited(self, client_world, settings):
        settings.PRIVACY_RATE = "2/hour"
        client = visitor(client_world)
        statuses = [client.post(at("withdraw"), {"purpose": "nothing"}).status_code
                    for _ in range(3)]
        assert statuses == [302, 302, 429]


# --- The download ----------------------------------------------------------------------------


@pytest.mark.django_db
class TestDownload:
    def test_the_archive_holds_all_of_the_clients_data(self, client_world, other_client):
        files = archive_of(client_world)
        assert set(files) == {"data.json", "index.html"}
        data = json.loads(files["data.json"])
        texts = [m["text"] for m in data["messages"]]
        assert texts == ["Здравствуйте, нужен счёт на серверы", "Счёт во вложении",
                         "Реквизиты"]  # the team's private note is not correspondence
        assert data["messages"][2]["attachments"] == ["реквизиты-смирнов.pdf"]
        [the_call] = data["calls"]
        assert the_call["number"] == "+79161234567" and the_call["talk_seconds"] == 42
        assert [h["kind"] for h in data["consent_history"]] == ["granted"]
        assert data["consent_history"][0]["text"] == "Я согласен получать новости и акции."
        assert data["contact"]["name"] == "Пётр Смирнов"
        assert {p["value"] for p in data["contact_points"]} == {"+79161234567",
                                                                 "Petr@example.ru"}
        assert [d["title"] for d in data["deals"]] == ["Поставка серверов"]
        for text in [*texts, "реквизиты-смирнов.pdf", "+79161234567", "Поставка серверов",
                     "Я согласен получать новости и акции."]:
            assert text in files["index.html"]

    def test_the_archive_holds_none_of_another_clients_data(self, client_world, other_client):
        files = archive_of(client_world)
        for name, content in files.items():
            for value in OTHER.values():
                assert value not in content, (name, value)
            assert "Ирина просит удалить" not in content

    def test_the_download_is_logged_as_the_subjects(self, client_world):
        archive_of(client_world)
        record = AccessRecord.objects.get(contact_id=client_world.pk, action="download")
        assert record.user_id is None and record.detail == {"subject": client_world.pk}

    def test_client_text_is_escaped_in_the_archive_and_on_the_page(self, client_world):
        conversation = Conversation.objects.get(contact=client_world)
        say(conversation, XSS)
        client_world.position = XSS
        client_world.save()
        index = archive_of(client_world)["index.html"]
        assert XSS not in index
        assert "&lt;img src=x onerror=alert(1)&gt;" in index
        assert "<script" not in index and "Content-Security-Policy" in index
        body = page(url(client_world)).content.decode()
        assert XSS not in body and "&lt;img src=x onerror=alert(1)&gt;" in body


# --- Requests --------------------------------------------------------------------------------


@pytest.mark.django_db
class TestRequests:
    def test_an_erasure_request_is_registered_with_its_due_date(self, client_world):
        CalendarDay.objects.create(date=datetime(2026, 12, 1).date(), name="Праздник")
        # Friday: 10 working days, skipping two weekends and the holiday -> Monday 7 Dec.
        with time_machine.travel(datetime(2026, 11, 20, 15, 0, tzinfo=MSK), tick=False):
            client = visitor(client_world)
            response = client.post(at("request"), {"kind": "erasure", "details": ""})
            assert response.status_code == 302
            [request] = SubjectRequest.objects.filter(contact=client_world)
            home = page(response["Location"], client).content.decode()
        assert request.kind == SubjectRequest.Kind.ERASURE
        assert request.source == SubjectRequest.Source.PRIVACY_CENTER
        assert request.due_date == datetime(2026, 12, 7).date()
        assert "7 декабря 2026" in home

    def test_a_correction_says_what_to_correct(self, client_world):
        client = visitor(client_world)
        response = client.post(at("request"), {"kind": "rectification", "details": " "})
        assert response.status_code == 400
        assert not SubjectRequest.objects.exists()
        response = client.post(at("request"), {"kind": "rectification",
                                               "details": "Фамилия: Смирнов, не Смирнова"})
        assert response.status_code == 302
        request = SubjectRequest.objects.get()
        assert request.kind == "rectification"
        assert request.details == "Фамилия: Смирнов, не Смирнова"

    def test_only_correction_or_erasure_is_asked_here(self, client_world):
        response = visitor(client_world).post(at("request"), {"kind": "access"})
        assert response.status_code == 400
        assert not SubjectRequest.objects.exists()
