"""Secrets at rest: camera stream credentials are Fernet-encrypted with FIELD_ENCRYPTION_KEY."""

from __future__ import annotations

from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.db import models

from cameras import streams


@lru_cache(maxsize=4)
def _fernet(key: str) -> Fernet:
    return Fernet(key.encode())


def encrypt(plaintext: str) -> str:
    return _fernet(settings.FIELD_ENCRYPTION_KEY).encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _fernet(settings.FIELD_ENCRYPTION_KEY).decrypt(token.encode()).decode()
    except InvalidToken:
        raise ValueError("cannot decrypt a stored secret: FIELD_ENCRYPTION_KEY changed?") from None


class EncryptedTextField(models.TextField):
    """Stores ``encrypt(value)``; Python code only ever sees the plaintext."""

    def from_db_value(self, value: str | None, expression: object, connection: object) -> str | None:
        return None if value is None or value == "" else decrypt(value)

    def get_prep_value(self, value: str | None) -> str | None:
        value = super().get_prep_value(value)
        return "" if value is None or value == "" else encrypt(value)


def redact_url(url: str) -> str:
    """``rtsp://user:pw@host/x?token=t`` -> ``rtsp://user:***@host/x?token=***`` (for display and logs).

    Never raises; the rules are ``cameras.streams.redact_url``'s.
    """
    return streams.redact_url(url)
