"""Messages stored before the reports existed count for nobody: give each its owner as the
reports would have (a reply: its author; else the deal's owner now, the nearest to "the
owner then" the rows still know). Then `manage.py rebuild_rollups` counts that history."""

from django.db import migrations

BACKFILL = (
    "UPDATE inbox_message SET owner_id = COALESCE(author_id, ("
    "SELECT d.owner_id FROM inbox_conversation c JOIN crm_deal d ON d.id = c.deal_id "
    "WHERE c.id = inbox_message.conversation_id)) "
    "WHERE owner_id IS NULL AND direction IN ('in', 'out')"
)


class Migration(migrations.Migration):
    dependencies = [
        ("inbox", "0012_report_facts"),
        ("crm", "0014_timeline_owner_changes"),
    ]

    operations = [migrations.RunSQL(BACKFILL, migrations.RunSQL.noop)]
