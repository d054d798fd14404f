# Deal sharing belongs to crm/ (crm/sharing.py): the model leaves security's state here and
# crm 0005 takes it over with its rows (the table is renamed there, nothing is copied).

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('security', '0006_offboarding'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name='DealUserObjectPermission')],
            database_operations=[],
        ),
    ]
