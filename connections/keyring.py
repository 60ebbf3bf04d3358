"""Encryption keys from settings, the stored-value format, and fingerprints.

A stored value describes itself::

    enc1:<key-id>:<base64url(nonce || ciphertext || tag)>

and its associated data binds it to its place: the format, the key id, the
field's purpose string (``connections.Connection.api_key``) and the row's UUID.
A value copied to another row or field, or relabelled with another key id,
fails to authenticate. ``CONNECTIONS_ENCRYPTION_KEY`` encrypts;
``CONNECTIONS_ENCRYPTION_KEY_FALLBACKS`` only decrypt, like Django's
``SECRET_KEY_FALLBACKS``. A value is decrypted with the one key its prefix
names, never by trying every key in turn.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from django.core.signals import setting_changed
from django.dispatch import receiver

from connections import crypto
from connections.sensitive import Secret

FORMAT = "enc1"
KEY_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")
KEY_SPEC_FORM = "<key-id>:<base64 of 32 random bytes>"
KEY_SPEC_EXAMPLE = (
    "python -c \"import base64, os; print('key1:' + base64.b64encode(os.urandom(32)).decode())\""
)
_FINGERPRINT_INFO = b"okendo-connections/fingerprint/v1"
_FINGERPRINT_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32: no I, L, O, U


class KeySpecError(ValueError):
    """A key setting does not have the form ``<key-id>:<base64 of 32 bytes>``."""


@dataclass(frozen=True)
class Key:
    """One AES-256 key and the id that stored values name it by."""

    key_id: str
    material: bytes = field(repr=False)


def parse_key_spec(spec: str, *, name: str) -> Key:
    """Parse ``<key-id>:<base64 of 32 bytes>`` from the setting ``name``.

    Error messages name the setting and the expected form, never the value.
    """
    key_id, sep, encoded = spec.strip().partition(":")
    if not sep or not key_id or not encoded:
        raise KeySpecError(f"{name} must have the form {KEY_SPEC_FORM}.")
    if not KEY_ID_PATTERN.match(key_id):
        raise KeySpecError(
            f"{name}: the key id must be 1-32 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit."
        )
    try:
        material = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise KeySpecError(
            f"{name} (key id {key_id!r}): the part after ':' is not valid base64."
        ) from None
    if len(material) != crypto.KEY_BYTES:
        raise KeySpecError(
            f"{name} (key id {key_id!r}): the key must decode to exactly "
            f"{crypto.KEY_BYTES} bytes, not {len(material)}."
        )
    return Key(key_id=key_id, material=material)


def parse_key_list(specs: str | list[str] | tuple[str, ...], *, name: str) -> tuple[Key, ...]:
    """Parse a comma-separated string (or a list) of key specs."""
    if isinstance(specs, str):
        specs = [part for part in specs.split(",") if part.strip()]
    return tuple(parse_key_spec(spec, name=name) for spec in specs)


@dataclass(frozen=True)
class Keyring:
    """The current key (encrypts and decrypts) and the fallbacks (decrypt only)."""

    current: Key
    fallbacks: tuple[Key, ...] = ()

    def __post_init__(self) -> None:
        ids = [self.current.key_id, *(key.key_id for key in self.fallbacks)]
        duplicates = sorted({key_id for key_id in ids if ids.count(key_id) > 1})
        if duplicates:
            raise KeySpecError(
                "Encryption key ids must be unique across CONNECTIONS_ENCRYPTION_KEY and "
                f"CONNECTIONS_ENCRYPTION_KEY_FALLBACKS; repeated: {', '.join(duplicates)}."
            )

    def find(self, key_id: str) -> Key | None:
        """Return the key named ``key_id``, or ``None`` when this keyring lacks it."""
        for key in (self.current, *self.fallbacks):
            if key.key_id == key_id:
                return key
        return None

    @functools.cached_property
    def fingerprint_key(self) -> bytes:
        """Derive the HMAC key used for fingerprints, for that purpose only."""
        return hmac.new(self.current.material, _FINGERPRINT_INFO, hashlib.sha256).digest()


def keyring_from_settings(settings_obj: Any) -> Keyring:
    """Build a keyring from a settings object; raise :class:`KeySpecError` when malformed."""
    current_spec = getattr(settings_obj, "CONNECTIONS_ENCRYPTION_KEY", "") or ""
    if not current_spec:
        raise KeySpecError(f"CONNECTIONS_ENCRYPTION_KEY is not set. Expected {KEY_SPEC_FORM}.")
    current = parse_key_spec(current_spec, name="CONNECTIONS_ENCRYPTION_KEY")
    fallbacks = parse_key_list(
        getattr(settings_obj, "CONNECTIONS_ENCRYPTION_KEY_FALLBACKS", ()) or (),
        name="CONNECTIONS_ENCRYPTION_KEY_FALLBACKS",
    )
    return Keyring(current=current, fallbacks=fallbacks)


@functools.cache
def get_keyring() -> Keyring:
    """Return the keyring configured in settings, built on first use and cached."""
    from django.conf import settings

    return keyring_from_settings(settings)


@receiver(setting_changed)
def _reset_keyring(*, setting: str, **kwargs: object) -> None:
    if setting in {"CONNECTIONS_ENCRYPTION_KEY", "CONNECTIONS_ENCRYPTION_KEY_FALLBACKS"}:
        get_keyring.cache_clear()


# --- Stored values ---------------------------------------------------------


@dataclass(frozen=True)
class Binding:
    """Where a stored value lives: model label, field name and the row's UUID."""

    model: str
    field: str
    row: uuid.UUID

    @property
    def purpose(self) -> str:
        return f"{self.model}.{self.field}"

    def associated_data(self, key_id: str) -> bytes:
        return "\x1f".join((FORMAT, key_id, self.purpose, str(self.row))).encode()

    def describe(self, key_id: str | None) -> str:
        key = f"key id {key_id!r}" if key_id else "no readable key id"
        return f"{self.purpose} of row {self.row} ({key})"


