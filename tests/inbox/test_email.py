"""E-mail on real servers: mail delivered into a Dovecot mailbox is read over IMAP into the deal
card once (whatever the repeats, a UIDVALIDITY change, a connection dropped mid-fetch or a
worker killed mid-batch), marked seen only once stored; a reply from the card goes out over
SMTP (aiosmtpd delivering into the client's Dovecot mailbox) threaded, with a copy in Sent;
the client's answer to it threads back into the same conversation. The corpus in
fixtures/mail is mail as Gmail, Outlook, Yandex, mail.ru and Apple Mail send it."""

import email
import email.policy
import json
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

import pytest
from django.test import TestCase

from crm.models import Contact, ContactPoint
from inbox import mailboxes, services
from inbox.models import (
    Attachment,
    ChannelIdentity,
    Conversation,
    InboundEvent,
    MailDetails,
    Message,
)
from inbox.providers.mail import imap
from tests.inbox.mail_servers import deliver, imap_login, mailbox_messages, new_address
from tests.inbox.messengers import reply_from_card

CORPUS = Path(__file__).parent / "fixtures" / "mail"


def corpus(name: str, *, to: str = "") -> bytes:
    raw = (CORPUS / f"{name}.eml").read_bytes()
    return raw.replace(b"sales@crm.test", to.encode()) if to else raw


