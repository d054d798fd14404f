"""Telephony end to end in a real browser (issue 5): a client calls the north line, anna's
extension rings and the pop-up appears on whatever page she has open, with the client and a
link to the deal; it goes when the call ends, and the call's entry on her deal card gets the
recording (fetched from the local fake of Mango's API), which plays."""

import io
import json
import math
import struct
import threading
import wave

import httpx
import pytest
from playwright.sync_api import expect

from telephony.models import Call, Extension, PbxAccount, PbxLine
from tests.e2e.test_deal_card import log_in, wait_until
from tests.telephony.fake_mango import FakeMango
from tests.telephony.mango_events import KNOWN_CLIENT, LINE_NORTH, encode, incoming, sign

pytestmark = pytest.mark.e2e

ENTRY_ID = "MToxMDAwMTIzNDo5OTk6ZTJl"
RECORDING_ID = "MToxMDAwMTIzNDo5OTk6cmVj"


def tone_wav(seconds: float = 1.0, rate: int = 8000) -> bytes:
    """A short 440 Hz tone: real audio the browser decodes."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"".join(
            struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / rate)))
            for i in range(int(seconds * rate))))
    return buffer.getvalue()


@pytest.fixture
def fake_mango_api():
    fake = FakeMango().start()
    yield fake
    fake.stop()


@pytest.fixture
def account(north, anna, fake_mango_api):
    account = PbxAccount.objects.create(
        name="Mango", team=north, api_key=fake_mango_api.api_key,
        api_salt=fake_mango_api.api_salt, api_base_url=fake_mango_api.base_url)
    PbxLine.objects.create(account=account, number=LINE_NORTH, name="Отдел продаж", team=north)
    Extension.objects.create(account=account, extension="101", user=anna)
    fake_mango_api.add_recording(tone_wav(), recording_id=RECORDING_ID)
    return account


def post_events(base_url: str, account, events) -> None:
    """POST Mango's requests over real HTTP from another thread (the test's thread runs
    Playwright's event loop)."""
    result: dict = {}

    def run():
        try:
            for path, payload in events:
                text = encode(payload)
                response = httpx.post(
                    f"{base_url}/hooks/mango/{account.uuid}/{path}",
                    data={"vpbx_api_key": account.api_key,
                          "sign": sign(text, key=account.api_key, salt=account.api_salt),
                          "json": text},
                    timeout=30,
                )
                assert response.status_code == 200, (path, response.status_code)
        except BaseException as e:  # re-raised in the test
            result["error"] = e

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=60)
    if "error" in result:
        raise result["error"]


# Data fixtures come before the browser: they are built before Playwright's loop starts.
def test_the_pop_up_appears_for_anna_and_the_recording_plays_in_her_deal_card(
    anna, anna_deal, account, fake_mango_api, asgi_server, page
):
    frames, sockets = [], []

    def on_socket(ws):
        sockets.append(ws)
        ws.on("framereceived", lambda payload: frames.append(payload))

    page.on("websocket", on_socket)
    events = incoming(entry_id=ENTRY_ID, number=KNOWN_CLIENT, line=LINE_NORTH, extension="101",
                      at=1795417200, answered=True, recording_id=RECORDING_ID)
    appeared, connected, disconnected, summary, *recording = events

    # Anna is on her task list: any page of hers hears the call.
    log_in(page, asgi_server, "anna")
    # The landing page's own socket is reported first (on a busy machine, late), so that it
    # cannot be taken for the next page's.
    wait_until(page, lambda: bool(sockets))
    sockets.clear()
    page.goto(f"{asgi_server}/tasks/")
    wait_until(page, lambda: bool(sockets))
    page.wait_for_timeout(500)  # the socket's handshake, and joining the user's group
    assert len([ws for ws in sockets if not ws.is_closed()]) == 1  # one socket per page

    post_events(asgi_server, account, [appeared])
    popup = page.locator("[data-call-popup]")
    expect(popup).to_be_visible(timeout=3000)
    expect(popup).to_have_attribute("role", "alert")
    expect(popup).to_contain_text("Входящий звонок")
    expect(popup).to_contain_text("Пётр Смирнов")
    assert "9161234567" not in popup.inner_html()
    link = popup.get_by_role("link", name=anna_deal.title)
    expect(link).to_have_attribute("href", f"/deals/{anna_deal.pk}/")

    # She opens the deal from the pop-up while the phone rings; the call ends.
    sockets.clear()
    link.click()
    expect(page).to_have_url(f"{asgi_server}/deals/{anna_deal.pk}/")
    wait_until(page, lambda: any('"subscribed"' in str(frame) for frame in frames))
    call = Call.objects.get()
    entry = page.locator(f'.call-entry[data-call-id="{call.pk}"]')
    expect(entry).to_be_visible()
    assert len(sockets) == 1  # one a page: the deal card's socket is its only one

    post_events(asgi_server, account, [connected, disconnected, summary, *recording])
    expect(page.locator("[data-call-popup]")).to_have_count(0, timeout=3000)
    expect(entry).to_contain_text("2:05", timeout=3000)
    audio = entry.locator("audio")
    expect(audio).to_have_count(1, timeout=5000)

    # The recording streams to her and plays (muted: no user gesture in a test).
    played = page.evaluate("""async () => {
        const audio = document.querySelector('.call-entry audio');
        audio.muted = true;
        await audio.play();
        await new Promise(resolve => setTimeout(resolve, 400));
        return {time: audio.currentTime, duration: audio.duration, error: audio.error};
    }""")
    assert played["error"] is None and played["time"] > 0 and played["duration"] > 0.5, played
    assert not json.dumps([str(f) for f in frames]).count("9161234567")
