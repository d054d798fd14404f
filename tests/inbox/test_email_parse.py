"""Mail is the most malformed input the product takes: the parser and the sanitizer, under
Hypothesis, over random bytes and over the corpus cut short and bit-flipped. Nothing raises,
nothing parsed holds a NUL (PostgreSQL stores none), and no sanitized HTML can run script."""

import base64
import re
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from inbox.models import Channel, Mailbox
from inbox.providers.email import EmailProvider
from inbox.providers.mail import html as mail_html
from inbox.providers.mail import parse as mail_parse

CORPUS = sorted((Path(__file__).parent / "fixtures" / "mail").glob("*.eml"))
RUNS = settings(max_examples=150, deadline=None, derandomize=True, database=None)
_EXECUTABLE = re.compile(r"<\s*(script|iframe|object|embed|form|svg|math|style|link|meta)\b"
                         r"|\son[a-z]+\s*=|javascript:|vbscript:|data:text/html",
                         re.IGNORECASE)


def provider() -> EmailProvider:
    """A provider of an unsaved channel: parsing touches no database."""
    channel = Channel(kind=Channel.Kind.EMAIL, name="fuzz")
    channel.mailbox = Mailbox(address="sales@crm.test", server=Mailbox.Server.LOCAL)
    return EmailProvider(channel)


def check(raw: bytes) -> None:
    mail = mail_parse.parse(raw)
    for text in (mail.text, mail.quoted, mail.subject, mail.sender_name, mail.html):
        assert isinstance(text, str)
    assert not _EXECUTABLE.search(mail.html), mail.html
    events = provider().parse({"raw": base64.b64encode(raw).decode()})
    for event in events:
        values = [*vars(event).values(), *(vars(event).get("mail") or {}).values(),
                  *(a.name for a in vars(event).get("attachments", ()))]
        for value in values:
            assert "\x00" not in str(value)
    mail_parse.message_id_of(raw)


@RUNS
@given(st.binary(max_size=3000))
def test_random_bytes(raw):
    check(raw)


@RUNS
@given(st.sampled_from(CORPUS), st.integers(min_value=0), st.lists(
    st.tuples(st.integers(min_value=0), st.integers(min_value=0, max_value=255)), max_size=8))
def test_the_corpus_cut_short_and_bit_flipped(path, cut, flips):
    raw = bytearray(path.read_bytes())
    raw = raw[:cut % (len(raw) + 1)] if cut % 3 == 0 else raw
    for position, value in flips:
        if raw:
            raw[position % len(raw)] = value
    check(bytes(raw))


@RUNS
@given(st.text(max_size=500), st.sampled_from([
    "<script>x()</script>", '<img src=x onerror="x()">', '<a href="javascript:x()">a</a>',
    "<svg onload=x()>", "<iframe src=//evil>", "<style>@import url(//evil)</style>",
    '<a href="data:text/html,<script>x()</script>">a</a>', "<<script>script>x()<</script>/script>",
    '<img src="https://evil.example/p.gif" width="1" height="1">', "<form><input></form>",
    '<meta http-equiv="refresh" content="0;url=//evil">', "<object data=x></object>",
]))
def test_sanitized_html_runs_nothing(text, hostile):
    for html in (text + hostile, hostile + text, f"<div>{text}{hostile}</div>"):
        cleaned = mail_html.sanitize(html)
        assert not _EXECUTABLE.search(cleaned), cleaned
        assert "p.gif" not in cleaned  # a tracking pixel never survives
        for images in (False, True):
            shown = mail_html.render(cleaned, images=images, cid_urls={})
            assert not _EXECUTABLE.search(shown), shown
