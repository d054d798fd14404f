"""What the inbox holds about a client and an employee (core.holdings): conversations handed
over on offboarding, and a client's messenger identities, messages, files and raw deliveries
for erasure, retention and their download."""

from django.db import transaction
from django.db.models import Count, Exists, OuterRef, Q
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core.holdings import ERASED, ERASED_PAYLOAD, Erasure, Holdings, RetentionKind
from crm.models import TimelineEntry
from crm.timeline import TimelineKind
from inbox.models import Attachment, Channel, ChannelIdentity, InboundEvent, MailDetails, Message


def _client_messages(contact):
    return Message.objects.filter(
        Q(conversation__contact=contact) | Q(conversation__identity__contact=contact))


def identifiers(contact) -> set[str]:
    return {str(external_id) for external_id in
            ChannelIdentity.objects.filter(contact=contact).values_list("external_id", flat=True)
            if not str(external_id).startswith("erased-")}


def erase(erasure: Erasure) -> set[str]:
    """Returns what identifies the client in the providers' raw deliveries."""
    report = erasure.report
    needles = set()
    for identity in ChannelIdentity.objects.filter(contact=erasure.contact):
        if not identity.external_id.startswith("erased-"):
            needles.add(str(identity.external_id))
            # The blind index moves with the new id (save()), so the client writing again is
            # a new, unknown person.
            identity.external_id = f"erased-{identity.pk}"
            identity.display_name = ""
            identity.unreachable_reason = ""
            identity.save()
            report.add("inbox.channelidentity", "anonymized", 1)
    messages = _client_messages(erasure.contact)
    needles |= {external_id for external_id in
                messages.exclude(external_id="").values_list("external_id", flat=True)}
    # A mail's delivery is its raw bytes in base64, which no search for the client's values
    # sees into: the deliveries of their mails go by their ids (a mail's event id is its
    # message's), and the envelope, HTML and quoted history beside each message go whole.
    report.add("inbox.inboundevent", "anonymized", InboundEvent.objects.filter(
        channel__kind=Channel.Kind.EMAIL,
        provider_event_id__in=messages.exclude(external_id="").values("external_id"),
    ).exclude(payload=ERASED_PAYLOAD).update(payload=ERASED_PAYLOAD, error=""))
    report.add("inbox.maildetails", "deleted",
               MailDetails.objects.filter(message__in=messages).delete()[0])
    # Their files go with the rows once the erasure commits (security.files).
    files = Attachment.objects.filter(message__in=messages)
    report.files_deleted += files.exclude(file_path="").count()
    report.add("inbox.attachment", "deleted", files.delete()[0])
    # A reply still waiting must not go out as "[удалено]".
    messages.filter(status=Message.Status.QUEUED).update(status=Message.Status.FAILED)
    report.add("inbox.message", "anonymized", messages.filter(
        ~Q(text__in=("", ERASED)) | ~Q(external_id="") | ~Q(error="")).count())
    messages.exclude(text__in=("", ERASED)).update(text=ERASED)
    messages.exclude(external_id="", error="").update(external_id="", error="")
    messages.update(sealed_text="")  # a privacy link not sent yet dies with the client
    return needles



def kept(contact) -> dict[str, tuple[int, str]]:
    return {"inbox.message": (
        Message.objects.filter(conversation__contact=contact).count(),
        "Сообщения сохранены без текста и файлов (даты и направления — для отчётов о "
        "скорости ответа).")}


# --- Retention ------------------------------------------------------------------------------


def _messages_past(before, action) -> list[int]:
    # Messages of the client and notes alike; outbound ones too (they quote the client).
    return list(Message.objects.filter(created_at__lt=before).filter(
        ~Q(text__in=("", ERASED)) | Q(attachments__isnull=False) | ~Q(external_id="")
        | Q(mail__isnull=False)
    ).distinct().values_list("pk", flat=True))


@transaction.atomic
def _messages_apply(ids: list[int], action: str) -> None:
    messages = Message.objects.filter(pk__in=ids)
    Attachment.objects.filter(message__in=messages).delete()  # their files too (security.files)
    if action == "delete":
        TimelineEntry.objects.filter(source_type__model="message", source_type__app_label="inbox",
                                     source_id__in=ids).delete()
        messages.delete()
    else:
        MailDetails.objects.filter(message__in=messages).delete()  # a mail's envelope, HTML
        messages.exclude(text="").update(text=ERASED)
        messages.update(external_id="", error="", sealed_text="")


# --- Reaching the client (the privacy link) ------------------------------------------------


def client_routes(*, user, contact) -> list[tuple[str, str]]:
    """The client's chats `user` may answer: a reply in a chat the client opened."""
    from crm import selectors as crm_selectors
    from inbox import selectors

    routes = []
    # Only a chat the client wrote in: the inbound messages are the evidence that the chat
    # is theirs (never a chat staff could have attached to the contact).
    inbound = Message.objects.filter(conversation=OuterRef("pk"),
                                     direction=Message.Direction.INBOUND)
    conversations = (selectors.conversations_visible_to(user)
                     .filter(contact=contact, identity__is_unreachable=False,
                             channel__is_active=True)
                     .filter(Exists(inbound))
                     .select_related("channel", "deal").order_by("channel__name", "pk"))
    for conversation in conversations:
        if conversation.deal is None or not crm_selectors.deal_can_edit(
                user=user, deal=conversation.deal):
            continue
        routes.append((f"conversation:{conversation.pk}",
                       gettext("%(channel)s: the conversation on “%(deal)s”") % {
                           "channel": conversation.channel.name,
                           "deal": conversation.deal.title}))
    return routes