def read(channel) -> int:
    """One poll of the mailbox, with what it queues run (the drain, the file fetches)."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        return mailboxes.mailbox_check(channel_id=channel.pk)


def mail(*, sender: str, to: str, subject: str = "Заказ", text: str = "Здравствуйте!",
         **headers) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain="client.example")
    message["Date"] = email.utils.formatdate(localtime=True)
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(text)
    return message.as_bytes()


def address(channel) -> str:
    return channel.mailbox.address


# What each mail of the corpus becomes: a client's message (its text, from whom, the files),
# an automatic one (stored, never answered), a bounce, or nothing (not a client's).
EXPECTED = {
    "gmail_reply": ("message", "Спасибо, счёт получил. Оплатим до пятницы.", 0),
    "outlook_1251": ("message", "Коллеги, добрый день!", 0),
    "yandex_koi8r": ("message", "Здравствуйте! Когда будет доставка в Казань?", 0),
    "mailru_html_only": ("message", "Условия подходят, готовы подписать.", 0),
    "apple_mail": ("message", "Давайте в четверг в 11.", 0),
    "forward_attached": ("message", "Пересылаю заявку от коллеги.", 1),
    "forward_inline": ("message", "Посмотрите, пожалуйста, у конкурентов дешевле.", 0),
    "calendar_invite": ("message", "You have been invited to the following event.", 1),
    "malformed_headers": ("message", "Пришлите прайс на 2027 год, пожалуйста.", 0),
    "no_message_id": ("message", "A mail without a Message-ID.", 0),
    "inline_image": ("message", "Our logo proposal is below.", 1),
    "hostile_html": ("message", "Please pay the invoice.", 0),
    "attachments": ("message", "Акт сверки во вложении.", 2),
    "nested_multipart": ("message", "Приглашаем к участию в тендере. Документация во "
                                    "вложении.", 1),
    "utf8_raw_headers": ("message", "Хочу заказать 5 коробок.", 0),
    "broken_mime": ("message", "!!!not base64 at all!!!", 0),
    "auto_reply_rfc3834": ("automatic", "Я в отпуске до 14 декабря.", 0),
    "auto_reply_exchange": ("automatic", "Меня нет в офисе до понедельника.", 0),
    "list_mail": ("automatic", "Our December news.", 0),
    "bounce_delayed": ("automatic", "Delivery incomplete.", 1),
    "bounce_permanent": ("bounce", "", 0),
}


def test_the_corpus_is_complete():
    assert {path.stem for path in CORPUS.glob("*.eml")} == set(EXPECTED)
    assert len(EXPECTED) >= 20


@pytest.mark.django_db
class TestReading:
    @pytest.mark.parametrize("name", sorted(EXPECTED))
    def test_each_mail_of_the_corpus_lands_once_and_is_seen(self, email_channel, name):
        deliver(address(email_channel), corpus(name, to=address(email_channel)))
        assert read(email_channel) == 1
        assert read(email_channel) == 0
        kind, text, files = EXPECTED[name]
        event = InboundEvent.objects.get()
        messages = list(Message.objects.all())
        if kind == "bounce":
            assert event.status == InboundEvent.Status.PROCESSED and not messages
        else:
            [message] = messages
            assert message.text.startswith(text)
            assert message.is_automatic == (kind == "automatic")
            assert message.attachments.count() == files
            assert not message.attachments.exclude(fetch_error="").exists()
            assert all(a.file_path and a.sha256 for a in message.attachments.all())
            details = message.mail
            assert details.mail_id or name == "no_message_id"
        assert [seen for _raw, seen in mailbox_messages(address(email_channel))] == [True]

    def test_a_new_client_becomes_a_contact_with_their_address(self, email_channel):
        deliver(address(email_channel), corpus("outlook_1251", to=address(email_channel)))
        read(email_channel)
        message = Message.objects.get()
        contact = message.conversation.contact
        assert contact.name == "Мария Смирнова"
        assert contact.source == Contact.Source.EMAIL
        assert [p.value for p in contact.points.filter(kind=ContactPoint.Kind.EMAIL)] == [
            "m.smirnova@romashka.ru"]
        assert message.mail.subject == "RE: Договор поставки"
        assert "From: Sales" in message.mail.quoted
        assert message.conversation.awaiting_reply

    def test_a_known_address_lands_on_that_clients_open_deal(self, email_channel, anna_deal):
        from crm.services import contact_point_add

        contact_point_add(contact=anna_deal.contact,
                          kind=ContactPoint.Kind.EMAIL, value="Petr.Ivanov@gmail.com")
        deliver(address(email_channel), corpus("forward_inline", to=address(email_channel)))
        read(email_channel)
        assert Message.objects.get().conversation.deal == anna_deal

    def test_the_same_mail_delivered_twice_is_one_message(self, email_channel):
        raw = corpus("gmail_reply", to=address(email_channel))
        deliver(address(email_channel), raw)
        read(email_channel)
        deliver(address(email_channel), raw)
        read(email_channel)
        assert Message.objects.count() == 1
        assert all(seen for _raw, seen in mailbox_messages(address(email_channel)))

    def test_a_changed_uidvalidity_reads_the_folder_again_without_duplicates(
            self, email_channel):
        mailbox = email_channel.mailbox
        mailbox.folder = "Clients"
        mailbox.save()
        client = imap_login(mailbox.address)
        client.create("Clients")
        for name in ("gmail_reply", "yandex_koi8r"):
            deliver(mailbox.address, corpus(name, to=mailbox.address), folder="Clients")
        read(email_channel)
        mailbox.refresh_from_db()
        first_validity = mailbox.uidvalidity
        # The folder is recreated (a server migration does the same): new UIDVALIDITY.
        client.delete("Clients")
        client.create("Clients")
        client.logout()
        for name in ("yandex_koi8r", "gmail_reply", "apple_mail"):
            deliver(mailbox.address, corpus(name, to=mailbox.address), folder="Clients")
        assert read(email_channel) == 1
        mailbox.refresh_from_db()
        assert mailbox.uidvalidity != first_validity and mailbox.last_uid == 3
        assert Message.objects.count() == 3

    def test_our_own_mail_is_nobodys(self, email_channel):
        own = address(email_channel)
        deliver(own, mail(sender=f"Sales <{own}>", to=own))
        read(email_channel)
        assert InboundEvent.objects.get().status == InboundEvent.Status.IGNORED
        assert not Message.objects.exists()

    def test_a_mail_over_the_size_limit_is_kept_by_its_text_and_says_so(self, email_channel,
                                                                         settings):
        """A huge attachment: the mail is stored by its headers only (the card says where the
        rest is), seen and passed; a file over the attachment limit in a smaller mail is
        refused with the reason, the message kept."""
        settings.EMAIL_MAX_MESSAGE_BYTES = 1_000_000
        settings.INBOX_MAX_ATTACHMENT_BYTES = 100_000
        huge = EmailMessage()
        huge["From"], huge["To"], huge["Subject"] = ("Архив <archive@client.example>",
                                                     address(email_channel), "Фото склада")
        huge["Message-ID"] = "<huge-001@client.example>"
        huge.set_content("Фото во вложении.")
        huge.add_attachment(bytes(1_500_000), maintype="application", subtype="zip",
                            filename="photos.zip")
        big_file = EmailMessage()
        big_file["From"], big_file["To"], big_file["Subject"] = (
            "Архив <archive@client.example>", address(email_channel), "Прайс")
        big_file["Message-ID"] = "<big-file-001@client.example>"
        big_file.set_content("Прайс во вложении.")
        big_file.add_attachment(bytes(300_000), maintype="application", subtype="pdf",
                                filename="price.pdf")
        deliver(address(email_channel), huge.as_bytes())
        deliver(address(email_channel), big_file.as_bytes())
        assert read(email_channel) == 2
        kept = Message.objects.get(mail__mail_id="huge-001@client.example")
        assert "больше, чем принимает CRM" in kept.text
        assert kept.mail.subject == "Фото склада" and not kept.attachments.exists()
        event = InboundEvent.objects.get(provider_event_id="huge-001@client.example")
        assert json.loads(event.payload)["headers_only"] is True
        assert len(event.payload) < 10_000  # the file stayed on the server
        refused = Message.objects.get(mail__mail_id="big-file-001@client.example")
        assert refused.text == "Прайс во вложении."
        [attachment] = refused.attachments.all()
        assert not attachment.file_path and "larger than" in attachment.fetch_error.replace(
            "больше", "larger than")
        assert all(seen for _raw, seen in mailbox_messages(address(email_channel)))

    def test_a_server_that_refuses_the_login_is_recorded_and_nothing_is_lost(
            self, email_channel):
        mailbox = email_channel.mailbox
        deliver(mailbox.address, corpus("yandex_koi8r", to=mailbox.address))
        mailbox.password = "wrong"
        mailbox.save()
        assert read(email_channel) == 0
        mailbox.refresh_from_db()
        assert "refused the login" in mailbox.last_error
        assert [seen for _raw, seen in mailbox_messages(mailbox.address)] == [False]
        mailbox.password = "test-password"
        mailbox.save()
        assert read(email_channel) == 1
        mailbox.refresh_from_db()
        assert mailbox.last_error == ""


@pytest.mark.django_db
class TestFaults:
    """Every mail once: a connection dropped in the middle of a fetch, and a worker killed
    after a batch was stored but before the server heard it was seen."""

    def deliver_five(self, channel):
        for number in range(5):
            deliver(address(channel), mail(sender=f"client{number}@example.com",
                                           to=address(channel), text=f"Письмо {number}"))

    def test_the_connection_dropped_mid_fetch(self, email_channel, monkeypatch):
        self.deliver_five(email_channel)
        real_fetch = imap.IMAPClient.fetch
        calls = {"n": 0}

        def dropping(self, messages, data, *args, **kwargs):
            if "BODY.PEEK[]" in data:
                calls["n"] += 1
                if calls["n"] == 2:
                    self._imap.sock.close()  # the server went away mid-batch
                    raise ConnectionResetError("connection reset by peer")
            return real_fetch(self, messages, data, *args, **kwargs)

        monkeypatch.setattr(mailboxes, "BATCH", 2)
        monkeypatch.setattr(imap.IMAPClient, "fetch", dropping)
        read(email_channel)
        assert InboundEvent.objects.count() == 2  # the first batch, stored before the drop
        assert "connection reset" in email_channel.mailbox.__class__.objects.get(
            pk=email_channel.mailbox.pk).last_error
        monkeypatch.setattr(imap.IMAPClient, "fetch", real_fetch)
        assert read(email_channel) == 3
        assert sorted(Message.objects.values_list("text", flat=True)) == [
            f"Письмо {n}" for n in range(5)]
        assert all(seen for _raw, seen in mailbox_messages(address(email_channel)))

    def test_the_worker_killed_after_storing_before_marking_seen(self, email_channel,
                                                                 monkeypatch):
        self.deliver_five(email_channel)

        class Killed(BaseException):
            """What a SIGKILL looks like to the code after it: nothing more runs."""

        def killed(*args, **kwargs):
            raise Killed

        monkeypatch.setattr(imap.IMAPClient, "add_flags", killed)
        with pytest.raises(Killed):
            read(email_channel)
        assert InboundEvent.objects.count() == 5  # stored and committed
        assert not any(seen for _raw, seen in mailbox_messages(address(email_channel)))
        monkeypatch.undo()
        assert read(email_channel) == 0  # read again: nothing new
        assert Message.objects.count() == 5
        assert all(seen for _raw, seen in mailbox_messages(address(email_channel)))


def client_mailbox() -> str:
    return new_address("client", domain="client.example")


@pytest.mark.django_db
class TestThreads:
    def start(self, channel, client):
        deliver(address(channel), mail(sender=f"Пётр <{client}>", to=address(channel),
                                       subject="Счёт за декабрь", text="Пришлите счёт."))
        read(channel)
        return Conversation.objects.get()

    def test_a_reply_goes_out_threaded_and_the_clients_answer_comes_back_to_it(
            self, email_channel, smtp_relay):
        client = client_mailbox()
        conversation = self.start(email_channel, client)
        asked = Message.objects.get()
        sent = reply_from_card(conversation, text="Счёт **№ 5** <b>во вложении</b>:\n- коробки")
        assert sent.status == Message.Status.SENT, sent.error
        # What reached the client's mailbox.
        [(raw, _seen)] = mailbox_messages(client)
        received = email.message_from_bytes(raw, policy=email.policy.default)
        assert received["Subject"] == "Re: Счёт за декабрь"
        assert received["In-Reply-To"] == f"<{asked.mail.mail_id}>"
        assert asked.mail.mail_id in received["References"]
        assert received["Message-ID"] == f"<{sent.external_id}>"
        reply_to = received["Reply-To"]
        assert reply_to.startswith(address(email_channel).partition("@")[0] + "+c")
        assert "Пришлите счёт." in received.get_body(("plain",)).get_content()
        html = received.get_body(("html",)).get_content()
        assert "<blockquote" in html and "Пришлите счёт." in html
        # The manager's simple formatting; what she typed as markup stays text.
        assert "<b>№ 5</b> &lt;b&gt;во вложении&lt;/b&gt;" in html
        assert "<ul><li>коробки</li></ul>" in html
        # A copy for the company's mail client.
        [(copy, seen)] = mailbox_messages(address(email_channel), folder="Sent")
        assert b"Message-ID: <" + sent.external_id.encode() in copy and seen
        # The client answers from their mail program.
        answer = mail(sender=client, to=reply_to, subject="Re: Re: Счёт за декабрь",
                      text="Спасибо, оплатим.", In_Reply_To=received["Message-ID"],
                      References=f"{received['References']} {received['Message-ID']}")
        deliver(address(email_channel), answer)
        read(email_channel)
        answered = Message.objects.get(text="Спасибо, оплатим.")
        assert answered.conversation == conversation
        assert Conversation.objects.count() == 1

    def test_a_colleague_answering_in_the_thread_joins_the_conversation(
            self, email_channel):
        conversation = self.start(email_channel, client_mailbox())
        sent = reply_from_card(conversation)
        colleague = mail(sender="Бухгалтерия <buh@client.example>", to=address(email_channel),
                         subject="Re: Счёт за декабрь", text="Оплачено.",
                         In_Reply_To=f"<{sent.external_id}>")
        deliver(address(email_channel), colleague)
        read(email_channel)
        assert Message.objects.get(text="Оплачено.").conversation == conversation
        assert Contact.objects.count() == 1  # no lead made of the colleague

    def test_the_plus_addressed_reply_to_threads_without_any_ids(self, email_channel):
        conversation = self.start(email_channel, client_mailbox())
        own = address(email_channel)
        local, _at, domain = own.partition("@")
        from inbox.providers.mail.threading import reply_token

        tagged = f"{local}+{reply_token(conversation.pk)}@{domain}"
        deliver(own, mail(sender="other@client.example", to=tagged, subject="Вопрос",
                          text="По тому же счёту."))
        read(email_channel)
        assert Message.objects.get(text="По тому же счёту.").conversation == conversation

    def test_a_forged_token_threads_nowhere(self, email_channel):
        conversation = self.start(email_channel, client_mailbox())
        own = address(email_channel)
        local, _at, domain = own.partition("@")
        forged = f"{local}+c{conversation.pk}.0000000000000000@{domain}"
        deliver(own, mail(sender="stranger@evil.example", to=forged, text="Подмена."))
        read(email_channel)
        assert Message.objects.get(text="Подмена.").conversation != conversation

    def test_a_bounce_fails_our_mail_and_marks_the_address(self, email_channel):
        client = client_mailbox()
        conversation = self.start(email_channel, client)
        sent = reply_from_card(conversation)
        bounce = corpus("bounce_permanent", to=address(email_channel))
        bounce = (bounce.replace(b"crm.0a1b2c3d4e5f.30@crm.test", sent.external_id.encode())
                  .replace(b"no.such.user@romashka.ru", client.encode()))
        deliver(address(email_channel), bounce)
        read(email_channel)
        sent.refresh_from_db()
        assert sent.status == Message.Status.FAILED and "5.1.1" in sent.error
        identity = ChannelIdentity.objects.get()
        assert identity.is_unreachable and "User unknown" in identity.unreachable_reason
        # The next reply is refused before any server is asked, and the card says why.
        refused = reply_from_card(conversation, text="Ещё раз")
        assert refused.status == Message.Status.FAILED
        from django.test import Client
        from django.urls import reverse

        owner = Client()
        owner.force_login(conversation.deal.owner)
        card = owner.get(reverse("deal_detail", args=[conversation.deal_id])).content.decode()
        assert "data-unreachable" in card and "5.1.1 User unknown" in card

    def test_an_auto_reply_gets_no_out_of_office_reply_and_awaits_nothing(
            self, email_channel, smtp_relay):
        email_channel.out_of_office_reply = "Мы ответим в рабочее время."
        email_channel.business_hours = {day: [] for day in
                                        ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
        email_channel.save()
        before = len(smtp_relay.received)
        deliver(address(email_channel), corpus("auto_reply_rfc3834", to=address(email_channel)))
        read(email_channel)
        assert Message.objects.get().is_automatic
        assert len(smtp_relay.received) == before
        assert not Conversation.objects.get().awaiting_reply


@pytest.mark.django_db
class TestSending:
    def test_a_server_refusal_fails_the_reply_with_the_servers_words(
            self, email_channel, smtp_relay):
        deliver(address(email_channel), mail(sender="refuse-me@client.example",
                                             to=address(email_channel)))
        read(email_channel)
        failed = reply_from_card(Conversation.objects.get())
        assert failed.status == Message.Status.FAILED
        assert "550" in failed.error and "No such user" in failed.error

    def test_a_long_letter_goes_out_whole(self, email_channel):
        """A mail is no chat message: 10,000 characters are sent as typed (messengers stop
        at their providers' 4,096)."""
        client = client_mailbox()
        deliver(address(email_channel), mail(sender=client, to=address(email_channel)))
        read(email_channel)
        letter = "\n\n".join(f"Пункт {n}: " + " ".join(["условия договора"] * 10)
                               for n in range(60))
        assert len(letter) > 10_000
        sent = reply_from_card(Conversation.objects.get(), text=letter)
        assert sent.status == Message.Status.SENT and sent.text == letter
        [(raw, _seen)] = mailbox_messages(client)
        received = email.message_from_bytes(raw, policy=email.policy.default)
        assert received.get_body(("plain",)).get_content().startswith(letter)

    def test_a_file_goes_out_as_an_attachment_of_the_threaded_mail(self, email_channel):
        from django.core.files.uploadedfile import SimpleUploadedFile

        client = client_mailbox()
        deliver(address(email_channel), mail(sender=client, to=address(email_channel),
                                             subject="Прайс"))
        read(email_channel)
        conversation = Conversation.objects.get()
        with TestCase.captureOnCommitCallbacks(execute=True):
            services.message_reply_file(
                conversation=conversation, by=conversation.assignee,
                upload=SimpleUploadedFile("Прайс.pdf", b"%PDF-1.4 price",
                                          content_type="application/pdf"),
                caption="Прайс во вложении")
        [(raw, _seen)] = mailbox_messages(client)
        received = email.message_from_bytes(raw, policy=email.policy.default)
        assert received["Subject"] == "Re: Прайс"
        [attachment] = received.iter_attachments()
        assert attachment.get_filename() == "Прайс.pdf"
        assert attachment.get_content() == b"%PDF-1.4 price"


@pytest.mark.django_db
def test_mail_details_hold_the_envelope_and_the_inline_images(email_channel):
    deliver(address(email_channel), corpus("inline_image", to=address(email_channel)))
    read(email_channel)
    details = MailDetails.objects.get()
    assert details.inline == {"logo@studio.example": "2"}
    assert json.loads(details.recipients)["to"] == [address(email_channel)]
    assert 'src="cid:logo@studio.example"' in details.html
    assert Attachment.objects.get().name == "logo.png"


@pytest.mark.django_db
class TestTheCard:
    def owner_client(self):
        from django.test import Client

        conversation = Conversation.objects.get()
        client = Client()
        client.force_login(conversation.deal.owner)
        return client, conversation.deal

    def test_hostile_html_is_served_sanitized_under_a_policy_of_its_own(self, email_channel):
        from django.urls import reverse

        deliver(address(email_channel), corpus("hostile_html", to=address(email_channel)))
        read(email_channel)
        client, deal = self.owner_client()
        message = Message.objects.get()
        url = reverse("mail_html", args=[deal.pk, message.pk])
        page = client.get(url)
        body = page.content.decode()
        assert page.status_code == 200 and "Please pay the <b>invoice</b>" in body
        for hostile in ("<script", "onload", "onerror", "javascript:", "<iframe", "<form",
                        "<svg", "http-equiv", "track.gif", "banner.png"):
            assert hostile not in body
        policy = page["Content-Security-Policy"]
        assert "sandbox" in policy and "script-src" not in policy and "https:" not in policy
        assert "unsafe-" not in policy and "default-src 'none'" in policy
        assert page["X-Frame-Options"] == "SAMEORIGIN"
        with_images = client.get(url + "?images=1")
        assert "https://evil.example/banner.png" in with_images.content.decode()
        assert "track.gif" not in with_images.content.decode()  # a tracking pixel: never
        assert "img-src 'self' data: https:" in with_images["Content-Security-Policy"]
        # The card shows the subject escaped and the formatted version in the sandboxed frame.
        card = client.get(reverse("deal_detail", args=[deal.pk])).content.decode()
        assert "&lt;script&gt;alert(&#x27;subject&#x27;)&lt;/script&gt; Invoice" in card
        assert f'src="{url}"' in card and 'sandbox="allow-popups' in card

    def test_the_quoted_history_and_an_invitation_are_shown_as_such(self, email_channel):
        from django.urls import reverse

        deliver(address(email_channel), corpus("calendar_invite", to=address(email_channel)))
        deliver(address(email_channel), corpus("forward_inline", to=address(email_channel)))
        read(email_channel)
        client, deal = self.owner_client()
        card = client.get(reverse("deal_detail", args=[deal.pk])).content.decode()
        assert "Обсуждение договора, этап 2 · 2026-12-10 08:00 UTC" in card
        assert "Москва, ул. Тверская 1" in card
        assert 'class="mail-entry__quoted"' in card and "Forwarded message" in card

    def test_an_inline_image_is_its_attachment(self, email_channel):
        from django.urls import reverse

        deliver(address(email_channel), corpus("inline_image", to=address(email_channel)))
        read(email_channel)
        client, deal = self.owner_client()
        message = Message.objects.get()
        body = client.get(reverse("mail_html", args=[deal.pk, message.pk])).content.decode()
        download = reverse("attachment_download", args=[deal.pk, message.attachments.get().pk])
        assert f'src="{download}"' in body
        assert client.get(download).content.startswith(b"\x89PNG")


@pytest.mark.django_db
def test_the_admin_tests_the_mailbox_connection(director, email_channel):
    from django.test import Client
    from django.urls import reverse

    client = Client()
    client.force_login(director)
    page = client.get(reverse("admin:inbox_channel_change", args=[email_channel.pk]))
    assert address(email_channel) in page.content.decode()
    assert "test-password" not in page.content.decode()  # the password is write-only
    response = client.post(reverse("admin:inbox_channel_changelist"), {
        "action": "test_mailbox", "_selected_action": [email_channel.pk]}, follow=True)
    text = response.content.decode()
    assert "IMAP: INBOX, 0" in text and "SMTP: 250" in text
    mailbox = email_channel.mailbox
    mailbox.password = "wrong"
    mailbox.save()
    response = client.post(reverse("admin:inbox_channel_changelist"), {
        "action": "test_mailbox", "_selected_action": [email_channel.pk]}, follow=True)
    assert "refused the login" in response.content.decode()


@pytest.fixture
def local_mailbox(north, anna, settings, tmp_path):
    """The embedded demo's kind of mailbox: a Maildir on this machine, no server."""
    from inbox.models import Channel, Mailbox

    settings.MAILDIR_ROOT = tmp_path / "maildir"
    channel = Channel.objects.create(kind=Channel.Kind.EMAIL, name="Почта (демо)", team=north)
    Mailbox.objects.create(channel=channel, server=Mailbox.Server.LOCAL,
                           address="sales@company.example")
    return channel


@pytest.mark.django_db
class TestTheDemoMailbox:
    def simulate(self, text, sender="Пётр Иванов"):
        from io import StringIO

        from django.core.management import call_command

        out = StringIO()
        with TestCase.captureOnCommitCallbacks(execute=True):
            call_command("simulate_inbound", channel="Почта (демо)", sender=sender, text=text,
                         stdout=out)
        return out.getvalue()

    def test_simulate_inbound_mails_a_realistic_message_into_it(self, local_mailbox):
        out = self.simulate("Нужны 5 коробок к пятнице")
        assert "Read the mailbox: 1 new" in out
        message = Message.objects.get()
        assert message.text == "Нужны 5 коробок к пятнице"  # the signature folded away
        assert message.mail.quoted.startswith("-- \nПётр Иванов")
        assert message.mail.html and message.mail.sender_name == "Пётр Иванов"
        attachment = message.attachments.get()
        assert attachment.name == "заявка.csv" and attachment.file_path
        self.simulate("И ещё 2 паллеты")
        assert Conversation.objects.count() == 1 and Message.objects.count() == 2

    def test_the_folder_reads_in_arrival_order_across_a_microsecond_digit(self,
                                                                          local_mailbox):
        """Maildir names carry the delivery's microseconds unpadded: "M99999" was delivered
        before "M100000" of the same second, though it sorts after it as text (a second mail
        of the demo then hid behind the first one's UID)."""
        from inbox.providers.mail import local

        folder = local.path_of("sales@company.example") / "new"
        local.LocalFolder("sales@company.example")  # creates the Maildir
        for name, text in (("1765000000.M99999P7Q1.host", "первое"),
                           ("1765000000.M100000P7Q2.host", "второе"),
                           ("1765000001.M5P7Q3.host", "третье")):
            (folder / name).write_bytes(mail(sender="a@client.example",
                                             to="sales@company.example", text=text))
        reader = local.LocalFolder("sales@company.example")
        texts = [email.message_from_bytes(f.raw).get_payload(decode=True).decode().strip()
                 for f in reader.fetch(reader.new_uids(0))]
        assert texts == ["первое", "второе", "третье"]

    def test_a_reply_is_filed_in_its_sent_folder(self, local_mailbox):
        from inbox.providers.mail import local

        self.simulate("Пришлите счёт")
        sent = reply_from_card(Conversation.objects.get())
        assert sent.status == Message.Status.SENT
        [raw] = [local.LocalFolder("sales@company.example", "Sent").raw(1)]
        received = email.message_from_bytes(raw, policy=email.policy.default)
        assert received["Subject"] == "Re: Пришлите счёт"
        assert received["In-Reply-To"] == f"<{Message.objects.first().mail.mail_id}>"


@pytest.mark.django_db(transaction=True)
def test_idle_reads_a_mail_as_soon_as_the_server_announces_it(email_channel, smtp_relay,
                                                              monkeypatch):
    """The IDLE watcher, against Dovecot: a mail sent through the SMTP server is stored within
    a second or two of its delivery, with no poll; stopping the watcher ends it."""
    import smtplib
    import threading
    import time

    monkeypatch.setattr(mailboxes, "IDLE_WAIT_SECONDS", 0.5)  # a quick stop at the end
    stop = threading.Event()
    watcher = threading.Thread(target=mailboxes.watch, args=(email_channel.pk,),
                               kwargs={"stop": stop}, daemon=True)
    watcher.start()
    try:
        time.sleep(0.5)  # the watcher's first read and its IDLE
        sent_at = time.monotonic()
        with smtplib.SMTP("127.0.0.1", smtp_relay.port) as server:
            server.send_message(email.message_from_bytes(mail(
                sender="Пётр <petr@client.example>", to=address(email_channel),
                text="Срочно нужен счёт")))
        while not Message.objects.filter(text="Срочно нужен счёт").exists():
            assert time.monotonic() - sent_at < 10, "IDLE did not bring the mail"
            time.sleep(0.05)
    finally:
        stop.set()
        watcher.join(timeout=15)
    assert not watcher.is_alive()
    assert all(seen for _raw, seen in mailbox_messages(address(email_channel)))


@pytest.mark.django_db
class TestCampaignMail:
    """A campaign by e-mail reaches the clients known by the address on their card, carries a
    List-Unsubscribe, and the client's "Unsubscribe" (a mail to that address) withdraws the
    consent on the ledger, with the mail as its evidence."""

    def audience(self, anna):
        from consents.models import ConsentEvent, Purpose
        from consents.services import consent_record, purpose_text_publish
        from tests.factories import make_contact

        purpose = Purpose.objects.create(code="newsletter", title="Новости и акции",
                                         is_advertising=True)
        purpose_text_publish(purpose=purpose, text="Согласен получать новости.")
        client_address = client_mailbox()
        consenting = make_contact(anna, name="Ольга", emails=[client_address])
        consent_record(contact=consenting, purpose=purpose, kind=ConsentEvent.Kind.GRANTED,
                       source=ConsentEvent.Source.MANAGER, evidence={"note": "по телефону"},
                       by=anna)
        silent = make_contact(anna, name="Не давал согласия", emails=[client_mailbox()])
        return purpose, client_address, consenting, silent

    def send(self, anna, channel, purpose, name="Декабрьская акция"):
        from inbox import campaigns

        campaign = campaigns.campaign_create(by=anna, name=name, purpose=purpose,
                                             channel=channel, text="Скидка 10% до конца года")
        with TestCase.captureOnCommitCallbacks(execute=True):
            campaigns.campaign_send(campaign=campaign, by=anna)
        return campaign

    def test_it_reaches_the_address_on_the_card_and_unsubscribing_withdraws(
            self, email_channel, anna):
        from consents.models import ConsentEvent
        from consents.selectors import consent_history, may_contact

        purpose, client_address, consenting, silent = self.audience(anna)
        campaign = self.send(anna, email_channel, purpose)
        outcome = {r.contact_id: (r.status, r.reason) for r in campaign.recipients.all()}
        assert outcome == {consenting.pk: ("sent", ""), silent.pk: ("excluded", "no_consent")}
        [(raw, _seen)] = mailbox_messages(client_address)
        received = email.message_from_bytes(raw, policy=email.policy.default)
        assert received["Subject"] == "Декабрьская акция"
        assert received["Precedence"] == "bulk"
        unsubscribe = received["List-Unsubscribe"].strip("<>").removeprefix("mailto:")
        to = unsubscribe.partition("?")[0]
        assert to.startswith(address_of(email_channel, tagged=True))

        # The client's mail program writes to the unsubscribe address.
        deliver(address(email_channel), mail(sender=client_address, to=to,
                                             subject="unsubscribe"))
        read(email_channel)
        assert not may_contact(contact_id=consenting.pk, purpose=purpose)
        [withdrawn] = [row for row in consent_history(contact_id=consenting.pk)
                       if row["event"].kind == ConsentEvent.Kind.WITHDRAWN]
        assert withdrawn["event"].source == ConsentEvent.Source.EMAIL_UNSUBSCRIBE
        assert withdrawn["evidence"]["from"] == client_address
        assert not Message.objects.filter(text="").exists()  # no message made of it
        second = self.send(anna, email_channel, purpose, name="Январская акция")
        assert second.recipients.get(contact=consenting).reason == "withdrawn"

    def test_a_forged_unsubscribe_token_withdraws_nothing(self, email_channel, anna):
        from consents.selectors import may_contact

        purpose, _client, consenting, _silent = self.audience(anna)
        local, _at, domain = address_of(email_channel).partition("@")
        forged = f"{local}+u{consenting.pk}.{purpose.pk}.0000000000000000@{domain}"
        deliver(address_of(email_channel), mail(sender="x@evil.example", to=forged))
        read(email_channel)
        assert may_contact(contact_id=consenting.pk, purpose=purpose)


def address_of(channel, *, tagged: bool = False) -> str:
    own = channel.mailbox.address
    if not tagged:
        return own
    local, _at, domain = own.partition("@")
    return f"{local}+u"
