"""`manage.py offboard USER --to SUCCESSOR [--at ISO] [--dry-run]`: an employee's last day
from the command line (security/offboarding.py): everything they own goes to the successor
and their access ends, now or at `--at`. Prints the report; `--dry-run` prints what would
move and changes nothing; `--cancel` cancels a scheduled offboarding."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_datetime

from security import offboarding
from security.models import Offboarding, User


def _user(username: str) -> User:
    try:
        return User.objects.get(username=username)
    except User.DoesNotExist:
        raise CommandError(f"no user {username!r}") from None


class Command(BaseCommand):
    help = "Offboard USER to SUCCESSOR now or at a set time, and print the report."

    def add_arguments(self, parser):
        parser.add_argument("user", help="The username of the employee who leaves.")
        parser.add_argument("--to", dest="successor", help="The successor's username.")
        parser.add_argument("--at", help="ISO 8601 date-time with a time zone, in the future "
                            "(e.g. 2025-06-30T18:00+03:00): the last day. Default: now.")
        parser.add_argument("--dry-run", action="store_true",
                            help="Check and print what would move; change nothing.")
        parser.add_argument("--cancel", action="store_true",
                            help="Cancel USER's scheduled offboarding.")

    def handle(self, *args, user, successor, at, dry_run, cancel, **options):
        leaver = _user(user)
        if cancel:
            scheduled = offboarding.scheduled_offboarding(user=leaver)
            if scheduled is None:
                raise CommandError(f"no offboarding of {user!r} is scheduled")
            offboarding.offboarding_cancel(scheduled, by=None)
            self.stdout.write(f"Cancelled the offboarding of {user} scheduled for "
                              f"{scheduled.scheduled_for.isoformat()}.")
            return
        if not successor:
            raise CommandError("--to SUCCESSOR is required")
        successor_user = _user(successor)
        when = None
        if at:
            when = parse_datetime(at)
            if when is None:
                raise CommandError(f"--at {at!r} is not an ISO 8601 date-time")
        try:
            if dry_run:
                offboarding.offboarding_check(leaver, successor_user, by=None, at=when)
                moved = offboarding.offboarding_preview(user=leaver)
                self.stdout.write(f"Dry run: nothing changed. Offboarding {user} to "
                                  f"{successor} would move:")
                self._moved(moved)
                return
            done = offboarding.offboard_user(leaver, successor_user, by=None, at=when)
        except ValidationError as e:
            raise CommandError(" ".join(e.messages)) from None
        self._report(done)

    def _report(self, done: Offboarding) -> None:
        if done.status == Offboarding.Status.SCHEDULED:
            self.stdout.write(f"Offboarding #{done.pk} of {done.user.username} to "
                              f"{done.successor.username} is scheduled for "
                              f"{done.scheduled_for.isoformat()}. It would move, as of now:")
        else:
            self.stdout.write(f"Offboarding #{done.pk}: {done.user.username} is offboarded to "
                              f"{done.successor.username} at {done.done_at.isoformat()}.")
        self._moved(done.report.get("moved", {}))
        if done.status == Offboarding.Status.DONE:
            self.stdout.write(f"  sessions ended: {done.report['sessions_ended']}")
            self.stdout.write(f"  API tokens revoked: {done.report['tokens_revoked']}")

    def _moved(self, moved: dict) -> None:
        for kind in offboarding.kind_labels():
            row = moved.get(kind, {"count": 0, "ids": []})
            ids = ", ".join(str(i) for i in row["ids"])
            self.stdout.write(f"  {kind}: {row['count']}" + (f" ({ids})" if ids else ""))
