"""The bucket store of core/storage.py: django-storages' S3 backend with the operations every
store has (write, read, head, version, replace, walk, move_in, copy_to, where).

Imported only where STORAGES names it (OBJECT_STORAGE_BUCKET is set): boto3 stays out of a
process that keeps its files on the disk.
"""

import os
import posixpath
from collections.abc import Iterator
from pathlib import Path

from botocore.config import Config
from botocore.exceptions import ClientError
from django.core.files import File
from django.core.files.base import ContentFile
from storages.backends.s3 import S3Storage
from storages.utils import clean_name


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _missing(error: ClientError) -> bool:
    return (error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 404
            or _code(error) in ("404", "NoSuchKey"))


class ObjectStorage(S3Storage):
    """A prefix (`location`) of a bucket of S3-compatible object storage. Django-storages
    writes, reads, lists and deletes; boto3's client is called directly only where S3Storage
    has no such operation (each says why)."""

    def __init__(self, **options):
        super().__init__(**options)
        self.client_config = self.client_config.merge(Config(
            retries={"max_attempts": 5, "mode": "standard"},
            # boto3 (1.36 on) adds CRC checksums to every upload and expects them on every
            # download; several S3-compatible services refuse or lack them. Only where the
            # API requires one.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        ))

    def _key(self, name: str) -> str:
        return self._normalize_name(clean_name(name))

    def write(self, name: str, data: bytes) -> str:
        return self.save(name, ContentFile(data))

    def read(self, name: str) -> bytes:
        with self.open(name, "rb") as file:
            return file.read()

    def get_modified_time(self, name):
        try:
            return super().get_modified_time(name)
        except ClientError as e:
            if _missing(e):
                raise FileNotFoundError(f"File does not exist: {name}") from None
            raise

    def head(self, name: str, size: int) -> bytes:
        # A ranged GET: S3Storage.open() would download the whole object first.
        try:
            answer = self.connection.meta.client.get_object(
                Bucket=self.bucket_name, Key=self._key(name), Range=f"bytes=0-{size - 1}")
        except ClientError as e:
            if _missing(e):
                raise FileNotFoundError(f"File does not exist: {name}") from None
            if _code(e) == "InvalidRange":
                return b""  # an empty object
            raise
        return answer["Body"].read()

    def version(self, name: str) -> str | None:
        # The ETag, which S3Storage does not expose.
        try:
            return self.connection.meta.client.head_object(
                Bucket=self.bucket_name, Key=self._key(name))["ETag"]
        except ClientError as e:
            if _missing(e):
                return None
            raise

    def replace(self, name: str, data: bytes, *, version: str) -> bool:
        """Put `data` in place of `name` if it is still at `version` (its ETag); False when it
        was deleted or rewritten meanwhile (then nothing is written)."""
        # A conditional PUT (If-Match: the ETag read before), which S3Storage's upload does not
        # pass on: the object is replaced only if nobody deleted or rewrote it since. Where a
        # service ignores the header, the version was still checked just before.
        if self.version(name) != version:
            return False
        try:
            self.connection.meta.client.put_object(
                Bucket=self.bucket_name, Key=self._key(name), Body=data, IfMatch=version,
                ContentType=self.default_content_type)
        except ClientError as e:
            if _missing(e) or _code(e) in ("PreconditionFailed", "ConditionalRequestConflict"):
                return False
            raise
        return True

    def walk(self, folder: str = "") -> Iterator[str]:
        """The name of every file under `folder`, in key order."""
        # One flat listing of the prefix, 1,000 keys a request; S3Storage.listdir lists one
        # "folder" at a time.
        prefix = self._key(folder) if folder else self.location
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        pages = self.connection.meta.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket_name, Prefix=prefix)
        for page in pages:
            for entry in page.get("Contents", ()):
                key = entry["Key"]
                if not key.endswith("/"):
                    yield posixpath.relpath(key, self.location) if self.location else key

    def move_in(self, name: str, path: Path) -> None:
        """Upload the local file at `path` as `name` (in parts, streamed), then delete it."""
        with open(path, "rb") as source:
            self.save(name, File(source))
        os.unlink(path)

    def copy_to(self, name: str, file) -> None:
        """Download `name` into the writable `file`."""
        # Streamed in parts: S3Storage.open() would spool the whole object first.
        try:
            self.bucket.Object(self._key(name)).download_fileobj(
                file, Config=self.transfer_config)
        except ClientError as e:
            if _missing(e):
                raise FileNotFoundError(f"File does not exist: {name}") from None
            raise

    def where(self, name: str) -> str:
        return f"s3://{self.bucket_name}/{self._key(name)}"