def client_send(*, route: str, by, text: str, shown: str) -> dict:
    """Send `text` to the client's chat; the conversation shows `shown` instead (the text is a
    credential of the client's: staff never read it back)."""
    from inbox import selectors, services

    conversation = selectors.conversation_get(user=by, pk=int(route.partition(":")[2]))
    services.message_reply(conversation=conversation, by=by, text=shown, sealed_text=text)
    return {"via": "conversation", "channel": conversation.channel.name}


# --- The client's download ------------------------------------------------------------------


def subject_data(contact, *, full: bool) -> dict:
    """Their correspondence with the company: counts per channel on the page, every message in
    the archive. Never the team's private notes (internal working notes)."""
    theirs = (Message.objects.filter(conversation__contact=contact)
              .exclude(direction=Message.Direction.NOTE))
    data = {"message_counts": [
        {"channel": row["channel__name"], "messages": row["count"]}
        for row in theirs.values("channel__name").annotate(count=Count("pk"))
        .order_by("channel__name")]}
    if full:
        data["messages"] = [{
            "channel": m.channel.name, "direction": m.direction,
            "direction_display": m.get_direction_display(), "at": m.created_at, "text": m.text,
            "attachments": [a.name or a.kind or "file" for a in m.attachments.all()],
        } for m in theirs.select_related("channel").prefetch_related("attachments")
            .order_by("created_at", "pk")]
    return data


# --- The deal timeline -------------------------------------------------------------------


def _message_data(entry) -> dict:
    message = entry.source
    if message is None:
        return {}
    return {
        "message_id": message.pk,
        "direction": message.direction,
        "channel": message.channel.name,
        "text": message.text,
        "status": message.status,
    }


def _prefetch_messages(messages: list) -> None:
    """What message.html and `_message_data` read: a page of messages in six queries."""
    from django.db.models import prefetch_related_objects

    prefetch_related_objects(messages, "channel", "author", "conversation__identity",
                             "reply_to", "attachments", "mail")


def _merge(merge) -> dict[str, list[int]]:
    """A campaign's recipients are one per contact: those of a campaign the kept card is in
    already stay where they are."""
    from inbox.models import CampaignRecipient

    rows = CampaignRecipient.objects.filter(contact=merge.duplicate).exclude(
        campaign__in=CampaignRecipient.objects.filter(contact=merge.kept).values("campaign"))
    ids = list(rows.values_list("pk", flat=True))
    CampaignRecipient.objects.filter(pk__in=ids).update(contact=merge.kept)
    return {"inbox.campaignrecipient": ids}


def _unmerge(merge, moved: dict) -> None:
    from core.holdings import move_contact_rows_back

    move_contact_rows_back("inbox.campaignrecipient", moved.get("inbox.campaignrecipient", []),
                           merge)


def client_touches(windows: dict) -> set[int]:
    """The deals with a message to or from the client in their window: typed or received,
    not a private note, not sent or answered by a machine (an out-of-office reply, a
    campaign, an auto-reply)."""
    from functools import reduce
    from operator import or_

    if not windows:
        return set()
    within = reduce(or_, (Q(conversation__deal_id=pk, created_at__gt=after, created_at__lte=until)
                          for pk, (after, until) in windows.items()))
    return set(Message.objects.filter(within, is_automatic=False, direction__in=[
        Message.Direction.INBOUND, Message.Direction.OUTBOUND]).exclude(
        status=Message.Status.FAILED).values_list("conversation__deal_id", flat=True).distinct())


def holdings() -> Holdings:
    from inbox import attachments, demo, rollups, sandbox, search, services

    return Holdings(
        app="inbox", encrypted_files=(attachments.storage.declared(),),
        handover=services.conversations_hand_over,
        handover_kinds={"conversations": _("Conversations")},
        handover_models={"conversations": "inbox.conversation"},
        identifiers=identifiers, erase=erase, raw_deliveries=(InboundEvent,), kept=kept,
        pseudonym_sources=sandbox.pseudonym_sources, pseudonymize=sandbox.pseudonymize,
        retention=(RetentionKind("messages", 3 * 365, "anonymize", _messages_past,
                                 _messages_apply),),
        contact_activity="conversations__last_activity_at",
        subject_data=subject_data,
        client_routes=client_routes, client_send=client_send,
        merge_models=("inbox.channelidentity", "inbox.conversation"),
        merge=_merge, unmerge=_unmerge, client_touches=client_touches,
        activity_facts=rollups.facts, search_sources=search.SOURCES,
        api_urls="inbox.api.urls",
        demo=demo.seed, demo_describe=demo.describe,
        timeline_kinds=(TimelineKind("message", _("Message"), "inbox/timeline/message.html",
                                     _message_data, _prefetch_messages, own_panel=True),),
    )
