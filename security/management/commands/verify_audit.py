"""Walk the hash chains (access log, change log, consent ledger) and report every break.

Exit status 0 when every chain is intact, 1 otherwise (for cron and monitoring)."""

import sys

from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _

from security.audit import audit_chain, change_log
from security.models import AccessRecord


class Command(BaseCommand):
    help = "Verify that no access-log or change-log record was altered, inserted or deleted."

    def handle(self, *args, **options):
        failed = False
        for title, (checked, breaks) in (
            (_("Access log"), audit_chain.verify(AccessRecord)),
            (_("Change log"), change_log.verify()),
            *self.other_chains(),
        ):
            if breaks:
                failed = True
                self.stdout.write(self.style.ERROR(
                    _("%(log)s: %(count)d problem(s) in %(checked)d records")
                    % {"log": title, "count": len(breaks), "checked": checked}))
                for problem in breaks:
                    self.stdout.write(f"  {problem}")
            else:
                self.stdout.write(self.style.SUCCESS(
                    _("%(log)s: %(checked)d records, chain intact")
                    % {"log": title, "checked": checked}))
        if failed:
            sys.exit(1)

    def other_chains(self):
        """The other apps' append-only ledgers (core.holdings: the consent ledger)."""
        from core.holdings import declared

        for holdings in declared():
            for title, model in holdings.audit_chains:
                yield title, audit_chain.verify(model)
