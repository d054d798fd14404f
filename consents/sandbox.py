"""What consents holds about clients, in a sandbox (core.holdings: `pseudonymize`): the consent
ledger, its states, the subjects' keys and the consents awaiting confirmation are dropped
(they are evidence about real people, and nobody consented to a sandbox); subject requests
stay, their texts pseudonymized."""

from consents.models import ConsentEvent, ConsentState, PendingConsent, SubjectKey, SubjectRequest
from core.holdings import Pseudonymization, rewrite_rows
from security.audit import audit_chain


def pseudonymize(pseudonymization: Pseudonymization) -> None:
    fakes, report = pseudonymization.pseudonyms, pseudonymization.report
    report.add("consents.consentevent", "deleted", audit_chain.clear(ConsentEvent))
    for model in (ConsentState, SubjectKey, PendingConsent):
        report.add(model._meta.label_lower, "deleted", model.objects.all().delete()[0])

    def request(row) -> bool:
        before = (row.details, row.response, row.extension_reason)
        row.details, row.response, row.extension_reason = (
            fakes.text(text, person=row.contact_id) for text in before)
        return before != (row.details, row.response, row.extension_reason)

    rewrite_rows(SubjectRequest.objects.all(), ["details", "response", "extension_reason"],
                 request, table="consents.subjectrequest", report=report)
