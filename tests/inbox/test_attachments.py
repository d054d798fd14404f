"""Files both ways: a client's photo or document fetched from the (fake) Bot API and kept
encrypted; the download from the deal card; a file sent from the composer by sendDocument."""

import copy
import hashlib
import json
from pathlib import Path

import pytest
from celery.exceptions import Retry
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from inbox import attachments, services, tasks
from inbox.models import Attachment, Message
from tests.factories import client_for
from tests.inbox.conftest import CLIENT_CHAT_ID

FIXTURES = Path(__file__).parent / "fixtures" / "telegram"
# Recognisable plaintext: the stored file must not contain any of it.
PHOTO = b"\xff\xd8\xff\xe0JFIF-photo-of-the-rack-" * 300
PDF = b"%PDF-1.7 technical specification, page one " * 200
# Every byte value, CR LF and NUL included: what a multipart parser could mangle.
BINARY = PDF + bytes(range(256)) * 40 + b"\r\n--\r\n\x00"


def update(name: str, *, update_id: int, **media) -> dict:
    """A fixture update as sent by anna's client (the chat of `anna_conversation`), with
    the media fields replaced by `media`."""
    payload = copy.deepcopy(json.loads((FIXTURES / f"{name}.json").read_text()))
    payload["update_id"] = update_id
    body = payload["message"]
    body["chat"]["id"] = body["from"]["id"] = int(CLIENT_CHAT_ID)
    body.update(media)
    return payload


def photo_update(file_id: str, size: int, update_id: int = 910001) -> dict:
    return update("message_photo", update_id=update_id, photo=[
        {"file_id": "small-" + file_id, "file_unique_id": "s", "file_size": 100, "width": 90,
         "height": 67},
        {"file_id": file_id, "file_unique_id": "l", "file_size": size, "width": 1280,
         "height": 960},
    ])


def document_update(file_id: str, size: int, name: str, mime: str = "application/pdf",
                    update_id: int = 910002) -> dict:
    return update("message_document", update_id=update_id, document={
        "file_name": name, "mime_type": mime, "file_id": file_id, "file_unique_id": "d",
        "file_size": size,
    })


def deliver(channel, payload, capture):
    """POST the update to the channel's webhook as Telegram does; the processing and the
    fetch of the files run once the transaction commits (eagerly, as without a worker)."""
    with capture(execute=True):
        response = Client().post(
            reverse("webhook", args=["telegram", channel.uuid]),
            data=json.dumps(payload, ensure_ascii=False).encode(),
            content_type="application/json",
            HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN=channel.webhook_secret,
        )
    assert response.status_code == 200
    return Attachment.objects.order_by("-pk").first()


def download_url(attachment) -> str:
    return reverse("attachment_download",
                   args=[attachment.message.conversation.deal_id, attachment.pk])


def on_disk(attachment) -> bytes:
    return (Path(settings.MEDIA_ROOT) / attachment.file_path).read_bytes()


@pytest.fixture
def deliver_to(telegram_channel, anna_conversation, django_capture_on_commit_callbacks):
    def deliver_one(payload):
        return deliver(telegram_channel, payload, django_capture_on_commit_callbacks)
    return deliver_one


# --- Inbound: fetched, stored encrypted ------------------------------------------------------


