"""E-mail end to end in a real browser, on real mail servers (issue 18): a mail sent through
the SMTP server into the channel's Dovecot mailbox appears live in the manager's open deal
card (IMAP IDLE, no poll, no reload); her reply from the card reaches the client's mailbox
with its threading headers; the client's answer to it threads into the same conversation. A
hostile HTML mail runs nothing, and its remote images load only when she asks."""

import email
import email.policy
import smtplib
import threading
import time

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from crm.models import Deal
from inbox import mailboxes
from inbox.models import Conversation, Message
from tests.e2e.test_messengers_flow import open_card
from tests.inbox.mail_servers import mailbox_messages, new_address
from tests.inbox.test_email import CORPUS, mail

pytestmark = pytest.mark.e2e


@pytest.fixture
def watched(email_channel, monkeypatch):
    """The channel's mailbox under IMAP IDLE, as manage.py mailbox_idle keeps it."""
    monkeypatch.setattr(mailboxes, "IDLE_WAIT_SECONDS", 0.5)
    stop = threading.Event()
    watcher = threading.Thread(target=mailboxes.watch, args=(email_channel.pk,),
                               kwargs={"stop": stop}, daemon=True)
    watcher.start()
    yield email_channel
    stop.set()
    watcher.join(timeout=10)


def smtp_send(relay, raw: bytes) -> float:
    with smtplib.SMTP("127.0.0.1", relay.port) as server:
        server.send_message(email.message_from_bytes(raw, policy=email.policy.default))
    return time.monotonic()


def wait_for(condition, seconds=10):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_mail_arrives_live_the_reply_threads_and_the_answer_comes_back(
        watched, smtp_relay, anna, asgi_server, page):
    ours = watched.mailbox.address
    client = new_address("client", domain="client.example")
    smtp_send(smtp_relay, mail(sender=f"Пётр Иванов <{client}>", to=ours,
                               subject="Счёт на поставку", text="Пришлите счёт, пожалуйста."))
    wait_for(lambda: Message.objects.filter(channel=watched).exists())
    conversation = Conversation.objects.get(channel=watched)
    deal = Deal.objects.get(pk=conversation.deal_id)
    assert deal.owner_id == anna.pk

    frames = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda p: frames.append(p)))
    open_card(page, asgi_server, deal, frames)
    panel = page.locator(f'.conversation[data-conversation-id="{conversation.pk}"]')
    chat = panel.locator("[data-chat-messages]")
    expect(chat).to_contain_text("Счёт на поставку")

    sent_at = smtp_send(smtp_relay, mail(sender=f"Пётр Иванов <{client}>", to=ours,
                                         subject="Re: Счёт на поставку",
                                         text="И доставку до склада тоже."))
    expect(chat).to_contain_text("И доставку до склада тоже.", timeout=5000)
    print(f"\nmail: SMTP delivery -> text in the open card: "
          f"{(time.monotonic() - sent_at) * 1000:.0f} ms")

    panel.locator("textarea[name=text]").fill("Счёт во вложении, доставка включена.")
    panel.locator("button[type=submit]").click()
    expect(panel.locator("textarea[name=text]")).to_have_value("")
    wait_for(lambda: mailbox_messages(client))
    [(raw, _seen)] = mailbox_messages(client)
    reply = email.message_from_bytes(raw, policy=email.policy.default)
    answered = Message.objects.filter(channel=watched, direction="in").latest("created_at")
    assert reply["Subject"] == "Re: Счёт на поставку"
    assert reply["In-Reply-To"] == f"<{answered.mail.mail_id}>"
    assert answered.mail.mail_id in reply["References"]
    entry = chat.locator("li", has_text="Счёт во вложении")
    expect(entry.locator("[data-message-status]")).to_have_attribute("data-status", "sent")

    smtp_send(smtp_relay, mail(sender="Бухгалтерия <buh@client.example>",
                               to=reply["Reply-To"], subject="Re: Re: Счёт на поставку",
                               text="Оплатили сегодня.", In_Reply_To=reply["Message-ID"],
                               References=f"{reply['References']} {reply['Message-ID']}"))
    expect(chat).to_contain_text("Оплатили сегодня.", timeout=5000)
    assert Conversation.objects.filter(channel=watched).count() == 1
    assert page.evaluate("window.__noReload") is True


def test_a_hostile_mail_runs_nothing_and_loads_images_only_when_asked(
        watched, smtp_relay, anna, asgi_server, page):
    remote = []

    def refuse(route):
        remote.append(route.request.url)
        route.abort()

    page.route("https://evil.example/**", refuse)
    page.route("http://evil.example/**", refuse)
    raw = (CORPUS / "hostile_html.eml").read_bytes().replace(
        b"sales@crm.test", watched.mailbox.address.encode())
    smtp_send(smtp_relay, raw)
    wait_for(lambda: Message.objects.filter(channel=watched).exists())
    message = Message.objects.get(channel=watched)
    deal = Deal.objects.get(pk=message.conversation.deal_id)

    frames = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda p: frames.append(p)))
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    open_card(page, asgi_server, deal, frames)
    entry = page.locator(f'[data-message-id="{message.pk}"]')
    expect(entry).to_contain_text("<script>alert('subject')</script> Invoice")
    entry.locator("[data-mail-html] summary").click()
    frame = page.frame_locator(f'iframe[name="mail-{message.pk}"]')
    expect(frame.locator("body")).to_contain_text("Please pay the invoice.")
    page.wait_for_timeout(300)
    mail_frame = page.frame(name=f"mail-{message.pk}")
    for hostile in ("hostileHead", "hostileOnload", "hostileImg", "hostileLink", "hostileSvg",
                    "hostileBody"):
        assert mail_frame.evaluate(f"typeof window.{hostile}") == "undefined"
        assert page.evaluate(f"typeof window.{hostile}") == "undefined"
    assert not dialogs and not remote  # no script ran, no remote image was asked for

    entry.locator("[data-mail-images]").click()
    expect(frame.locator('img[alt="banner"]')).to_have_attribute(
        "src", "https://evil.example/banner.png")
    wait_for(lambda: remote, seconds=5)
    assert remote == ["https://evil.example/banner.png"]  # never the tracking pixel
    assert page.url.endswith(reverse("deal_detail", args=[deal.pk]))
    assert page.evaluate("window.__noReload") is True
