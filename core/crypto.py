"""Encryption at rest and blind indexes (DESIGN.md, invariant 7).

- Values: AES-256-GCM with a random 96-bit nonce. A stored string is
  `v1:<key id>:<urlsafe base64 of nonce + ciphertext>`; a stored file (`encrypt_bytes`) is the
  same header followed by the raw nonce and ciphertext, so files do not grow by a third.
- The associated data is a purpose (`"contact_point"`, `"export"`...): a ciphertext copied into
  another kind of field or file does not decrypt there.
- Keyring (`settings.FIELD_ENCRYPTION_KEYS`, `id:base64,id:base64`): the first key encrypts,
  every key decrypts, so a new key goes first and `manage.py rotate_keys` re-encrypts the rest.
- Blind index: HMAC-SHA256 under its own key (`settings.BLIND_INDEX_KEY`) over the purpose and
  the normalized value, for exact lookups of values nobody can read in the database. Its
  purpose is the kind of identifier (`"phone"`, `"email"`), not the table, so a call's number
  and a contact's phone can be matched by their indexes.
"""

import base64
import binascii
import hashlib
import hmac
import os
import re
import secrets
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

VERSION = "v1"
KEY_BYTES = 32
NONCE_BYTES = 12
_KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


class DecryptionError(ValueError):
    """A token that is malformed, tampered with, of another purpose, or under an unknown key."""


# --- Keys ------------------------------------------------------------------------------------


def _decode_key(name: str, text: str) -> bytes:
    text = text.strip()
    try:
        # Standard or URL-safe alphabet, padding optional: whatever the operator pasted.
        raw = base64.b64decode(
            text.replace("-", "+").replace("_", "/") + "=" * (-len(text) % 4), validate=True
        )
    except (binascii.Error, ValueError):
        raise ImproperlyConfigured(f"{name}: the key is not base64") from None
    if len(raw) != KEY_BYTES:
        raise ImproperlyConfigured(
            f"{name}: a key must be {KEY_BYTES} bytes (base64 of 32 random bytes), "
            f"got {len(raw)}"
        )
    return raw


def parse_keyring(text: str, name: str = "FIELD_ENCRYPTION_KEYS") -> list[tuple[str, bytes]]:
    """`kid:base64,kid:base64` -> [(kid, key)], first = current. ImproperlyConfigured if bad."""
    keys: list[tuple[str, bytes]] = []
    for item in (part.strip() for part in (text or "").split(",")):
        if not item:
            continue
        kid, sep, encoded = item.partition(":")
        kid = kid.strip()
        if not sep or not _KEY_ID.match(kid):
            raise ImproperlyConfigured(
                f"{name}: each key is `id:base64-key` with an id of letters, digits, - or _ "
                f"(got {kid[:32]!r})"
            )
        if any(kid == known for known, _ in keys):
            raise ImproperlyConfigured(f"{name}: key id {kid!r} appears twice")
        keys.append((kid, _decode_key(f"{name} (key {kid!r})", encoded)))
    if not keys:
        raise ImproperlyConfigured(f"{name} holds no key")
    return keys


def parse_blind_index_key(text: str, name: str = "BLIND_INDEX_KEY") -> bytes:
    if not (text or "").strip():
        raise ImproperlyConfigured(f"{name} is empty")
    return _decode_key(name, text)


def check_keys(keyring: str, blind_index_key: str) -> None:
    """Settings call this at start, so a malformed key stops the process at once."""
    keys = parse_keyring(keyring)
    blind = parse_blind_index_key(blind_index_key)
    if any(blind == key for _, key in keys):
        raise ImproperlyConfigured(
            "BLIND_INDEX_KEY must differ from every FIELD_ENCRYPTION_KEYS key"
        )


def generate_key() -> str:
    return base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode()


def generate_key_id() -> str:
    """A new key id, e.g. `k20261123a1b2`: sortable by date, unique enough to put first."""
    return f"k{date.today():%Y%m%d}{secrets.token_hex(2)}"