@pytest.mark.django_db
class TestInbound:
    def test_a_photo_is_fetched_and_stored_encrypted(self, deliver_to, fake_bot_api):
        file_id = fake_bot_api.add_file(PHOTO)
        attachment = deliver_to(photo_update(file_id, len(PHOTO)))
        [get_file] = fake_bot_api.calls("getFile")
        assert get_file.body == {"file_id": file_id}
        assert fake_bot_api.calls(f"file:documents/{file_id}")
        assert attachment.kind == "photo"
        assert attachment.fetch_error == ""
        assert attachment.size == len(PHOTO)
        assert attachment.sha256 == hashlib.sha256(PHOTO).hexdigest()
        stored = on_disk(attachment)
        assert stored != PHOTO
        assert b"photo-of-the-rack" not in stored
        assert attachments.open_decrypted(attachment) == PHOTO

    def test_the_path_on_disk_reveals_nothing(self, deliver_to, fake_bot_api):
        file_id = fake_bot_api.add_file(PDF)
        attachment = deliver_to(document_update(file_id, len(PDF), "Договор Петрова.pdf"))
        parts = attachment.file_path.split("/")
        assert parts[0] == "attachments" and len(parts) == 4
        assert parts[1].isdigit() and parts[2].isdigit()
        assert parts[3].endswith(".bin") and len(parts[3]) == 36
        assert file_id not in attachment.file_path
        assert oct((Path(settings.MEDIA_ROOT) / attachment.file_path).stat().st_mode)[-3:] \
            == "600"

    def test_a_stored_file_is_not_fetched_again(self, deliver_to, fake_bot_api):
        attachment = deliver_to(photo_update(fake_bot_api.add_file(PHOTO), len(PHOTO)))
        path = attachment.file_path
        tasks.fetch_attachments.apply(args=(attachment.message_id,))
        tasks.fetch_attachments.apply(args=(attachment.message_id,))
        assert len(fake_bot_api.calls("getFile")) == 1
        attachment.refresh_from_db()
        assert attachment.file_path == path

    def test_a_file_declared_too_large_is_not_downloaded(self, deliver_to, fake_bot_api,
                                                          settings):
        settings.INBOX_MAX_ATTACHMENT_BYTES = 1000
        attachment = deliver_to(photo_update(fake_bot_api.add_file(PHOTO), len(PHOTO)))
        assert fake_bot_api.calls("getFile") == []
        assert attachment.file_path == ""
        assert "1000" in attachment.fetch_error.replace("\xa0", "")
        assert not (Path(settings.MEDIA_ROOT) / "attachments").exists()

    def test_a_file_larger_than_it_said_is_refused(self, deliver_to, fake_bot_api, settings):
        settings.INBOX_MAX_ATTACHMENT_BYTES = 1000
        attachment = deliver_to(photo_update(fake_bot_api.add_file(PHOTO), 500))
        assert len(fake_bot_api.calls("getFile")) == 1
        assert attachment.file_path == ""
        assert attachment.fetch_error
        assert not (Path(settings.MEDIA_ROOT) / "attachments").exists()

    def test_it_retries_after_a_429_and_then_stores_the_file(self, deliver_to, fake_bot_api,
                                                             provider_waits):
        fake_bot_api.retry_after = 3
        fake_bot_api.fail_next("429", method="getFile")
        attachment = deliver_to(photo_update(fake_bot_api.add_file(PHOTO), len(PHOTO)))
        assert len(fake_bot_api.calls("getFile")) == 2
        assert provider_waits == [3]  # retry_after honoured
        assert attachment.fetch_error == ""
        assert attachments.open_decrypted(attachment) == PHOTO

    def test_a_worker_retries_with_the_providers_retry_after(
        self, anna_conversation, fake_bot_api, monkeypatch
    ):
        message = Message.objects.create(conversation=anna_conversation,
                                         channel=anna_conversation.channel, direction="in",
                                         status=Message.Status.RECEIVED, text="")
        Attachment.objects.create(message=message, kind="photo",
                                  provider_file_id=fake_bot_api.add_file(PHOTO))
        fake_bot_api.retry_after = 7
        fake_bot_api.fail_next("429", method="file")
        asked = {}

        def retry(**kwargs):
            asked.update(kwargs)
            return Retry()

        monkeypatch.setattr(tasks.fetch_attachments, "retry", retry)
        with pytest.raises(Retry):
            tasks.fetch_attachments.run(message.pk)  # as a worker runs it: not eagerly
        assert asked["countdown"] == 7
        assert Attachment.objects.get().fetch_error == ""  # waiting, not failed

    @pytest.mark.parametrize("mode, error", [
        ("403", "Forbidden: bot was blocked by the user"),
        ("400", "Bad Request: wrong file_id or the file is temporarily unavailable"),
    ])
    def test_a_permanent_error_is_recorded_without_retrying(self, deliver_to, fake_bot_api,
                                                           mode, error):
        fake_bot_api.fail_next(mode, method="getFile")
        attachment = deliver_to(photo_update(fake_bot_api.add_file(PHOTO), len(PHOTO)))
        assert len(fake_bot_api.calls("getFile")) == 1
        assert attachment.file_path == ""
        assert attachment.fetch_error == f"Telegram отклонил запрос: {error}"

    def test_the_last_error_stays_when_the_retries_run_out(self, deliver_to, fake_bot_api,
                                                          monkeypatch):
        fake_bot_api.fail_next("500", times=10, method="getFile")
        attachment = deliver_to(photo_update(fake_bot_api.add_file(PHOTO), len(PHOTO)))
        assert len(fake_bot_api.calls("getFile")) == tasks.FETCH_EAGER_MAX_RETRIES + 1
        assert attachment.fetch_error == "Telegram отклонил запрос: Internal Server Error"
        # The message itself was received all the same.
        assert attachment.message.status == Message.Status.RECEIVED
        assert attachment.message.text == "Вот фото стойки"

    def test_a_malicious_file_name_is_neutralised(self, deliver_to, fake_bot_api, anna):
        content = b"<html><script>alert(1)</script></html>"
        file_id = fake_bot_api.add_file(content)
        attachment = deliver_to(document_update(file_id, len(content), "../../<script>.html",
                                                mime="text/html"))
        assert attachment.name == "_script_.html"
        assert ".." not in attachment.file_path and "script" not in attachment.file_path
        response = client_for(anna).get(download_url(attachment))
        assert response["Content-Type"] == "application/octet-stream"
        assert response["Content-Disposition"] == 'attachment; filename="_script_.html"'


