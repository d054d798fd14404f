# Deal sharing moves here from security/ with every share kept: the model enters crm's state
# on the existing table (security 0007 let go of it), the table takes crm's name, and the
# content type follows, so the change log's entries about shares and the model's permissions
# stay attached to it.

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


def content_type_to_crm(apps, schema_editor):
    ContentType = apps.get_model('contenttypes', 'ContentType')
    LogEntry = apps.get_model('auditlog', 'LogEntry')
    Permission = apps.get_model('auth', 'Permission')
    old = ContentType.objects.filter(app_label='security', model='dealuserobjectpermission').first()
    if old is None:
        return
    new = ContentType.objects.filter(app_label='crm', model='dealuserobjectpermission').first()
    if new is None:
        old.app_label = 'crm'
        old.save(update_fields=['app_label'])
        return
    LogEntry.objects.filter(content_type=old).update(content_type=new)
    Permission.objects.filter(content_type=old).delete()
    old.delete()


def content_type_to_security(apps, schema_editor):
    ContentType = apps.get_model('contenttypes', 'ContentType')
    ContentType.objects.filter(app_label='crm', model='dealuserobjectpermission').update(
        app_label='security')


class Migration(migrations.Migration):

    dependencies = [
        ('crm', '0004_deal_activity_index'),
        ('security', '0007_deal_shares_move_to_crm'),
        ('auth', '0012_alter_user_first_name_max_length'),
        ('auditlog', '0001_initial'),
        ('contenttypes', '0002_remove_content_type_name'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='DealUserObjectPermission',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('granted_at', models.DateTimeField(default=django.utils.timezone.now)),
                        ('expires_at', models.DateTimeField(blank=True, null=True, verbose_name='expires')),
                        ('content_object', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='user_shares', to='crm.deal')),
                        ('granted_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('permission', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, to='auth.permission')),
                        ('user', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        'verbose_name': 'deal share',
                        'verbose_name_plural': 'deal shares',
                        'abstract': False,
                        'db_table': 'security_dealuserobjectpermission',
                        'indexes': [models.Index(fields=['user', 'permission', 'content_object'], name='deal_share_user'), models.Index(fields=['expires_at'], name='deal_share_expiry')],
                        'unique_together': {('user', 'permission', 'content_object')},
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.AlterModelTable(name='DealUserObjectPermission', table=None),
        migrations.RunPython(content_type_to_crm, content_type_to_security),
    ]
