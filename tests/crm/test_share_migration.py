"""Deal sharing moved from security/ to crm/ (crm 0005): the shares, their history in the
change log and the model's permissions stay, on PostgreSQL, and the move can be undone."""

import pytest
from auditlog.models import LogEntry
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from crm.models import DealUserObjectPermission

BEFORE = [("crm", "0004_deal_activity_index"), ("security", "0006_offboarding")]
AFTER = [("crm", "0005_deal_shares_from_security")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)


@pytest.mark.django_db(transaction=True)
def test_the_shares_and_their_history_move_with_the_model(anna, ivan, anna_deal):
    view = Permission.objects.get(codename="view_deal", content_type__app_label="crm")
    try:
        migrate(BEFORE)
        # As security left it: its table, its content type (moved back by the reverse
        # migration), an entry in the change log.
        share_type = ContentType.objects.get(app_label="security",
                                             model="dealuserobjectpermission")
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO security_dealuserobjectpermission (permission_id, user_id,"
                " content_object_id, granted_at, granted_by_id) VALUES (%s, %s, %s, now(), %s)"
                " RETURNING id", [view.pk, ivan.pk, anna_deal.pk, anna.pk])
            share_id = cursor.fetchone()[0]
        LogEntry.objects.create(content_type=share_type, object_pk=str(share_id),
                                object_repr="share", action=LogEntry.Action.CREATE)

        migrate(AFTER)
        ContentType.objects.clear_cache()
        share = DealUserObjectPermission.objects.get()
        # The deal by its id: today's Deal model has columns that schema does not have yet.
        assert (share.pk, share.user, share.content_object_id, share.granted_by) == (
            share_id, ivan, anna_deal.pk, anna)
        moved = ContentType.objects.get_for_model(DealUserObjectPermission)
        assert moved.pk == share_type.pk and moved.app_label == "crm"
        assert LogEntry.objects.get_for_model(DealUserObjectPermission).count() == 1
        assert not ContentType.objects.filter(app_label="security",
                                              model="dealuserobjectpermission").exists()

        migrate(BEFORE)
        with connection.cursor() as cursor:
            cursor.execute("SELECT user_id FROM security_dealuserobjectpermission")
            assert cursor.fetchall() == [(ivan.pk,)]
    finally:
        migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
