"""`manage.py seed_demo`: fill an empty database with a lived-in Russian sales department.

Ten staff users (all with the password `demo`), two teams, 120 companies, 300 contacts and
150 deals at every stage of the default pipeline, with tasks, notes and the timeline the
services write, spread over the last 90 days.

- The data comes from a fixed random seed: every run builds the same rows (the dates are
  relative to the moment of seeding, so the demo always looks current).
- Idempotent: the whole demo is written in one transaction, and the director's reserved
  e-mail address marks a database that holds it. When the marker is there the command
  changes nothing; to start over, delete the database (`make clean`).
- It refuses (CommandError) to write into a database that holds anything else (any user,
  company, contact or deal) or when DEBUG is off outside the embedded mode's own SQLite
  database (settings.DEMO_DATABASE), unless `--force`.
- `--if-empty` (used by `make run` on every start) never fails: it seeds only an empty
  database that may hold the demo and otherwise says why it did nothing.
- `--json` prints who can log in, without touching the database.
"""

import json
import random
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from crm.demo import SEED, DemoBuilder, demo_present, demo_url, describe, other_data
from crm.management import demo_data as data

# --- The command -----------------------------------------------------------------------------


class Command(BaseCommand):
    help = (
        "Fill an empty database with demo data: users (password 'demo'), teams, companies, "
        "contacts, deals, tasks and notes. Does nothing when the demo is already there."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--if-empty", action="store_true",
            help="Seed only an empty database that may hold the demo (DEBUG on, or the embedded "
                 "mode's own SQLite file); otherwise do nothing (never fails).",
        )
        parser.add_argument(
            "--force", action="store_true",
            help="Seed even with DEBUG off or with other data in the database "
                 "(demo users that already exist get the password 'demo').",
        )
        parser.add_argument(
            "--json", action="store_true",
            help="Print the demo's logins and teams as JSON and change nothing.",
        )

    def handle(self, *args, **options):
        if options["json"]:
            self.stdout.write(json.dumps(describe(), ensure_ascii=False, indent=2))
            return
        if demo_present():
            self.stdout.write("Demo data is already in the database; nothing to do.")
            return

        force, if_empty = options["force"], options["if_empty"]
        existing = other_data()
        allowed = settings.DEBUG or getattr(settings, "DEMO_DATABASE", False)
        if if_empty and not force and (existing or not allowed):
            reason = "DEBUG is off" if not allowed else "the database holds other data"
            self.stdout.write(f"Not seeding demo data: {reason}.")
            return
        if not allowed and not force:
            raise CommandError(
                "DEBUG is off, so this looks like a production database: refusing to add demo "
                "users with the password 'demo'. Use --force if you really mean it."
            )
        if existing and not force:
            held = ", ".join(f"{n} {kind}" for kind, n in existing.items())
            raise CommandError(
                f"The database already holds data that is not the demo ({held}). seed_demo "
                "fills only an empty database; use --force to add the demo anyway."
            )

        started = time.monotonic()
        counts = DemoBuilder(random.Random(SEED), timezone.now()).build()
        elapsed = time.monotonic() - started
        summary = ", ".join(f"{n} {kind}" for kind, n in counts.items())
        self.stdout.write(self.style.SUCCESS(f"Demo data created in {elapsed:.1f} s: {summary}."))
        if if_empty:
            return  # `make run` goes on to `serve`, which lists the logins itself
        self.stdout.write(f"Open {demo_url()} and log in (password '{data.PASSWORD}'):")
        for username, role, team, first, last in data.STAFF:
            where = f", {team}" if team else ""
            self.stdout.write(f"  {username:<11} {first} {last} ({role}{where})")


