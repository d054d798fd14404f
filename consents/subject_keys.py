"""Crypto-shredding for what must stay in an append-only record after a client's erasure.

Each contact gets a random data key (stored encrypted with the application's keys); values
sealed with it (the consent ledger's evidence: the client's address, user agent, message id)
are readable while the key exists. Erasure deletes the key: the ledger rows and their hash
chain stay untouched, and the values in them can no longer be read by anyone.
"""

import base64
import hashlib
import hmac
import json
import os

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from consents.models import SubjectKey

_NONCE = 12


def _key(contact_id: int, *, create: bool) -> bytes | None:
    row = SubjectKey.objects.filter(contact_id=contact_id).first()
    if row is None:
        if not create:
            return None
        row, _created = SubjectKey.objects.get_or_create(
            contact_id=contact_id,
            defaults={"key": base64.b64encode(AESGCM.generate_key(bit_length=256)).decode()})
    return base64.b64decode(row.key)


def seal(contact_id: int, data: dict) -> str:
    key = _key(contact_id, create=True)
    nonce = os.urandom(_NONCE)
    body = json.dumps(data, ensure_ascii=False, sort_keys=True).encode()
    sealed = AESGCM(key).encrypt(nonce, body, str(contact_id).encode())
    return base64.b64encode(nonce + sealed).decode()


def unseal(contact_id: int, token: str) -> dict | None:
    """The sealed data, or None once the contact's key is gone (erased)."""
    if not token:
        return {}
    key = _key(contact_id, create=False)
    if key is None:
        return None
    raw = base64.b64decode(token)
    return json.loads(AESGCM(key).decrypt(raw[:_NONCE], raw[_NONCE:], str(contact_id).encode()))


def tag(contact_id: int, label: bytes, *, create: bool) -> str | None:
    """A short keyed fingerprint of the contact's key for `label` (never the key itself), or
    None once the key is gone: a value that stops matching when the contact is erased."""
    key = _key(contact_id, create=create)
    if key is None:
        return None
    digest = hmac.new(key, label, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:12]).decode()


def shred(contact_id: int) -> bool:
    """Delete the contact's key: everything sealed with it becomes unreadable."""
    deleted, _ = SubjectKey.objects.filter(contact_id=contact_id).delete()
    return bool(deleted)
