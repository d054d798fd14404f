"""Retention: the dry run reports and changes nothing; the real run does what it printed."""

import datetime as dt
import io

import pytest
from django.core.management import call_command
from django.utils import timezone

from consents import erasure, retention, services
from consents.models import ErasureRecord, RetentionRule
from crm.models import Contact, Deal
from inbox import attachments
from inbox.models import Attachment, Channel, ChannelIdentity, Conversation, Message
from telephony import recordings
from telephony.models import Call, PbxAccount, Recording
from tests.factories import make_contact, make_deal

LONG_AGO = timezone.now() - dt.timedelta(days=4 * 365)


def _age(model, obj, **fields):
    model.objects.filter(pk=obj.pk).update(**fields)


@pytest.fixture
def world(anna, north, newsletter):
    channel = Channel.objects.create(kind=Channel.Kind.TELEGRAM, name="Telegram", team=north,
                                     credentials="1:x", api_base_url="http://127.0.0.1:9")
    account = PbxAccount.objects.create(name="Mango", team=north,
                                        api_base_url="http://127.0.0.1:9/vpbx/")
    w = {}
    # A client still at work: an open deal, a recent message, an old one.
    active = make_contact(anna, name="Активный Клиент", phones=["+79160000001"])
    make_deal(anna, contact=active)
    identity = ChannelIdentity.objects.create(channel=channel, external_id="111", contact=active)
    chat = Conversation.objects.create(channel=channel, identity=identity, contact=active)
    w["old_message"] = Message.objects.create(conversation=chat, channel=channel,
                                              direction="in", text="старый текст",
                                              status="received", external_id="111:1")
    w["old_file"] = attachments.attach(message=w["old_message"], data=b"old", name="a.pdf",
                                       mime_type="application/pdf")
    _age(Message, w["old_message"], created_at=LONG_AGO)
    w["new_message"] = Message.objects.create(conversation=chat, channel=channel,
                                              direction="in", text="новый текст",
                                              status="received")
    old_call = Call.objects.create(account=account, entry_id="e-old", direction="in",
                                   client_number="+79160000001", contact=active,
                                   started_at=LONG_AGO)
    w["old_recording"] = Recording.objects.create(call=old_call, recording_id="r1",
                                                  file_path=recordings.storage.store(b"mp3"))
    w["old_call"] = old_call
    w["active"] = active
    # A client gone quiet for years: no deal open, no consent.
    quiet = make_contact(anna, name="Тихий Клиент", phones=["+79160000002"])
    deal = make_deal(anna, contact=quiet)
    Deal.objects.filter(pk=deal.pk).update(status="won", last_activity_at=LONG_AGO)
    _age(Contact, quiet, updated_at=LONG_AGO)
    w["quiet"] = quiet
    # A client who withdrew their consent to the newsletter long ago (kept 365 days).
    withdrawn = make_contact(anna, name="Отказавшийся Клиент", phones=["+79160000003"])
    services.consent_record(contact=withdrawn, purpose=newsletter, kind="granted",
                            source="website_form", at=LONG_AGO)
    services.consent_record(contact=withdrawn, purpose=newsletter, kind="withdrawn",
                            source="privacy_center",
                            at=timezone.now() - dt.timedelta(days=400))
    w["withdrawn"] = withdrawn
    return w


def _snapshot():
    return {
        "messages": sorted(Message.objects.values_list("pk", "text", "external_id")),
        "attachments": sorted(Attachment.objects.values_list("pk", "file_path")),
        "recordings": sorted(Recording.objects.values_list("pk", "file_path")),
        "calls": sorted((c.pk, c.client_number) for c in Call.objects.all()),
        "contacts": sorted(Contact.objects.values_list("pk", "name")),
        "erasures": ErasureRecord.objects.count(),
    }


def _run(*args) -> str:
    out = io.StringIO()
    call_command("apply_retention", *args, stdout=out)
    return out.getvalue()


def test_the_dry_run_reports_and_changes_nothing(world):
    before = _snapshot()
    report = _run("--dry-run")
    assert _snapshot() == before
    assert report.startswith("Пробный запуск: ничего не изменено.")
    assert "messages: старше 1095 дн., обезличить: 1" in report
    assert "recordings: старше 365 дн., удалить: 1" in report
    assert "calls: старше 1095 дн., обезличить: 1" in report
    assert "inactive_contacts: старше 1095 дн., обезличить: 1" in report
    assert "purpose:newsletter (Рассылка новостей и акций): старше 365 дн., удалить данные " \
           "клиента: 1" in report
    assert "Всего: 5" in report


def test_the_real_run_does_what_the_dry_run_printed(world, django_capture_on_commit_callbacks):
    planned = retention.plan().counts()
    printed = _run("--dry-run")
    with django_capture_on_commit_callbacks(execute=True):
        done = _run()
    assert printed.splitlines()[1:] == done.splitlines()[1:]
    assert planned == {"messages": 1, "recordings": 1, "calls": 1, "inactive_contacts": 1,
                       "purpose:newsletter": 1}

    old = Message.objects.get(pk=world["old_message"].pk)
    assert (old.text, old.external_id) == (erasure.ERASED, "")
    assert not Attachment.objects.filter(pk=world["old_file"].pk).exists()
    assert not attachments.storage.path_of(world["old_file"].file_path).exists()
    assert Message.objects.get(pk=world["new_message"].pk).text == "новый текст"
    assert not Recording.objects.exists()
    assert Call.objects.get(pk=world["old_call"].pk).client_number == ""
    for name in ("quiet", "withdrawn"):
        contact = Contact.objects.get(pk=world[name].pk)
        assert contact.name.startswith("Удалённый клиент")
        assert ErasureRecord.objects.get(contact_id=contact.pk).reason == "retention"
    assert Contact.objects.get(pk=world["active"].pk).name == "Активный Клиент"
    # Nothing left: a second run has nothing to do.
    assert sum(retention.plan().counts().values()) == 0
    call_command("verify_audit")


def test_a_rule_overrides_the_default_and_an_inactive_rule_is_off(world):
    RetentionRule.objects.create(data_type="messages", days=30, action="delete")
    RetentionRule.objects.create(data_type="recordings", days=10, action="delete",
                                 is_active=False)
    counts = retention.plan().counts()
    assert counts["messages"] == 1  # the old one; the new one is a day old
    assert "recordings" not in counts
    plan = retention.plan()
    messages = next(step for step in plan.steps if step.key == "messages")
    assert (messages.days, messages.action) == (30, "delete")