# --- Download -------------------------------------------------------------------------------


@pytest.mark.django_db
class TestDownload:
    def test_the_owner_gets_the_plaintext_with_safe_headers(self, deliver_to, fake_bot_api,
                                                            anna):
        attachment = deliver_to(photo_update(fake_bot_api.add_file(PHOTO), len(PHOTO)))
        response = client_for(anna).get(download_url(attachment))
        assert response.status_code == 200
        assert response.content == PHOTO
        assert response["Content-Type"] == "image/jpeg"
        assert response["Content-Disposition"] == 'attachment; filename="photo.jpg"'
        assert response["X-Content-Type-Options"] == "nosniff"
        assert "sandbox" in response["Content-Security-Policy"]
        assert "default-src 'none'" in response["Content-Security-Policy"]
        assert response["Cache-Control"] == "private, no-store"
        assert response["Content-Length"] == str(len(PHOTO))

    def test_a_non_ascii_name_is_sent_as_rfc_5987(self, deliver_to, fake_bot_api, anna):
        attachment = deliver_to(document_update(fake_bot_api.add_file(PDF), len(PDF),
                                                "ТЗ на поставку.pdf"))
        response = client_for(anna).get(download_url(attachment))
        assert response.content == PDF
        assert response["Content-Type"] == "application/pdf"
        assert response["Content-Disposition"] == (
            "attachment; filename*=utf-8''%D0%A2%D0%97%20%D0%BD%D0%B0%20"
            "%D0%BF%D0%BE%D1%81%D1%82%D0%B0%D0%B2%D0%BA%D1%83.pdf")

    def test_others_get_404(self, deliver_to, fake_bot_api, ivan, olga):
        attachment = deliver_to(photo_update(fake_bot_api.add_file(PHOTO), len(PHOTO)))
        for outsider in (ivan, olga):  # a teammate it is not shared with; the other team
            response = client_for(outsider).get(download_url(attachment))
            assert response.status_code == 404
            assert PHOTO not in response.content

    def test_an_attachment_of_another_deal_is_404_through_this_one(
        self, deliver_to, fake_bot_api, anna, olga, olga_conversation
    ):
        attachment = deliver_to(photo_update(fake_bot_api.add_file(PHOTO), len(PHOTO)))
        url = reverse("attachment_download", args=[olga_conversation.deal_id, attachment.pk])
        assert client_for(olga).get(url).status_code == 404

    def test_a_file_not_fetched_yet_says_so(self, deliver_to, fake_bot_api, anna,
                                            monkeypatch):
        monkeypatch.setattr(tasks.fetch_attachments, "delay", lambda *args: None)
        attachment = deliver_to(photo_update(fake_bot_api.add_file(PHOTO), len(PHOTO)))
        response = client_for(anna).get(download_url(attachment))
        assert response.status_code == 404
        assert "Файл ещё загружается из мессенджера" in response.content.decode()

    def test_a_file_that_failed_says_why(self, deliver_to, fake_bot_api, anna):
        fake_bot_api.fail_next("403", method="getFile")
        attachment = deliver_to(photo_update(fake_bot_api.add_file(PHOTO), len(PHOTO)))
        response = client_for(anna).get(download_url(attachment))
        assert response.status_code == 404
        assert "Forbidden: bot was blocked by the user" in response.content.decode()

    def test_a_byte_range_is_served_for_seeking(self, deliver_to, fake_bot_api, anna):
        attachment = deliver_to(photo_update(fake_bot_api.add_file(PHOTO), len(PHOTO)))
        client = client_for(anna)
        response = client.get(download_url(attachment), HTTP_RANGE="bytes=10-19")
        assert response.status_code == 206
        assert response.content == PHOTO[10:20]
        assert response["Content-Range"] == f"bytes 10-19/{len(PHOTO)}"
        response = client.get(download_url(attachment), HTTP_RANGE="bytes=-5")
        assert response.content == PHOTO[-5:]
        response = client.get(download_url(attachment), HTTP_RANGE=f"bytes={len(PHOTO)}-")
        assert response.status_code == 416
        assert response["Content-Range"] == f"bytes */{len(PHOTO)}"
        response = client.get(download_url(attachment), HTTP_RANGE="bytes=0-1,5-6")
        assert response.status_code == 200 and response.content == PHOTO

    def test_the_deal_card_links_the_file_and_previews_a_photo(self, deliver_to,
                                                               fake_bot_api, anna):
        attachment = deliver_to(photo_update(fake_bot_api.add_file(PHOTO), len(PHOTO)))
        card = client_for(anna).get(attachment.message.conversation.deal.get_absolute_url())
        html = card.content.decode()
        assert f'<img src="{download_url(attachment)}"' in html
        assert f'href="{download_url(attachment)}"' in html


