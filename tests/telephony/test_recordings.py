"""Call recordings: fetched from the fake Mango API through its one-time link, stored
encrypted, streamed with byte ranges to whoever may see the deal, each playback logged."""

import hashlib
import logging
from pathlib import Path

import httpx
import pytest
from django.conf import settings
from django.core import serializers
from django.test import Client
from django.urls import reverse

from security.models import AccessRecord
from telephony import recording_tasks, recordings
from telephony.models import Call, CallbackCommand, CallEvent, Recording
from telephony.providers.base import ProviderError, RecordingReady
from telephony.providers.mango_client import MangoClient
from tests.factories import client_for
from tests.telephony.fake_mango import mango_form
from tests.telephony.fixtures_outbound import *  # noqa: F403

pytestmark = pytest.mark.django_db

# An MPEG audio frame header, then something recognisable in the plaintext.
MP3 = b"\xff\xfb\x90\x64" + b"ID3-the-client-says-the-budget-is-2M " * 300


def ready(account, call, recording_id, capture):
    with capture(execute=True):
        recording = recordings.recording_ready(
            account=account, event=RecordingReady(entry_id=call.entry_id,
                                                  recording_id=recording_id))
    recording.refresh_from_db()
    return recording


def on_disk(recording) -> bytes:
    return (Path(settings.MEDIA_ROOT) / recording.file_path).read_bytes()


def everything_stored() -> str:
    """Every row the recording's way touches, as text."""
    rows = [*Recording.objects.all(), *Call.objects.all(), *CallEvent.objects.all(),
            *CallbackCommand.objects.all()]
    return serializers.serialize("json", rows)


