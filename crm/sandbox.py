"""What crm holds about clients, in a sandbox (core.holdings: `pseudonym_sources`,
`pseudonymize`): contacts get their person's fake name, phones and e-mails; client companies a
fake name, INN, address and site; deals, tasks, notes and the timeline's payloads lose the
personal data in their texts."""

from core.holdings import Pseudonymization, rewrite_rows
from crm.models import Company, Contact, ContactPoint, Deal, Note, Task, TimelineEntry


def pseudonym_sources(pseudonymization: Pseudonymization) -> None:
    fakes = pseudonymization.pseudonyms
    for contact_id, name in Contact.objects.values_list("pk", "name").iterator():
        fakes.learn_person(contact_id, name)
    for kind, value in ContactPoint.objects.values_list("kind", "value").iterator():
        (fakes.learn_phone if kind == ContactPoint.Kind.PHONE else fakes.learn_email)(value)
    for company_id, name in Company.objects.values_list("pk", "name").iterator():
        fakes.learn_company(company_id, name)


def pseudonymize(pseudonymization: Pseudonymization) -> None:
    fakes, report = pseudonymization.pseudonyms, pseudonymization.report

    def contact(row) -> bool:
        row.name = fakes.person(row.pk).name
        row.position = fakes.text(row.position, person=row.pk)
        return True

    def point(row) -> bool:
        row.value = (fakes.phone(row.value) if row.kind == ContactPoint.Kind.PHONE
                     else fakes.email(row.value))
        row.compute_blind_indexes()
        return True

    def company(row) -> bool:
        row.name = fakes.company(row.pk)
        row.inn = fakes.inn(row.inn)
        row.address = fakes.address(row.address) if row.address else ""
        row.website = f"https://{fakes.domain(row.website)}/" if row.website else ""
        return True

    def texts(*fields, person=lambda row: None):
        def change(row) -> bool:
            changed = False
            for name in fields:
                before = getattr(row, name)
                after = fakes.text(before, person=person(row))
                if after != before:
                    setattr(row, name, after)
                    changed = True
            return changed
        return change

    def payload(row) -> bool:
        after = fakes.json(row.payload, person=row.contact_id)
        changed, row.payload = after != row.payload, after
        return changed

    about = lambda row: row.contact_id or (row.deal.contact_id if row.deal else None)  # noqa: E731
    rewrite_rows(Contact.objects.all(), ["name", "position"], contact, table="crm.contact",
                 report=report)
    rewrite_rows(ContactPoint.objects.all(), ["value", "value_index"], point,
                 table="crm.contactpoint", report=report)
    rewrite_rows(Company.objects.all(), ["name", "inn", "address", "website"], company,
                 table="crm.company", report=report)
    rewrite_rows(Deal.objects.all(), ["title", "next_step", "loss_reason"],
                 texts("title", "next_step", "loss_reason", person=lambda row: row.contact_id),
                 table="crm.deal", report=report)
    rewrite_rows(Task.objects.select_related("deal"), ["title"], texts("title", person=about),
                 table="crm.task", report=report)
    rewrite_rows(Note.objects.select_related("deal"), ["text"], texts("text", person=about),
                 table="crm.note", report=report)
    rewrite_rows(TimelineEntry.objects.exclude(payload={}), ["payload"], payload,
                 table="crm.timelineentry", report=report)