# --- Outbound: a file from the composer ------------------------------------------------------


def reply_url(conversation) -> str:
    return reverse("conversation_reply", args=[conversation.deal_id, conversation.pk])


def send_file(user, conversation, capture, upload, text="", **extra):
    with capture(execute=True):
        return client_for(user).post(reply_url(conversation), {"text": text, "file": upload,
                                                               **extra},
                                     HTTP_ACCEPT="application/json")


@pytest.mark.django_db
class TestFileReply:
    def test_the_file_reaches_senddocument_byte_for_byte(
        self, anna, anna_conversation, fake_bot_api, django_capture_on_commit_callbacks
    ):
        upload = SimpleUploadedFile("Счёт №17.pdf", BINARY, content_type="application/pdf")
        response = send_file(anna, anna_conversation, django_capture_on_commit_callbacks,
                             upload, text="Счёт во вложении")
        assert response.status_code == 200
        [call] = fake_bot_api.calls("sendDocument")
        assert call.body == {"chat_id": CLIENT_CHAT_ID, "caption": "Счёт во вложении"}
        name, content, mime = call.files["document"]
        assert content == BINARY
        assert name == "Счёт №17.pdf"
        assert mime == "application/pdf"
        assert fake_bot_api.calls("sendMessage") == []
        message = Message.objects.get()
        assert message.status == Message.Status.SENT
        assert message.text == "Счёт во вложении"
        assert message.external_id == f"{CLIENT_CHAT_ID}:101"
        attachment = message.attachments.get()
        assert attachment.sha256 == hashlib.sha256(BINARY).hexdigest()
        assert b"technical specification" not in on_disk(attachment)
        assert client_for(anna).get(download_url(attachment)).content == BINARY
        assert f'href="{download_url(attachment)}"' in response.json()["chat_html"]

    def test_a_file_without_a_caption_is_sent(
        self, anna, anna_conversation, fake_bot_api, django_capture_on_commit_callbacks
    ):
        upload = SimpleUploadedFile("photo.png", b"\x89PNG" + b"x" * 50, "image/png")
        send_file(anna, anna_conversation, django_capture_on_commit_callbacks, upload)
        [call] = fake_bot_api.calls("sendDocument")
        assert "caption" not in call.body
        assert Message.objects.get().status == Message.Status.SENT

    def test_a_file_too_large_is_refused_clearly(
        self, anna, anna_conversation, fake_bot_api, django_capture_on_commit_callbacks,
        settings,
    ):
        settings.INBOX_MAX_UPLOAD_BYTES = 1000
        upload = SimpleUploadedFile("big.pdf", PDF, content_type="application/pdf")
        response = send_file(anna, anna_conversation, django_capture_on_commit_callbacks,
                             upload)
        assert response.status_code == 400
        [error] = response.json()["errors"]["file"]
        assert "Файл слишком большой" in error["message"]
        assert not Message.objects.exists()
        assert fake_bot_api.requests == []
        assert not (Path(settings.MEDIA_ROOT) / "attachments").exists()

    def test_a_private_note_cannot_carry_a_file(
        self, anna, anna_conversation, fake_bot_api, django_capture_on_commit_callbacks
    ):
        upload = SimpleUploadedFile("a.pdf", PDF, content_type="application/pdf")
        response = send_file(anna, anna_conversation, django_capture_on_commit_callbacks,
                             upload, private="1")
        assert response.status_code == 400
        assert response.json()["errors"]["file"]
        assert not Message.objects.exists()

    def test_a_malicious_file_name_is_neutralised(
        self, anna, anna_conversation, fake_bot_api, django_capture_on_commit_callbacks
    ):
        upload = SimpleUploadedFile("../../x.html", b"<script>alert(1)</script>",
                                    content_type="text/html")
        send_file(anna, anna_conversation, django_capture_on_commit_callbacks, upload)
        attachment = Attachment.objects.get()
        assert attachment.name == "x.html"
        assert attachment.file_path.startswith("attachments/")
        assert ".." not in attachment.file_path
        response = client_for(anna).get(download_url(attachment))
        assert response["Content-Type"] == "application/octet-stream"
        assert response["Content-Disposition"] == 'attachment; filename="x.html"'
        assert response.content == b"<script>alert(1)</script>"

    def test_a_429_on_senddocument_is_retried(
        self, anna, anna_conversation, fake_bot_api, django_capture_on_commit_callbacks
    ):
        fake_bot_api.retry_after = 1
        fake_bot_api.fail_next("429")
        upload = SimpleUploadedFile("a.pdf", PDF, content_type="application/pdf")
        send_file(anna, anna_conversation, django_capture_on_commit_callbacks, upload)
        first, second = fake_bot_api.calls("sendDocument")
        assert second.files["document"][1] == PDF
        assert Message.objects.get().status == Message.Status.SENT

    def test_a_file_lost_from_storage_fails_the_message_visibly(
        self, anna, anna_conversation, fake_bot_api, django_capture_on_commit_callbacks,
        monkeypatch,
    ):
        monkeypatch.setattr(tasks.send_message, "delay", lambda *args: None)
        upload = SimpleUploadedFile("a.pdf", PDF, content_type="application/pdf")
        send_file(anna, anna_conversation, django_capture_on_commit_callbacks, upload)
        message = Message.objects.get()
        (Path(settings.MEDIA_ROOT) / message.attachments.get().file_path).unlink()
        services.message_send(message=message)
        message.refresh_from_db()
        assert message.status == Message.Status.FAILED
        assert message.error
        assert fake_bot_api.calls("sendDocument") == []


