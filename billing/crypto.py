"""Secret asset content encrypted at rest (SPEC §3 Assets).

Fernet (AES-128-CBC with an HMAC-SHA256, from `cryptography`) through a MultiFernet over the
keys in `settings.ROSTER_ASSET_KEYS` (env `DJANGO_ASSET_KEYS`): the first key encrypts,
every key decrypts, so a new key is put in front, `manage.py rotate_asset_keys` re-encrypts
every secret with it, and the old key can then be dropped. Without configured keys (only
development and tests: production settings refuse to start) one key is derived from
SECRET_KEY, so a fresh checkout works with nothing set.

Nothing here logs, and no error carries a key or a plaintext.
"""

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

_built: dict = {}


class SecretUnreadable(Exception):
    """No configured key decrypts a stored secret (a key was dropped before rotating)."""


def derived_key(secret_key: str) -> bytes:
    """The development key: SHA-256 of SECRET_KEY under a purpose label, as a Fernet key."""
    digest = hashlib.sha256(b"roster.billing.asset-key\x00" + secret_key.encode()).digest()
    return base64.urlsafe_b64encode(digest)


def configured_keys() -> tuple[bytes, ...]:
    keys = tuple(key.encode() if isinstance(key, str) else key for key in settings.ROSTER_ASSET_KEYS or ())
    if keys:
        return keys
    if getattr(settings, "ROSTER_ASSET_KEYS_REQUIRED", False):
        raise ImproperlyConfigured("DJANGO_ASSET_KEYS must be set: secret assets are encrypted with it.")
    return (derived_key(settings.SECRET_KEY),)


def _fernet() -> MultiFernet:
    keys = configured_keys()
    fernet = _built.get(keys)
    if fernet is None:
        _built.clear()  # settings changed (tests): only the current keys are kept
        fernet = _built[keys] = MultiFernet([Fernet(key) for key in keys])
    return fernet


def encrypt(plaintext: str) -> str:
    """The text encrypted with the first key, as an ASCII token."""
    return _fernet().encrypt(plaintext.encode("utf-8")).decode("ascii")


def decrypt(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode("ascii")).decode("utf-8")
    except (InvalidToken, UnicodeError):
        raise SecretUnreadable("No configured asset key decrypts this secret.") from None


def rotate(token: str) -> str:
    """The same plaintext encrypted with the first key (any configured key may have made it)."""
    try:
        return _fernet().rotate(token.encode("ascii")).decode("ascii")
    except (InvalidToken, UnicodeError):
        raise SecretUnreadable("No configured asset key decrypts this secret.") from None


def encrypted_with_first_key(token: str) -> bool:
    """Does the first key decrypt this token (no rotation needed)?"""
    try:
        Fernet(configured_keys()[0]).decrypt(token.encode("ascii"))
    except (InvalidToken, UnicodeError):
        return False
    return True