class TestFetch:
    def test_it_follows_the_one_time_link_and_stores_the_file_encrypted(
        self, mango_account, anna_call, fake_mango_api, django_capture_on_commit_callbacks,
        caplog,
    ):
        caplog.set_level(logging.DEBUG)
        recording_id = fake_mango_api.add_recording(MP3)
        recording = ready(mango_account, anna_call, recording_id,
                          django_capture_on_commit_callbacks)

        [query] = fake_mango_api.calls("queries/recording/post")
        assert query.sign_ok
        assert query.payload == {"recording_id": recording_id, "action": "download"}
        [link] = fake_mango_api.links
        downloads = [r for r in fake_mango_api.requests if r.method == "GET"]
        assert len(downloads) == 1  # followed once

        assert recording.fetch_error == ""
        assert recording.size == len(MP3)
        assert recording.sha256 == hashlib.sha256(MP3).hexdigest()
        assert recording.mime_type == "audio/mpeg"
        assert recording.fetched_at is not None
        stored = on_disk(recording)
        assert stored != MP3
        assert b"the-budget-is-2M" not in stored
        assert recordings.open_decrypted(recording) == MP3

        # The link is a credential: in no row, in no log line.
        token = link.rpartition("/")[2]
        text = everything_stored()
        assert token not in text and "download/" not in text
        assert token not in caplog.text
        # ...and it is spent.
        assert httpx.get(link).status_code == 404

    def test_the_deal_card_hears_that_the_calls_entry_changed(
        self, mango_account, anna_call, fake_mango_api, django_capture_on_commit_callbacks,
        monkeypatch,
    ):
        from core import events as crm_events
        from crm import services as crm_services

        entry = crm_services.timeline_add(kind="call", deal=anna_call.deal, source=anna_call)
        sent = []
        monkeypatch.setattr(crm_events, "send_after_commit",
                            lambda group, event: sent.append((group, event)))
        ready(mango_account, anna_call, fake_mango_api.add_recording(MP3),
              django_capture_on_commit_callbacks)
        assert (f"deal.{anna_call.deal_id}", {
            "type": "call.updated", "deal": anna_call.deal_id, "call": anna_call.pk,
            "entry": entry.pk,
        }) in sent

    def test_a_recording_of_a_call_not_known_yet_stores_nothing_and_asks_for_a_retry(
        self, mango_account, anna_call, fake_mango_api,
    ):
        with pytest.raises(recordings.CallNotYetKnown):
            recordings.recording_ready(
                account=mango_account,
                event=RecordingReady(entry_id="not-seen-yet", recording_id="rec-1"))
        assert not Recording.objects.exists()
        assert not fake_mango_api.requests

    def test_the_event_processed_before_its_call_fails_and_works_later(
        self, mango_account, anna_deal, fake_mango_api, django_capture_on_commit_callbacks,
    ):
        from telephony import services

        recording_id = fake_mango_api.add_recording(MP3)
        form = mango_form(fake_mango_api.api_key, fake_mango_api.api_salt,
                          {"entry_id": "MToxMDA1NzU5MzoxMjM6NDU2", "recording_id": recording_id})
        hook = f"/hooks/mango/{mango_account.uuid}/events/record/added"
        with django_capture_on_commit_callbacks(execute=True):
            assert Client().post(hook, form).status_code == 200
        event = CallEvent.objects.get()
        assert event.status == CallEvent.Status.FAILED
        assert "CallNotYetKnown" in event.error or "not" in event.error
        assert not Recording.objects.exists()

        make_call(mango_account, anna_deal)  # noqa: F405 - the call's events arrive
        with django_capture_on_commit_callbacks(execute=True):
            services.event_retry(event=event)
        event.refresh_from_db()
        assert event.status == CallEvent.Status.PROCESSED
        recording = Recording.objects.get()
        assert recording.sha256 == hashlib.sha256(MP3).hexdigest()

    def test_a_repeated_announcement_neither_duplicates_nor_fetches_again(
        self, mango_account, anna_call, fake_mango_api, django_capture_on_commit_callbacks,
    ):
        recording_id = fake_mango_api.add_recording(MP3)
        first = ready(mango_account, anna_call, recording_id, django_capture_on_commit_callbacks)
        again = ready(mango_account, anna_call, recording_id, django_capture_on_commit_callbacks)
        assert first.pk == again.pk
        assert Recording.objects.count() == 1
        assert len(fake_mango_api.calls("queries/recording/post")) == 1

    def test_429_is_retried_after_retry_after(
        self, mango_account, anna_call, fake_mango_api, django_capture_on_commit_callbacks,
        provider_waits,
    ):
        recording_id = fake_mango_api.add_recording(MP3)
        fake_mango_api.retry_after = 3
        fake_mango_api.fail_next("429", path="queries/recording/post")
        recording = ready(mango_account, anna_call, recording_id,
                          django_capture_on_commit_callbacks)
        assert len(fake_mango_api.calls("queries/recording/post")) == 2
        assert provider_waits == [3]
        assert recording.sha256 == hashlib.sha256(MP3).hexdigest()
        assert recording.fetch_error == ""

    def test_a_worker_retries_with_the_countdown_retry_after_gives(
        self, mango_account, anna_call, fake_mango_api, monkeypatch,
    ):
        recording = Recording.objects.create(call=anna_call,
                                             recording_id=fake_mango_api.add_recording(MP3))
        fake_mango_api.retry_after = 7
        fake_mango_api.fail_next("429", path="queries/recording/post")
        asked = {}

        class Retry(Exception):
            pass

        def retry(**kwargs):
            asked.update(kwargs)
            return Retry()

        task = recording_tasks.fetch_recording
        monkeypatch.setattr(task, "retry", retry)
        task.push_request(retries=0, is_eager=False)
        try:
            with pytest.raises(Retry):
                task.run(recording.pk)
        finally:
            task.pop_request()
        assert asked == {"countdown": 7.0}

    def test_an_unknown_recording_is_a_permanent_failure(
        self, mango_account, anna_call, fake_mango_api, django_capture_on_commit_callbacks,
    ):
        recording = ready(mango_account, anna_call, "no-such-recording",
                          django_capture_on_commit_callbacks)
        assert recording.file_path == ""
        assert "404" in recording.fetch_error
        assert len(fake_mango_api.calls("queries/recording/post")) == 1

    def test_a_recording_over_the_size_cap_is_refused(
        self, settings, mango_account, anna_call, fake_mango_api,
        django_capture_on_commit_callbacks,
    ):
        settings.TELEPHONY_MAX_RECORDING_BYTES = 1000
        recording = ready(mango_account, anna_call, fake_mango_api.add_recording(MP3),
                          django_capture_on_commit_callbacks)
        assert recording.file_path == ""
        assert "1000" in recording.fetch_error
        assert not list(Path(settings.MEDIA_ROOT).rglob("*.bin"))

    def test_the_client_signs_and_classifies_errors(self, mango_account, fake_mango_api):
        client = MangoClient(mango_account)
        fake_mango_api.fail_next("500")
        with pytest.raises(ProviderError) as error:
            client.fetch_recording("x")
        assert not error.value.permanent
        mango_account.api_salt = "wrong-salt"
        with pytest.raises(ProviderError) as error:
            MangoClient(mango_account).fetch_recording("x")
        assert error.value.permanent  # 401: a wrong key will not fix itself
        assert not fake_mango_api.requests[-1].sign_ok

    def test_celery_discovers_the_tasks(self):
        from config.celery import app

        app.loader.import_default_modules()
        assert "telephony.fetch_recording" in app.tasks
        assert "telephony.send_callback" in app.tasks


