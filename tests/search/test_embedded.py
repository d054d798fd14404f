"""The embedded mode (SQLite, `make run`) searches correctly: migrated from scratch, its
stored search forms are written by the database through the function registered on every
connection, and Russian matches whatever the case (SQLite's own LIKE and lower() fold only
ASCII: `кедр` found nothing where `Кедр` found 7)."""

from tests.embedded import run_embedded

SCRIPT = r"""
import json
import django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)

from django.db import connection
from django.utils import timezone
from crm import services as crm
from inbox import services as inbox
from inbox.models import Channel, Conversation
from search import services
from security.models import Team
from tests.factories import make_user

assert connection.vendor == "sqlite"
north = Team.objects.create(name="Север")
anna = make_user("anna", "manager", north)
olga = make_user("olga", "manager", Team.objects.create(name="Юг"))
deal = crm.deal_create(by=anna, title="Поставка КЕДРОВОГО бруса")
note = crm.note_add(by=anna, deal=deal, text="Договорились о СКИДКЕ для Ёлкиных")
chat = Channel.objects.create(kind="website", name="Чат", team=north, public_key="embedded")
payload = {"visitor": "v1", "id": "e1", "text": "ПРИШЛИТЕ СЧЁТ, пожалуйста",
           "sent_at": timezone.now().isoformat()}
inbox.event_receive(channel=chat, provider_event_id="e1", event_type="message",
                    payload=json.dumps(payload))
inbox.events_drain(linger=0, pause=0)
assert Conversation.objects.get().deal.owner_id == anna.pk  # the team's only manager
from inbox.models import Attachment, MailDetails, Message
Attachment.objects.create(message=Message.objects.get(), name="КП_Кедр-2027.итог.pdf")
MailDetails.objects.create(message=Message.objects.get(), mail_id="e1@crm.test",
                           subject="Оплата ПОСТАВКИ")

def hits(user, text):
    return sorted(f"{hit.kind}:{hit.title}" for hit in services.search(user=user, text=text).hits)

from crm.models import Deal
lists = {
    "icontains": Deal.objects.filter(title__icontains="кедрового").count(),
    "istartswith": Deal.objects.filter(title__istartswith="поставка к").count(),
    "iexact": Deal.objects.filter(title__iexact="поставка кедрового бруса").count(),
    "like_literals": Deal.objects.filter(title__icontains="%").count(),
}
print(json.dumps({"lists": lists} | {text: hits(anna, text) for text in (
    "кедр", "Кедровый", "брус", "скидка", "договор", "елкины", "счет", "пришлите", "ссылка",
    "итог", "оплате",
)} | {"olga": hits(olga, "скидка")}, ensure_ascii=False))
"""


def test_sqlite_finds_russian_whatever_the_case(tmp_path):
    found = run_embedded(SCRIPT, tmp_path)
    deal, note = "deal:Поставка КЕДРОВОГО бруса", "note:Поставка КЕДРОВОГО бруса"
    assert found["Кедровый"] == [deal] and found["брус"] == [deal]
    assert found["скидка"] == [note] and found["договор"] == [note]
    assert found["елкины"] == [note]
    [message] = found["счет"]
    assert message.startswith("message:") and found["пришлите"] == [message]
    # A message by its file's name (parted at `_.-`) and by its mail's subject.
    assert found["кедр"] == sorted([deal, message]) and found["итог"] == [message]
    assert found["оплате"] == [message]
    assert found["ссылка"] == [] and found["olga"] == []
    # The lists' filters (Django's i-lookups) ignore the case of Russian too.
    assert found["lists"] == {"icontains": 1, "istartswith": 1, "iexact": 1,
                              "like_literals": 0}
