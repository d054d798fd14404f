from django.db import migrations, models


def failed_replies(apps, schema_editor):
    """Conversations whose latest typed reply failed: awaiting again, and marked."""
    Conversation = apps.get_model("inbox", "Conversation")
    Message = apps.get_model("inbox", "Message")
    latest = (Message.objects.filter(conversation=models.OuterRef("pk"), direction="out",
                                     is_automatic=False)
              .order_by("-created_at", "-id").values("status")[:1])
    (Conversation.objects.annotate(latest_reply=models.Subquery(latest))
     .filter(latest_reply="failed").update(last_reply_failed=True, awaiting_reply=True))


class Migration(migrations.Migration):
    dependencies = [("inbox", "0005_message_sealed_text")]

    operations = [
        migrations.AddField(
            model_name="conversation",
            name="last_reply_failed",
            field=models.BooleanField(default=False),
        ),
        migrations.RunPython(failed_replies, migrations.RunPython.noop),
    ]
