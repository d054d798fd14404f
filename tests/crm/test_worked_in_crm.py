"""The KPI counts only deals worked in the CRM (issue 19): a won deal with no client touch (a
message to or from the client, an answered call) recorded in the 30 days before it was won is
flagged in the deals list and the card, and is "no" in the export's "worked in the CRM"
column. A private note, an automatic message, a failed send, a missed call or a touch older
than 30 days is no touch."""

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse

from crm import selectors, services
from inbox.models import Channel, ChannelIdentity, Conversation, Message
from telephony.models import Call, PbxAccount
from tests.factories import make_contact, make_deal

pytestmark = pytest.mark.django_db


def won(anna, title):
    deal = make_deal(anna, title=title, contact=make_contact(anna, name=f"Клиент {title}"))
    return services.deal_close(deal=deal, by=anna, status="won")


def message(deal, *, days_before, **fields):
    channel, _created = Channel.objects.get_or_create(name="Telegram", defaults={
        "kind": Channel.Kind.TELEGRAM, "team": deal.team, "credentials": "1:x"})
    conversation = Conversation.objects.filter(deal=deal).first()
    if conversation is None:
        identity = ChannelIdentity.objects.create(channel=channel, external_id=str(deal.pk),
                                                  contact=deal.contact)
        conversation = Conversation.objects.create(channel=channel, identity=identity,
                                                   contact=deal.contact, deal=deal)
    fields = {"direction": Message.Direction.INBOUND, "status": Message.Status.RECEIVED,
              **fields}
    return Message.objects.create(conversation=conversation, channel=channel, text="…",
                                  created_at=deal.closed_at - timedelta(days=days_before),
                                  **fields)


def call(deal, *, days_before, answered):
    account, _created = PbxAccount.objects.get_or_create(
        name="Mango", defaults={"team": deal.team, "api_base_url": "http://127.0.0.1:9/"})
    return Call.objects.create(account=account, entry_id=f"e{deal.pk}{days_before}",
                               direction="in", client_number="+79161112233", deal=deal,
                               started_at=deal.closed_at - timedelta(days=days_before),
                               answered=answered)


def test_what_counts_as_a_touch(anna):
    deals = {name: won(anna, name) for name in (
        "message", "reply", "call", "note", "automatic", "failed", "missed", "old", "nothing")}
    message(deals["message"], days_before=3)
    message(deals["reply"], days_before=29, direction=Message.Direction.OUTBOUND,
            status=Message.Status.SENT)
    call(deals["call"], days_before=10, answered=True)
    message(deals["note"], days_before=1, direction=Message.Direction.NOTE,
            status=Message.Status.SENT)
    message(deals["automatic"], days_before=1, direction=Message.Direction.OUTBOUND,
            status=Message.Status.SENT, is_automatic=True)
    message(deals["failed"], days_before=1, direction=Message.Direction.OUTBOUND,
            status=Message.Status.FAILED)
    call(deals["missed"], days_before=2, answered=False)
    message(deals["old"], days_before=31)
    still_open = make_deal(anna, title="open")
    flagged = selectors.deals_not_worked_in_crm([*deals.values(), still_open])
    assert {pk for name, deal in deals.items() for pk in [deal.pk] if pk in flagged} == {
        deals[name].pk for name in ("note", "automatic", "failed", "missed", "old", "nothing")}
    assert still_open.pk not in flagged


def test_the_list_and_the_card_flag_it_and_the_export_says_no(anna, head_north):
    worked, idle = won(anna, "Работали в CRM"), won(anna, "Мимо CRM")
    message(worked, days_before=5)
    client = Client()
    client.force_login(anna)
    listing = client.get(reverse("deal_list"), {"status": "won"})
    rows = listing.content.decode().split("<tr>")
    [idle_row] = [row for row in rows if "Мимо CRM" in row]
    [worked_row] = [row for row in rows if "Работали в CRM" in row]
    assert "data-not-worked" in idle_row and "data-not-worked" not in worked_row
    assert "data-not-worked" in client.get(idle.get_absolute_url()).content.decode()
    assert "data-not-worked" not in client.get(worked.get_absolute_url()).content.decode()

    from security import exports

    export = exports.export_request(user=head_north, resource="deals", fmt="csv",
                                    filters={"status": "won"}, ip=None)
    import csv

    rows = {row[0]: row for row in csv.reader(exports.ready_file_text(export).splitlines())
            if row}
    assert rows[str(idle.pk)][-1] == "нет" and rows[str(worked.pk)][-1] == "да"
