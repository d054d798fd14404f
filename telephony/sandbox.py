"""What telephony holds about clients, in a sandbox (core.holdings: `pseudonym_sources`,
`pseudonymize`): calls and click-to-call commands get the fake of the client's number (the
same as on their card; the blind index recomputed), recordings are dropped (a call without
its recording stays a call; a recording row without a file is nothing), and the PBX keys go,
so a sandbox never reaches the PBX."""

from core.holdings import Pseudonymization, rewrite_rows
from telephony.models import Call, CallbackCommand, PbxAccount, Recording


def pseudonym_sources(pseudonymization: Pseudonymization) -> None:
    fakes = pseudonymization.pseudonyms
    for number in Call.objects.exclude(client_number_index="").values_list(
            "client_number", flat=True).iterator():
        fakes.learn_phone(number)
    for number in CallbackCommand.objects.values_list("to_number", flat=True).iterator():
        fakes.learn_phone(number)


def pseudonymize(pseudonymization: Pseudonymization) -> None:
    fakes, report = pseudonymization.pseudonyms, pseudonymization.report

    def call(row) -> bool:
        if not row.client_number:
            return False
        row.client_number = fakes.phone(row.client_number)
        row.client_number_index = Call.index_of(row.client_number)
        return True

    def command(row) -> bool:
        row.to_number = fakes.phone(row.to_number)
        row.error = fakes.text(row.error, person=row.contact_id)
        return True

    rewrite_rows(Call.objects.all(), ["client_number", "client_number_index"], call,
                 table="telephony.call", report=report)
    rewrite_rows(CallbackCommand.objects.all(), ["to_number", "error"], command,
                 table="telephony.callbackcommand", report=report)
    report.add("telephony.recording", "deleted with its file",
               Recording.objects.all().delete()[0])
    report.add("telephony.pbxaccount", "keys cleared",
               PbxAccount.objects.update(api_key="", api_salt=""))
