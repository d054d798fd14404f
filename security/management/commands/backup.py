"""`manage.py backup [--output DIR]`: one encrypted archive of the database and the media
files (security/backups.py), written to DIR (BACKUP_DIR by default), the old ones pruned
(`--keep-daily`, `--keep-monthly`). Its path is the last line printed. `--generate-key` prints
a new backup key pair and exits."""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from security import backups


class Command(BaseCommand):
    help = "Write an encrypted backup of the database and the media files; print its path."

    def add_arguments(self, parser):
        parser.add_argument("--output", help="The directory (default: BACKUP_DIR).")
        parser.add_argument("--keep-daily", type=int, default=7,
                            help="Keep the newest archive of this many days (default 7).")
        parser.add_argument("--keep-monthly", type=int, default=12,
                            help="And of this many months (default 12).")
        parser.add_argument("--generate-key", action="store_true",
                            help="Print a new key pair: the public half for "
                                 "BACKUP_PUBLIC_KEY, the private half for restore.")

    def handle(self, *, output, keep_daily, keep_monthly, generate_key, **options):
        if generate_key:
            private, public = backups.generate_keypair()
            self.stdout.write(f"BACKUP_PUBLIC_KEY={public}")
            self.stdout.write(f"private key (keep it off the servers; restore --key-file): "
                              f"{private}")
            return
        if not settings.BACKUP_PUBLIC_KEY:
            raise CommandError("BACKUP_PUBLIC_KEY is not set (make a pair: backup "
                               "--generate-key).")
        try:
            recipient = backups.public_key(settings.BACKUP_PUBLIC_KEY)
            made = backups.backup(
                Path(output or settings.BACKUP_DIR), recipient=recipient,
                keep_daily=keep_daily, keep_monthly=keep_monthly,
                progress=lambda step: self.stderr.write(f"backup: {step}"))
        except backups.BackupError as e:
            raise CommandError(str(e)) from None
        for path in made.pruned:
            self.stderr.write(f"backup: pruned {path.name}")
        self.stderr.write(f"backup: {made.size:,} bytes, {made.files} files, "
                          f"{made.seconds:.1f} s")
        self.stdout.write(str(made.path))
