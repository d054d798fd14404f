"""Apply the retention rules (consents.retention); `--dry-run` prints what would happen and
changes nothing. Counts only: the report names no client."""

from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _

from consents import retention
from consents.models import RetentionRule


class Command(BaseCommand):
    help = "Anonymize or delete what is past its retention period (--dry-run: only report)."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true",
                            help="Print what would be done; change nothing.")

    def handle(self, *args, dry_run=False, **options):
        plan = retention.apply(dry_run=dry_run)
        self.stdout.write(_("Dry run: nothing was changed.") if dry_run
                          else _("Retention applied."))
        for step in plan.steps:
            label = f"{step.key} ({step.note})" if step.note else step.key
            action = dict(RetentionRule.Action.choices).get(step.action) or _("Erase")
            self.stdout.write(
                _("%(rule)s: older than %(days)d days, %(action)s: %(count)d")
                % {"rule": label, "days": step.days, "action": str(action).lower(),
                   "count": step.count})
        self.stdout.write(_("Total: %(count)d") % {
            "count": sum(step.count for step in plan.steps)})
