"""Data every installation needs, (re)created after migrations.

It lives in a post_migrate handler rather than a data migration so that a database flushed
between tests (or by `flush`) gets it back, as Django does for permissions.
"""

from django.db import transaction

# A sales pipeline that works out of the box; admins rename or extend it in the admin.
DEFAULT_STAGES = [
    ("Новая заявка", 10),
    ("Квалификация", 25),
    ("Коммерческое предложение", 50),
    ("Переговоры", 70),
    ("Договор и оплата", 90),
]


def ensure_default_pipeline(sender=None, using="default", **kwargs):
    from crm.models import Pipeline, Stage

    if sender is not None and sender.label != "crm":
        return
    with transaction.atomic(using=using):
        if Pipeline.objects.using(using).exists():
            return
        pipeline = Pipeline.objects.using(using).create(name="Продажи", is_default=True)
        Stage.objects.using(using).bulk_create(
            Stage(pipeline=pipeline, name=name, position=position, probability=probability)
            for position, (name, probability) in enumerate(DEFAULT_STAGES)
        )
