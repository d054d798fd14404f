"""`manage.py backup [--output DIR]`: one encrypted archive of the database and the media
files (security/backups.py), written to DIR, else to the backup store (BACKUP_DIR, or the
object storage's bucket under backups/ when OBJECT_STORAGE_BUCKET is set), the old ones pruned
there (`--keep-daily`, `--keep-monthly`). Where it went (a path, or s3://bucket/key) is the
last line printed. `--list` prints the archives kept; `--generate-key` prints a new backup key
pair and exits."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from core import storage
from security import backups


class Command(BaseCommand):
    help = "Write an encrypted backup of the database and the media files; print its path."

    def add_arguments(self, parser):
        parser.add_argument("--output", help="The directory (default: the backup store, "
                            "BACKUP_DIR or the object storage's bucket).")
        parser.add_argument("--list", action="store_true", dest="list_archives",
                            help="Print the archives in the backup store, newest first, and "
                                 "exit.")
        parser.add_argument("--keep-daily", type=int, default=7,
                            help="Keep the newest archive of this many days (default 7).")
        parser.add_argument("--keep-monthly", type=int, default=12,
                            help="And of this many months (default 12).")
        parser.add_argument("--generate-key", action="store_true",
                            help="Print a new key pair: the public half for "
                                 "BACKUP_PUBLIC_KEY, the private half for restore.")

    def handle(self, *, output, list_archives, keep_daily, keep_monthly, generate_key,
               **options):
        store = storage.LocalStorage(location=output) if output else storage.backups()
        if list_archives:
            for _made, name in backups.archives(store):
                self.stdout.write(f"{store.where(name)}\t{store.size(name)}")
            return
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
                store, recipient=recipient,
                keep_daily=keep_daily, keep_monthly=keep_monthly,
                progress=lambda step: self.stderr.write(f"backup: {step}"))
        except backups.BackupError as e:
            raise CommandError(str(e)) from None
        for name in made.pruned:
            self.stderr.write(f"backup: pruned {name}")
        self.stderr.write(f"backup: {made.size:,} bytes, {made.files} files, "
                          f"{made.seconds:.1f} s")
        self.stdout.write(made.where)