# --- Streaming -----------------------------------------------------------------------------


@pytest.fixture
def stored(mango_account, anna_call, fake_mango_api, django_capture_on_commit_callbacks):
    return ready(mango_account, anna_call, fake_mango_api.add_recording(MP3),
                 django_capture_on_commit_callbacks)


@pytest.mark.django_db
def test_a_call_deleted_takes_its_recordings_file_along(anna_call, stored,
                                                        django_capture_on_commit_callbacks):
    path = recordings.storage.path_of(stored.file_path)
    assert path.exists()
    with django_capture_on_commit_callbacks(execute=True):
        anna_call.delete()  # cascades to its recordings
    assert not Recording.objects.filter(pk=stored.pk).exists()
    assert not path.exists()

def url(call):
    return reverse("call_recording", args=[call.deal_id, call.pk])


class TestStream:
    def test_the_owner_plays_it(self, anna, anna_call, stored):
        response = client_for(anna).get(url(anna_call))
        assert response.status_code == 200
        assert response.content == MP3
        assert response["Content-Type"] == "audio/mpeg"
        assert response["X-Content-Type-Options"] == "nosniff"
        assert "no-store" in response["Cache-Control"]
        assert response["Accept-Ranges"] == "bytes"

    def test_a_range_is_served_for_seeking(self, anna, anna_call, stored):
        response = client_for(anna).get(url(anna_call), HTTP_RANGE="bytes=4-13")
        assert response.status_code == 206
        assert response.content == MP3[4:14]
        assert response["Content-Range"] == f"bytes 4-13/{len(MP3)}"
        past = client_for(anna).get(url(anna_call), HTTP_RANGE=f"bytes={len(MP3) + 10}-")
        assert past.status_code == 416
        assert past["Content-Range"] == f"bytes */{len(MP3)}"

    def test_each_playback_is_logged(self, anna, anna_call, stored):
        client_for(anna).get(url(anna_call), HTTP_RANGE="bytes=0-99",
                            REMOTE_ADDR="10.1.2.3")
        [record] = AccessRecord.objects.filter(action="playback")
        assert (record.user_id, record.surface) == (anna.pk, "file")
        assert (record.object_type, record.object_id) == ("telephony.call", anna_call.pk)
        assert record.contact_id == anna_call.contact_id
        assert record.detail == {"recording": stored.pk, "range": "0-99"}
        assert record.ip == "10.1.2.3"

    def test_the_team_head_plays_it_and_outsiders_get_404(
        self, anna_call, stored, head_north, ivan, olga, marketer,
    ):
        assert client_for(head_north).get(url(anna_call)).status_code == 200
        for outsider in (olga, ivan, marketer):
            assert client_for(outsider).get(url(anna_call)).status_code == 404

    def test_a_call_of_another_deal_is_not_found_through_this_one(
        self, anna, anna_deal, olga_call, stored,
    ):
        path = reverse("call_recording", args=[anna_deal.pk, olga_call.pk])
        assert client_for(anna).get(path).status_code == 404

    def test_a_recording_not_downloaded_yet_is_not_found(self, anna, anna_call):
        Recording.objects.create(call=anna_call, recording_id="pending")
        assert client_for(anna).get(url(anna_call)).status_code == 404

    def test_the_player_partial_points_at_the_stream(self, anna_call, stored):
        from django.template.loader import render_to_string

        call = Call.objects.prefetch_related("recordings").get(pk=anna_call.pk)
        html = render_to_string("telephony/_recording.html", {"call": call})
        assert f'src="{url(anna_call)}?id={stored.pk}"' in html
        assert 'preload="none"' in html and "<audio controls" in html

    def test_the_anonymous_are_sent_to_log_in(self, anna_call, stored):
        response = Client().get(url(anna_call))
        assert response.status_code == 302
        assert response["Location"].startswith("/login/")
