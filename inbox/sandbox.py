"""What the inbox holds about clients, in a sandbox (core.holdings: `pseudonym_sources`,
`pseudonymize`): identities get fake ids (their blind index recomputed) and their person's fake
name, messages and mails lose the personal data in them, files are dropped (the rows stay,
without a file), and the channels' credentials go, so a sandbox never reaches a messenger,
a mailbox or a real client."""

from core.holdings import Pseudonymization, rewrite_rows
from inbox.models import (
    Attachment,
    Campaign,
    Channel,
    ChannelIdentity,
    Mailbox,
    MailDetails,
    Message,
)
from inbox.providers.mail.threading import subject_key

# What a file dropped from a sandbox says where the file was (shown as it is, in Russian).
FILE_NOT_COPIED = "Файл не перенесён в песочницу"


def pseudonym_sources(pseudonymization: Pseudonymization) -> None:
    fakes = pseudonymization.pseudonyms
    for contact_id, external_id, display_name in ChannelIdentity.objects.values_list(
            "contact_id", "external_id", "display_name").iterator():
        fakes.learn_identifier(external_id)
        fakes.learn_alias(contact_id, display_name)
    for contact_id, sender, sender_name in MailDetails.objects.values_list(
            "message__conversation__contact_id", "sender", "sender_name").iterator():
        fakes.learn_email(sender)
        fakes.learn_alias(contact_id, sender_name)


def pseudonymize(pseudonymization: Pseudonymization) -> None:
    fakes, report = pseudonymization.pseudonyms, pseudonymization.report

    def identity(row) -> bool:
        row.external_id = fakes.identifier(row.external_id)
        row.external_id_index = ChannelIdentity.index_of(row.channel, row.external_id)
        row.display_name = fakes.text(row.display_name, person=row.contact_id)
        row.unreachable_reason = fakes.text(row.unreachable_reason, person=row.contact_id)
        return True

    def message(row) -> bool:
        person = row.conversation.contact_id
        before = (row.text, row.external_id, row.error, row.sealed_text, row.template)
        row.text = fakes.text(row.text, person=person)
        row.external_id = fakes.text(row.external_id)  # "<chat id>:<message id>", a mail's id
        row.error = fakes.text(row.error, person=person)
        row.sealed_text = ""  # a privacy link not sent yet: a credential of the client's
        row.template = fakes.json(row.template, person=person)
        return before != (row.text, row.external_id, row.error, row.sealed_text, row.template)

    def mail(row) -> bool:
        person = row.message.conversation.contact_id
        row.subject = fakes.text(row.subject, person=person)
        row.subject_key = subject_key(row.subject)
        for name in ("mail_id", "in_reply_to", "references"):  # ids on the client's domain
            setattr(row, name, fakes.text(getattr(row, name)))
        row.sender = fakes.email(row.sender)
        row.sender_name = fakes.text(row.sender_name, person=person)
        for name in ("recipients", "html", "quoted"):
            setattr(row, name, fakes.text(getattr(row, name), person=person))
        row.invitation = fakes.json(row.invitation, person=person)
        return True

    def attachment(row) -> bool:
        if row.file_path:
            report.add("inbox.attachment", "file dropped", 1)
        row.name = fakes.text(row.name, person=row.message.conversation.contact_id)
        row.file_path = row.provider_file_id = row.sha256 = ""
        row.fetch_error = FILE_NOT_COPIED
        return True

    def campaign(row) -> bool:
        text = fakes.text(row.text)
        changed, row.text = text != row.text, text
        return changed

    rewrite_rows(ChannelIdentity.objects.select_related("channel"),
                 ["external_id", "external_id_index", "display_name", "unreachable_reason"],
                 identity, table="inbox.channelidentity", report=report)
    rewrite_rows(Message.objects.select_related("conversation"),
                 ["text", "external_id", "error", "sealed_text", "template"], message,
                 table="inbox.message", report=report)
    rewrite_rows(MailDetails.objects.select_related("message__conversation"),
                 ["subject", "subject_key", "mail_id", "in_reply_to", "references", "sender",
                  "sender_name", "recipients", "html", "quoted", "invitation"], mail,
                 table="inbox.maildetails", report=report)
    rewrite_rows(Attachment.objects.select_related("message__conversation"),
                 ["name", "file_path", "provider_file_id", "sha256", "fetch_error"],
                 attachment, table="inbox.attachment", report=report)
    rewrite_rows(Campaign.objects.all(), ["text"], campaign, table="inbox.campaign",
                 report=report)
    report.add("inbox.channel", "credentials cleared", Channel.objects.update(
        credentials="", webhook_secret="", handshake_secret=""))
    report.add("inbox.mailbox", "password cleared", Mailbox.objects.update(password=""))
