"""The privacy center in a real browser (issue 7): anna sends her client the link by e-mail
from the contact card; the client opens it on a phone, withdraws a consent and sees the state
change, then downloads their data and finds it all in the ZIP."""

import io
import json
import zipfile
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone
from playwright.sync_api import expect

from consents import services
from consents.models import ConsentEvent, Purpose
from inbox.models import Channel, ChannelIdentity, Conversation, Message
from tests.e2e.conftest import ARTIFACTS
from tests.e2e.test_deal_card import log_in

pytestmark = pytest.mark.e2e

XSS = "<img src=x onerror=alert(1)>"


@pytest.fixture
def newsletter(db):
    purpose = Purpose.objects.create(code="newsletter", title="Рассылка новостей и акций",
                                     is_advertising=True, retention_days=365)
    services.purpose_text_publish(purpose=purpose, text="Я согласен получать новости и акции.")
    return purpose


@pytest.fixture
def client_with_consent(anna_contact, anna_deal, newsletter):
    # The client wrote to us from this address (an inbound e-mail would say so): a privacy
    # link may go there. An address staff typed in would not be offered.
    anna_contact.points.filter(kind="email").update(
        client_used_at=timezone.now() - timedelta(days=30),
        staff_set_at=timezone.now() - timedelta(days=30))
    services.consent_record(contact=anna_contact, purpose=newsletter,
                            kind=ConsentEvent.Kind.GRANTED,
                            source=ConsentEvent.Source.WEBSITE_FORM,
                            evidence={"ip": "203.0.113.5"})
    channel = Channel.objects.create(kind=Channel.Kind.TELEGRAM, name="Telegram",
                                     team=anna_deal.team, credentials="1:x")
    identity = ChannelIdentity.objects.create(channel=channel, external_id="555001",
                                              contact=anna_contact, is_unreachable=True)
    conversation = Conversation.objects.create(channel=channel, identity=identity,
                                               contact=anna_contact, deal=anna_deal)
    for text in ("Здравствуйте, пришлите счёт", XSS):
        Message.objects.create(conversation=conversation, channel=channel,
                               direction=Message.Direction.INBOUND, text=text,
                               status=Message.Status.RECEIVED)
    return anna_contact


# Data fixtures come before the browser: they are built before Playwright's loop starts.
def test_a_client_withdraws_a_consent_and_downloads_their_data(
    anna, client_with_consent, newsletter, asgi_server, browser, page
):
    contact = client_with_consent
    log_in(page, asgi_server, "anna")
    page.goto(f"{asgi_server}/contacts/{contact.pk}/")
    page.get_by_role("link", name="Ссылка на центр конфиденциальности").click()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "privacy_link_form.png"))
    page.get_by_label("E-mail: P***@example.ru").check()
    page.get_by_role("button", name="Отправить ссылку").click()
    expect(page.get_by_text("Ссылка на центр конфиденциальности отправлена.")).to_be_visible()
    [letter] = mail.outbox
    link = next(word for word in letter.body.split() if "/privacy/" in word)
    assert link.startswith(asgi_server)
    page.goto("about:blank")  # anna's live socket closes before the server stops

    dialogs = []
    phone = browser.new_context(locale="ru-RU", viewport={"width": 390, "height": 844},
                                accept_downloads=True)
    client = phone.new_page()
    client.set_default_timeout(10_000)
    client.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    client.goto(link)
    expect(client.get_by_role("heading", name="Ваши персональные данные")).to_be_visible()
    assert client.url == f"{asgi_server}/privacy/"  # the token left the address bar
    expect(client.get_by_text("Telegram: 2 сообщения")).to_be_visible()
    client.screenshot(path=str(ARTIFACTS / "privacy_center_phone.png"), full_page=True)

    consent = client.locator("[data-purpose=newsletter]")
    expect(consent.locator("[data-state]")).to_contain_text("Дано")
    consent.get_by_role("link", name="Отозвать").click()
    expect(client.get_by_role("heading", name="Отозвать согласие?")).to_be_visible()
    client.get_by_role("button", name="Да, отозвать").click()
    expect(client.get_by_text("Ваше согласие «Рассылка новостей и акций» отозвано."))\
        .to_be_visible()
    expect(consent.locator("[data-state]")).to_contain_text("Отозвано")
    assert not consent.get_by_role("link", name="Отозвать").count()
    # The ledger itself is read back through the download below: an ORM query from this
    # thread now (Playwright's loop runs here) would open a second connection that outlives
    # the test database.

    with client.expect_download() as download_info:
        client.get_by_role("button", name="Скачать все мои данные (ZIP)").click()
    download = download_info.value
    assert download.suggested_filename.endswith(".zip")
    with zipfile.ZipFile(io.BytesIO(open(download.path(), "rb").read())) as archive:
        data = json.loads(archive.read("data.json"))
        index = archive.read("index.html").decode()
    assert [m["text"] for m in data["messages"]] == ["Здравствуйте, пришлите счёт", XSS]
    assert [h["kind"] for h in data["consent_history"]] == ["withdrawn", "granted"]
    assert data["contact"]["name"] == "Пётр Смирнов"
    assert "&lt;img src=x onerror=alert(1)&gt;" in index and XSS not in index

    # The archive's page, opened in the browser, shows the hostile text as text.
    viewer = phone.new_page()
    viewer.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    viewer.set_content(index)
    expect(viewer.get_by_text(XSS)).to_be_visible()
    assert dialogs == []
    phone.close()
