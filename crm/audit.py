"""Which CRM models django-auditlog records (who changed what, field by field).

Contact identifiers are masked in the change log: the log proves a phone changed without
becoming a second copy of the client base. Note texts are not copied either.
"""

from auditlog.registry import auditlog


def register_models() -> None:
    from crm.models import Company, Contact, ContactPoint, Deal, Note, Pipeline, Stage, Task

    auditlog.register(Company)
    auditlog.register(Contact, m2m_fields={"tags"})
    auditlog.register(ContactPoint, mask_fields=["value"])
    auditlog.register(Deal, exclude_fields=["last_activity_at", "updated_at"])
    auditlog.register(Task, exclude_fields=["updated_at"])
    auditlog.register(Note, exclude_fields=["text"])
    auditlog.register(Pipeline)
    auditlog.register(Stage)