# --- Names ----------------------------------------------------------------------------------


@pytest.mark.parametrize("given, safe", [
    ("../../x.html", "x.html"),
    ("..\\..\\boot.ini", "boot.ini"),
    ("<script>alert(1)</script>.pdf", "script_.pdf"),
    ("<b>счёт</b>", "b_"),
    ("<b>счёт.pdf", "_b_счёт.pdf"),
    (".htaccess", "htaccess"),
    ("..", "file"),
    ("", "file"),
    ("счёт\u202efdp.exe", "счётfdp.exe"),
    ("a\r\nb.txt", "a__b.txt"),
    ("x" * 300 + ".pdf", "x" * 251 + ".pdf"),
])
def test_safe_name(given, safe):
    assert attachments.safe_name(given) == safe


# --- A file goes with its row ----------------------------------------------------------------


@pytest.mark.django_db
class TestDeletedWithItsRow:
    def test_a_conversation_deleted_in_the_admin_takes_its_files_along(
            self, deliver_to, fake_bot_api, django_capture_on_commit_callbacks):
        attachment = deliver_to(photo_update(fake_bot_api.add_file(PHOTO), len(PHOTO)))
        path = attachments.storage.path_of(attachment.file_path)
        assert path.exists()
        with django_capture_on_commit_callbacks(execute=True):
            attachment.message.conversation.delete()  # cascades to messages, attachments
        assert not Attachment.objects.filter(pk=attachment.pk).exists()
        assert not path.exists()

    def test_the_file_waits_for_the_deletion_to_commit(
            self, deliver_to, fake_bot_api, django_capture_on_commit_callbacks):
        attachment = deliver_to(photo_update(fake_bot_api.add_file(PHOTO), len(PHOTO)))
        path = attachments.storage.path_of(attachment.file_path)
        with django_capture_on_commit_callbacks(execute=False) as after_commit:
            attachment.message.delete()
        assert path.exists()  # a rollback now would keep the row and its file
        for callback in after_commit:
            callback()
        assert not path.exists()
