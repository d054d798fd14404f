"""Which CRM models django-auditlog records (who changed what, field by field).

Contact identifiers stay out of the change log: a changed phone shows as a changed blind
index (`value_index`), which proves the change without the log becoming a second, unencrypted
copy of the client base. Note texts are not copied either.
"""

from auditlog.registry import auditlog


def register_models() -> None:
    from crm.models import Company, Contact, ContactPoint, Deal, Note, Pipeline, Stage, Task

    auditlog.register(Company)
    auditlog.register(Contact, m2m_fields={"tags"})
    auditlog.register(ContactPoint, exclude_fields=["value"])
    auditlog.register(Deal, exclude_fields=["last_activity_at", "updated_at"])
    auditlog.register(Task, exclude_fields=["updated_at"])
    auditlog.register(Note, exclude_fields=["text"])
    auditlog.register(Pipeline)
    auditlog.register(Stage)