@dataclass(frozen=True)
class Keyring:
    current: str
    ciphers: dict[str, AESGCM]


@lru_cache(maxsize=8)
def _keyring(text: str) -> Keyring:
    keys = parse_keyring(text)
    return Keyring(current=keys[0][0], ciphers={kid: AESGCM(key) for kid, key in keys})


@lru_cache(maxsize=8)
def _blind_key(text: str) -> bytes:
    return parse_blind_index_key(text)


def keyring() -> Keyring:
    return _keyring(settings.FIELD_ENCRYPTION_KEYS)


def current_key_id() -> str:
    return keyring().current


# --- Strings (database fields) ---------------------------------------------------------------


def encrypt(plaintext: str, purpose: str) -> str:
    ring = keyring()
    nonce = os.urandom(NONCE_BYTES)
    sealed = ring.ciphers[ring.current].encrypt(nonce, plaintext.encode(), purpose.encode())
    body = base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")
    return f"{VERSION}:{ring.current}:{body}"


def _split(token: str) -> tuple[str, str]:
    version, sep1, rest = token.partition(":")
    kid, sep2, body = rest.partition(":")
    if version != VERSION or not sep1 or not sep2 or not kid:
        raise DecryptionError("not an encrypted value")
    return kid, body


def key_id_of(token: str | bytes) -> str:
    """The id of the key a token was encrypted with (DecryptionError if it is no token)."""
    if isinstance(token, bytes):
        return _split_bytes(token)[0]
    return _split(token)[0]


def _open(kid: str, nonce_and_sealed: bytes, purpose: str) -> bytes:
    cipher = keyring().ciphers.get(kid)
    if cipher is None:
        raise DecryptionError(
            f"encrypted with key id {kid!r}, which FIELD_ENCRYPTION_KEYS no longer holds"
        )
    if len(nonce_and_sealed) < NONCE_BYTES + 16:
        raise DecryptionError("the encrypted value is truncated")
    nonce, sealed = nonce_and_sealed[:NONCE_BYTES], nonce_and_sealed[NONCE_BYTES:]
    try:
        return cipher.decrypt(nonce, sealed, purpose.encode())
    except InvalidTag:
        raise DecryptionError(
            "the encrypted value was altered, or belongs to another purpose"
        ) from None


def decrypt(token: str, purpose: str) -> str:
    kid, body = _split(token)
    try:
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except (binascii.Error, ValueError):
        raise DecryptionError("the encrypted value is not base64") from None
    return _open(kid, raw, purpose).decode()


# --- Bytes (files: exports, attachments, recordings) -----------------------------------------


def encrypt_bytes(data: bytes, purpose: str) -> bytes:
    ring = keyring()
    nonce = os.urandom(NONCE_BYTES)
    sealed = ring.ciphers[ring.current].encrypt(nonce, data, purpose.encode())
    return f"{VERSION}:{ring.current}:".encode() + nonce + sealed


def _split_bytes(token: bytes) -> tuple[str, bytes]:
    version, sep1, rest = token.partition(b":")
    kid, sep2, body = rest.partition(b":")
    if version != VERSION.encode() or not sep1 or not sep2 or not kid:
        raise DecryptionError("not an encrypted file")
    try:
        return kid.decode("ascii"), body
    except UnicodeDecodeError:
        raise DecryptionError("not an encrypted file") from None


def decrypt_bytes(token: bytes, purpose: str) -> bytes:
    kid, body = _split_bytes(token)
    return _open(kid, body, purpose)


# --- Blind index -----------------------------------------------------------------------------


def blind_index(purpose: str, normalized_value: str) -> str:
    """Hex HMAC-SHA256 of `purpose` and the value: equal inputs give equal indexes, and the
    index reveals nothing without BLIND_INDEX_KEY. Normalize first (E.164, lower case)."""
    key = _blind_key(settings.BLIND_INDEX_KEY)
    message = purpose.encode() + b"\x00" + normalized_value.encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()
