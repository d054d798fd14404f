"""`manage.py restore ARCHIVE --key-file FILE [--force]`: an archive of `manage.py backup`
into the configured database and media store (security/backups.py). ARCHIVE is a path, an
object `s3://bucket/key` (read with the object storage's settings), or the name of an archive
in the backup store (`backup --list`); one in a bucket is downloaded to a temporary file
first. The whole archive is decrypted and checked against its manifest first; an empty target
is required (`--force` wipes it). Then `verify_audit` runs and its report is printed; the exit
status is non-zero if it finds a break."""

import io

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from security import backups


class Command(BaseCommand):
    help = "Restore an encrypted backup into the (empty) configured database and media store."

    def add_arguments(self, parser):
        parser.add_argument("archive", help="A path, s3://bucket/key, or the name of an "
                            "archive in the backup store.")
        parser.add_argument("--key-file", help="A file holding the backup private key "
                            "(default: the BACKUP_PRIVATE_KEY environment variable).")
        parser.add_argument("--force", action="store_true",
                            help="Wipe a non-empty database and media store first.")

    def handle(self, *, archive, key_file, force, **options):
        try:
            key = backups.private_key_from(key_file)
            with backups.fetched(archive) as local:
                restored = backups.restore(
                    local, key=key, force=force,
                    progress=lambda step: self.stderr.write(f"restore: {step}"))
        except backups.BackupError as e:
            raise CommandError(str(e)) from None
        manifest = restored.manifest
        self.stdout.write(f"restored the backup of {manifest['created_at']}: the database "
                          f"and {restored.files} files in {restored.seconds:.1f} s"
                          + ("; migrated to this version" if restored.migrated else ""))
        report = io.StringIO()
        try:
            call_command("verify_audit", stdout=report)
        except SystemExit as exit:
            self.stdout.write(report.getvalue())
            raise CommandError("verify_audit found breaks in the restored logs") from exit
        self.stdout.write(report.getvalue())
