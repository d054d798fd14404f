import re

import core.fields
from django.db import migrations

# A privacy link (consents.privacy: /privacy/<signed token>/) in a message sent before links
# were sealed: the conversation kept it readable to everyone who sees the deal.
_LINK = re.compile(r"\S*/privacy/[A-Za-z0-9_\-:.]+/?")


def hide_privacy_links(apps, schema_editor):
    Message = apps.get_model("inbox", "Message")
    for message in Message.objects.filter(text__contains="/privacy/").only("pk", "text"):
        hidden = _LINK.sub("[privacy link hidden]", message.text)
        if hidden != message.text:
            Message.objects.filter(pk=message.pk).update(text=hidden)


class Migration(migrations.Migration):

    dependencies = [
        ('inbox', '0004_outbound_sweep'),
    ]

    operations = [
        migrations.AddField(
            model_name='message',
            name='sealed_text',
            field=core.fields.EncryptedTextField(blank=True, max_length=20000, purpose='sealed_message'),
        ),
        migrations.RunPython(hide_privacy_links, migrations.RunPython.noop),
    ]
