import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("crm", "0004_deal_activity_index"),
        ("telephony", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="call",
            name="legs",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.AddField(
            model_name="call",
            name="lead_created",
            field=models.BooleanField(default=False),
        ),
        migrations.AddField(
            model_name="call",
            name="callback_task",
            field=models.ForeignKey(blank=True, null=True,
                                    on_delete=django.db.models.deletion.SET_NULL,
                                    related_name="+", to="crm.task"),
        ),
    ]
