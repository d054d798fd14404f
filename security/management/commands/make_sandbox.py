"""`manage.py make_sandbox --database-url URL [--from-backup ARCHIVE --key-file FILE]
[--force] [--password P]`: a pseudonymized copy of the data for training and testing, in a
separate database (security/sandbox.py). Refuses the configured database as the target, and a
non-empty target without --force. Prints per table what was pseudonymized or dropped, the one
password every user has in the sandbox, and the sandbox's own encryption keys."""

import os
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from security import backups, sandbox


class Command(BaseCommand):
    help = "Write a pseudonymized copy of the live database (or of a backup) into another " \
           "database, for training and testing."

    def add_arguments(self, parser):
        parser.add_argument("--database-url", help="The sandbox's database: postgres://... "
                            "or sqlite:///path (never the configured one).")
        parser.add_argument("--from-backup", metavar="ARCHIVE",
                            help="Copy a backup archive instead of the live database.")
        parser.add_argument("--key-file", help="The backup private key for --from-backup "
                            "(default: the BACKUP_PRIVATE_KEY environment variable).")
        parser.add_argument("--force", action="store_true",
                            help="Wipe a non-empty target database first.")
        parser.add_argument("--password", help="Every user's password in the sandbox "
                            "(default: a new random one, printed).")
        # The second half, run by the first in a process of its own on the copy.
        parser.add_argument("--rewrite-this-copy", action="store_true",
                            help="(internal) pseudonymize the configured database, a copy")
        parser.add_argument("--report-file", help="(internal)")

    def handle(self, *, database_url, from_backup, key_file, force, password,
               rewrite_this_copy, report_file, **options):
        if rewrite_this_copy:
            return self._rewrite(report_file)
        if not database_url:
            raise CommandError("Give the sandbox's database: --database-url URL.")
        try:
            key = backups.private_key_from(key_file) if from_backup else None
            made = sandbox.make(database_url, archive=Path(from_backup) if from_backup else None,
                                key=key, force=force, password=password,
                                progress=lambda step: self.stderr.write(f"make_sandbox: {step}"))
        except (sandbox.SandboxError, backups.BackupError) as e:
            raise CommandError(str(e)) from None
        self._print(made)

    def _rewrite(self, report_file):
        import json

        try:
            report = sandbox.rewrite_this_copy(token=os.environ.get(sandbox.MARKER_ENV, ""),
                                               password=os.environ.get(sandbox.PASSWORD_ENV,
                                                                       ""))
        except sandbox.SandboxError as e:
            raise CommandError(str(e)) from None
        Path(report_file).write_text(json.dumps(report))

    def _print(self, made: sandbox.Made) -> None:
        self.stdout.write("The sandbox is written. Per table:")
        tables = made.report["tables"]
        width = max((len(table) for table in tables), default=0)
        for table in sorted(tables):
            counts = ", ".join(f"{what} {count}" for what, count in
                               sorted(tables[table].items()))
            self.stdout.write(f"  {table:<{width}}  {counts}")
        self.stdout.write("Files: none copied (attachments and recordings dropped, exports "
                          "removed).")
        self.stdout.write(f"Every user's password: {made.password}")
        self.stdout.write("Run the sandbox with its own keys (production's open nothing in it):")
        self.stdout.write(f"FIELD_ENCRYPTION_KEYS={made.field_keys}")
        self.stdout.write(f"BLIND_INDEX_KEY={made.blind_index_key}")
