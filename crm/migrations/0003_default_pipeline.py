from django.db import migrations

# A sales pipeline that works out of the box; admins rename or extend it in the admin.
STAGES = [
    ("Новая заявка", 10),
    ("Квалификация", 25),
    ("Коммерческое предложение", 50),
    ("Переговоры", 70),
    ("Договор и оплата", 90),
]


def create_default_pipeline(apps, schema_editor):
    Pipeline = apps.get_model("crm", "Pipeline")
    Stage = apps.get_model("crm", "Stage")
    if Pipeline.objects.exists():
        return
    pipeline = Pipeline.objects.create(name="Продажи", is_default=True)
    for position, (name, probability) in enumerate(STAGES):
        Stage.objects.create(
            pipeline=pipeline, name=name, position=position, probability=probability
        )


class Migration(migrations.Migration):
    dependencies = [("crm", "0002_initial")]

    operations = [migrations.RunPython(create_default_pipeline, migrations.RunPython.noop)]
