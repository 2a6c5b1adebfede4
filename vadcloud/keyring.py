"""Ed25519 signing-key rings from settings, shared by the signed device config
(``EDGE_CONFIG_SIGNING_KEY(S)``) and the audit log's checkpoints (``AUDIT_SIGNING_KEY(S)``).

A ring is ``NAME_KEYS = "kid1:b64,kid2:b64"`` (the first signs; every key is published, so keys
rotate without breaking what was signed before) or a single ``NAME_KEY`` + its key-id setting.
Each key is base64 of a raw 32-byte Ed25519 private key. A bad entry raises
``ImproperlyConfigured`` naming the setting and the entry.
"""

from __future__ import annotations

import base64
import binascii

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


def _private_key(what: str, key_id: str, b64: str) -> Ed25519PrivateKey:
    try:
        raw = base64.b64decode(b64.strip(), validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise ImproperlyConfigured(f"{what} key {key_id!r} is not base64 of a raw 32-byte Ed25519 private key")
    return Ed25519PrivateKey.from_private_bytes(raw)


def key_ring(*, ring: str, single: str, key_id: str, default_key_id: str, what: str) -> list[tuple[str, Ed25519PrivateKey]]:
    """The ring named by the settings ``ring`` / ``single`` + ``key_id``, signing key first."""
    entries = (getattr(settings, ring, "") or "").strip()
    if not entries:
        one = (getattr(settings, single, "") or "").strip()
        if not one:
            raise ImproperlyConfigured(f"{single} (or {ring}) is not set")
        kid = (getattr(settings, key_id, "") or default_key_id).strip()
        return [(kid, _private_key(what, kid, one))]
    keys: list[tuple[str, Ed25519PrivateKey]] = []
    for position, entry in enumerate(entries.split(","), start=1):
        kid, sep, b64 = entry.strip().partition(":")
        kid = kid.strip()
        if not sep or not kid or len(kid) > 200:
            raise ImproperlyConfigured(f"{ring} entry {position} is not 'key_id:base64-key' (entries separated by ',')")
        if kid in {k for k, _ in keys}:
            raise ImproperlyConfigured(f"{ring} names key id {kid!r} twice")
        keys.append((kid, _private_key(what, kid, b64)))
    return keys


def public_b64(key: Ed25519PrivateKey) -> str:
    """Base64 of the raw Ed25519 public key."""
    return base64.b64encode(key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()
