"""manage.py rebuild_rollups [--from 2026-01-01] [--to 2026-12-31]: the sales head's figures
of those days computed again from the raw rows (messages, calls, deals, tasks), in place of
what the rollups hold. Safe to run while the CRM works: each month is rebuilt in one
transaction."""

from datetime import date, timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from reports.rebuild import rebuild


class Command(BaseCommand):
    help = "Rebuild the activity rollups of a period from the raw rows."

    def add_arguments(self, parser):
        parser.add_argument("--from", dest="since", help="first day (ISO), default 90 days ago")
        parser.add_argument("--to", dest="until", help="last day (ISO), default today")

    def handle(self, *args, since=None, until=None, **options):
        today = timezone.localdate()
        try:
            first = date.fromisoformat(since) if since else today - timedelta(days=90)
            last = date.fromisoformat(until) if until else today
        except ValueError as error:
            raise CommandError(f"dates are ISO, like 2026-12-31: {error}") from None
        if last < first:
            raise CommandError("--to is before --from")
        rows = rebuild(first, last)
        self.stdout.write(f"Rebuilt the rollups of {first}..{last}: {rows} rows.")
