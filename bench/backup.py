"""Benchmark of `manage.py backup` and `restore` on the 1M-deal bench database.

    make bench-backup                        # the full size (about 15 minutes to build)
    BENCH_SCALE=0.1 make bench-backup        # a tenth of it
    BENCH_MEASURE_ONLY=1 DATABASE_URL=... .venv/bin/python bench/backup.py
                                             # again, on a database a run built

Builds bench/search.py's company in a throwaway PostgreSQL database (10,000 users, 1M deals
and their contacts and conversations, 10M messages) and gives 2,000 of its messages a 100 KB
file each (attachments, encrypted as the product stores them: 200 MB of media). Then times a
backup into a directory, and a restore of it, in a new process, into a new empty database of
the same server and an empty media folder, with the counts of deals, messages and files
compared. Prints the archive's size and both durations. Not run in CI.
"""

import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("MEDIA_ROOT", "/tmp/crm-bench-media")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402

from bench import search as search_bench  # noqa: E402 (sets Django up)
from bench.database import scalar, sql  # noqa: E402
from inbox import attachments  # noqa: E402
from inbox.models import Attachment, Message  # noqa: E402
from security import backups  # noqa: E402

FILES = int(2000 * search_bench.SCALE) or 1
FILE_BYTES = 100_000
ROOT = Path(__file__).resolve().parent.parent


def with_files() -> None:
    if Attachment.objects.count() >= FILES:
        return
    messages = list(Message.objects.order_by("pk").values_list("pk", flat=True)[:FILES])
    Attachment.objects.bulk_create(
        Attachment(message_id=pk, file_path=attachments.storage.store(os.urandom(FILE_BYTES)),
                   name=f"file-{pk}.bin", mime_type="application/octet-stream",
                   size=FILE_BYTES, kind="document")
        for pk in messages)
    print(f"  {FILES:,} files of {FILE_BYTES:,} bytes under {settings.MEDIA_ROOT}", flush=True)


def counts(database_url: str) -> tuple:
    script = ("import django; django.setup(); from crm.models import Deal; "
              "from inbox.models import Attachment, Message; "
              "print(Deal.objects.count(), Message.objects.count(), "
              "Attachment.objects.count())")
    return tuple(subprocess.run([sys.executable, "-c", script], cwd=ROOT, check=True,
                                capture_output=True, text=True,
                                env=os.environ | {"DATABASE_URL": database_url})
                 .stdout.split()[-3:])


def main():
    if not os.environ.get("BENCH_MEASURE_ONLY"):
        search_bench.build()
    with_files()
    sql("VACUUM ANALYZE", label="")
    private, public = backups.generate_keypair()
    output = Path("/tmp/crm-bench-backups")
    database = scalar("SELECT pg_database_size(current_database())")
    print(f"\nthe database: {database / 2**30:.2f} GiB", flush=True)
    made = backups.backup(output, recipient=backups.public_key(public),
                          progress=lambda step: print(f"  backup: {step}", flush=True))
    print(f"backup: {made.size / 2**30:.2f} GiB archive, {made.files:,} files, "
          f"{made.seconds:.0f} s", flush=True)

    source = os.environ["DATABASE_URL"]
    target = source.rsplit("/", 1)[0] + "/bench_restore"
    with connection.cursor() as cursor:
        cursor.execute("DROP DATABASE IF EXISTS bench_restore")
        cursor.execute("CREATE DATABASE bench_restore")
    key = output / "bench.key"
    key.write_text(private)
    restored_media = Path("/tmp/crm-bench-media-restored")
    subprocess.run(["rm", "-rf", str(restored_media)], check=True)
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "manage.py", "restore", made.where, "--key-file", str(key)],
        cwd=ROOT, capture_output=True, text=True,
        env=os.environ | {"DATABASE_URL": target, "MEDIA_ROOT": str(restored_media)})
    seconds = time.perf_counter() - started
    print(done.stdout[-2000:], done.stderr[-2000:] if done.returncode else "", flush=True)
    print(f"restore: {seconds:.0f} s (exit {done.returncode}), then verify_audit", flush=True)
    before, after = counts(source), counts(target)
    print(f"deals, messages, files: {before} before, {after} restored", flush=True)


if __name__ == "__main__":
    main()