class DecryptionError(Exception):
    """A stored value could not be decrypted. The message names the place, never data."""

    reason = "could not be decrypted"

    def __init__(self, binding: Binding, key_id: str | None) -> None:
        self.binding = binding
        self.key_id = key_id
        super().__init__(f"{binding.describe(key_id)}: {self.reason}.")


class UnknownKeyId(DecryptionError):
    reason = (
        "the key that encrypted it is not configured "
        "(add it to CONNECTIONS_ENCRYPTION_KEY_FALLBACKS)"
    )


class AuthenticationFailed(DecryptionError):
    reason = "authentication failed: the value was altered, or copied from another row or field"


class MalformedValue(DecryptionError):
    reason = f"the stored value is not in the {FORMAT}:<key-id>:<data> format"


@dataclass(frozen=True)
class Decrypted:
    """A decrypted secret and whether it was written under the current key."""

    secret: Secret
    key_id: str
    is_current: bool


def key_id_of(stored: str) -> str | None:
    """Return the key id a stored value names, or ``None`` when it is not ``enc1``."""
    parts = stored.split(":")
    if len(parts) != 3 or parts[0] != FORMAT or not KEY_ID_PATTERN.match(parts[1]):
        return None
    return parts[1]


def encrypt(plaintext: str | Secret, binding: Binding, *, keyring: Keyring | None = None) -> str:
    """Encrypt ``plaintext`` under the current key and return the stored form."""
    ring = keyring or get_keyring()
    key = ring.current
    value = plaintext.reveal() if isinstance(plaintext, Secret) else plaintext
    blob = crypto.encrypt(key.material, value.encode("utf-8"), binding.associated_data(key.key_id))
    encoded = base64.urlsafe_b64encode(blob).decode("ascii").rstrip("=")
    return f"{FORMAT}:{key.key_id}:{encoded}"


def decrypt(stored: str, binding: Binding, *, keyring: Keyring | None = None) -> Decrypted:
    """Decrypt a stored value bound to ``binding`` with the one key its prefix names."""
    ring = keyring or get_keyring()
    key_id = key_id_of(stored)
    if key_id is None:
        raise MalformedValue(binding, None)
    encoded = stored.split(":", 2)[2]
    if not encoded or not re.fullmatch(r"[A-Za-z0-9_-]+", encoded):
        raise MalformedValue(binding, key_id)
    try:
        blob = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
    except (binascii.Error, ValueError):
        raise MalformedValue(binding, key_id) from None
    key = ring.find(key_id)
    if key is None:
        raise UnknownKeyId(binding, key_id)
    try:
        plaintext = crypto.decrypt(key.material, blob, binding.associated_data(key_id))
    except crypto.MalformedCiphertext:
        raise MalformedValue(binding, key_id) from None
    except crypto.AuthenticationFailed:
        raise AuthenticationFailed(binding, key_id) from None
    try:
        text = plaintext.decode("utf-8")
    except UnicodeDecodeError:  # pragma: no cover - only reachable with a forged key
        raise MalformedValue(binding, key_id) from None
    return Decrypted(secret=Secret(text), key_id=key_id, is_current=key_id == ring.current.key_id)


def fingerprint(plaintext: str | Secret, *, keyring: Keyring | None = None) -> str:
    """Return a short non-reversible fingerprint such as ``K7Q2-9XF3``.

    An HMAC-SHA256 under a key derived from the current encryption key for
    this purpose only, cut to 40 bits: enough to tell two stored values apart,
    far too little to recover or confirm a strong secret offline.
    """
    ring = keyring or get_keyring()
    value = plaintext.reveal() if isinstance(plaintext, Secret) else plaintext
    digest = hmac.new(ring.fingerprint_key, value.encode("utf-8"), hashlib.sha256).digest()
    number = int.from_bytes(digest[:5], "big")
    chars = "".join(_FINGERPRINT_ALPHABET[(number >> shift) & 31] for shift in range(35, -1, -5))
    return f"{chars[:4]}-{chars[4:]}"
