"""Encryption keys from settings, the stored-value format, encrypt/decrypt and fingerprints.

A stored value describes itself::

    enc1:<key-id>:<base64url(nonce || ciphertext || tag)>

and its associated data binds it to its place: the format, the key id, the
field's purpose string (``connections.Connection.api_key``) and the row's UUID.
A value copied to another row or field, or relabelled with another key id,
fails to authenticate. ``CONNECTIONS_ENCRYPTION_KEY`` encrypts;
``CONNECTIONS_ENCRYPTION_KEY_FALLBACKS`` only decrypt, like Django's
``SECRET_KEY_FALLBACKS``. A value is decrypted with the one key its prefix
names, never by trying every key in turn.

Models that keep secrets follow one convention, which
:func:`connections.rotation.rotate` relies on: a ``uid`` UUID field, and for
each secret ``<field>_encrypted`` (the stored value) and ``<field>_fingerprint``.
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
from typing import Any, NamedTuple

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.views.decorators.debug import sensitive_variables

from connections import crypto
from connections.sensitive import Secret

FORMAT = "enc1"
_KEY_ID = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,31}"
# \A and \Z rather than ^ and $: "$" also matches before a trailing newline.
KEY_ID_PATTERN = re.compile(rf"\A{_KEY_ID}\Z")
KEY_SPEC_FORM = "<key-id>:<base64 of 32 random bytes>"
KEY_SPEC_EXAMPLE = (
    "python -c \"import base64, os; print('key1:' + base64.b64encode(os.urandom(32)).decode())\""
)
_FINGERPRINT_INFO = b"okendo-connections/fingerprint/v1"
_CHECK_VALUE_INFO = b"okendo-connections/key-check-value/v1"
_CHECK_VALUE_LABEL = b"okendo-connections key check value"
_FINGERPRINT_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32: no I, L, O, U


class KeySpecError(ValueError):
    """A key setting does not have the form ``<key-id>:<base64 of 32 bytes>``.

    ``code`` says what is wrong, for the system checks: ``missing``, ``form``,
    ``key_id``, ``base64``, ``length`` or ``duplicate``.
    """

    def __init__(self, message: str, *, code: str = "form") -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Key:
    """One AES-256 key and the id that stored values name it by."""

    key_id: str
    material: bytes = field(repr=False)

    @functools.cached_property
    def cipher(self) -> crypto.Cipher:
        """Return this key's cipher, built once."""
        return crypto.Cipher(self.material)

    @functools.cached_property
    def associated_data_prefix(self) -> bytes:
        """Return ``format US key-id``, the start of every value's associated data under it."""
        return f"{FORMAT}\x1f{self.key_id}".encode()

    @functools.cached_property
    def check_value(self) -> str:
        """Return this key's check value: 64 hex digits that tell its material apart.

        HMAC-SHA256 over a fixed label, under a key derived from the material
        with HKDF-SHA256 (RFC 5869) for this purpose only. Stored per key id
        the first time the key encrypts, so a later configuration that gives
        the same id other material can be recognised. It reveals nothing of
        the key: HKDF and HMAC are one-way, and the label is public.
        """
        derived = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=_CHECK_VALUE_INFO
        ).derive(self.material)
        return hmac.new(derived, _CHECK_VALUE_LABEL, hashlib.sha256).hexdigest()

    def __reduce_ex__(self, protocol: object) -> Any:
        # Keys come from the environment and stay in this process.
        raise TypeError("Encryption keys cannot be pickled.")


def parse_key_spec(spec: str, *, name: str) -> Key:
    """Parse ``<key-id>:<base64 of 32 bytes>`` from the setting ``name``.

    Error messages name the setting and the expected form, never the value.
    """
    key_id, sep, encoded = spec.strip().partition(":")
    if not sep or not key_id or not encoded:
        raise KeySpecError(f"{name} must have the form {KEY_SPEC_FORM}.", code="form")
    if not KEY_ID_PATTERN.match(key_id):
        raise KeySpecError(
            f"{name}: the key id must be 1-32 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit.",
            code="key_id",
        )
    try:
        material = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise KeySpecError(
            f"{name} (key id {key_id!r}): the part after ':' is not valid base64.",
            code="base64",
        ) from None
    if len(material) != crypto.KEY_BYTES:
        raise KeySpecError(
            f"{name} (key id {key_id!r}): the key must decode to exactly "
            f"{crypto.KEY_BYTES} bytes, not {len(material)}.",
            code="length",
        )
    return Key(key_id=key_id, material=material)


def split_key_list(specs: object, *, name: str) -> list[str]:
    """Return the key specs of a setting given as a comma-separated string or a list."""
    if isinstance(specs, str):
        return [part.strip() for part in specs.split(",") if part.strip()]
    if isinstance(specs, list | tuple) and all(isinstance(spec, str) for spec in specs):
        return [spec for spec in specs if spec.strip()]
    raise KeySpecError(
        f"{name} must be a comma-separated string or a list of {KEY_SPEC_FORM}.", code="form"
    )


def parse_key_list(specs: str | list[str] | tuple[str, ...], *, name: str) -> tuple[Key, ...]:
    """Parse a comma-separated string (or a list) of key specs."""
    return tuple(parse_key_spec(spec, name=name) for spec in split_key_list(specs, name=name))


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
                f"CONNECTIONS_ENCRYPTION_KEY_FALLBACKS; repeated: {', '.join(duplicates)}.",
                code="duplicate",
            )

    @functools.cached_property
    def _by_id(self) -> dict[str, Key]:
        return {key.key_id: key for key in (self.current, *self.fallbacks)}

    def find(self, key_id: str) -> Key | None:
        """Return the key named ``key_id``, or ``None`` when this keyring lacks it."""
        return self._by_id.get(key_id)

    @functools.cached_property
    def fingerprint_key(self) -> bytes:
        """Derive the HMAC key used for fingerprints, for that purpose only."""
        return hmac.new(self.current.material, _FINGERPRINT_INFO, hashlib.sha256).digest()

    def __reduce_ex__(self, protocol: object) -> Any:
        raise TypeError("Encryption keys cannot be pickled.")


def keyring_from_settings(settings_obj: Any) -> Keyring:
    """Build a keyring from a settings object; raise :class:`KeySpecError` when malformed."""
    current_spec = getattr(settings_obj, "CONNECTIONS_ENCRYPTION_KEY", "") or ""
    if not isinstance(current_spec, str):
        raise KeySpecError(f"CONNECTIONS_ENCRYPTION_KEY must be a string: {KEY_SPEC_FORM}.")
    if not current_spec.strip():
        raise KeySpecError(
            f"CONNECTIONS_ENCRYPTION_KEY is not set. Expected {KEY_SPEC_FORM}.", code="missing"
        )
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

    @functools.cached_property
    def _place(self) -> bytes:
        return f"\x1f{self.model}.{self.field}\x1f{self.row}".encode()

    def associated_data(self, key_id: str) -> bytes:
        """Return ``format US key-id US purpose US row-uuid`` (US: the unit separator)."""
        return f"{FORMAT}\x1f{key_id}".encode() + self._place

    def associated_data_for(self, key: Key) -> bytes:
        """Return :meth:`associated_data` for ``key``, from its cached prefix (the hot path)."""
        return key.associated_data_prefix + self._place

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

    def __reduce__(self) -> tuple[Any, ...]:
        # The default rebuilds from the message alone, which __init__ does not take.
        return (type(self), (self.binding, self.key_id))


class UnknownKeyId(DecryptionError):
    reason = (
        "the key that encrypted it is not configured "
        "(add it to CONNECTIONS_ENCRYPTION_KEY_FALLBACKS)"
    )


class AuthenticationFailed(DecryptionError):
    reason = "authentication failed: the value was altered, or copied from another row or field"


class WrongKeyMaterial(DecryptionError):
    """The key configured under this id is not the one that encrypted the value.

    Raised instead of :class:`AuthenticationFailed` when the key id's stored
    check value (see :attr:`Key.check_value`) differs from the configured key's.
    """

    def __init__(self, binding: Binding, key_id: str | None) -> None:
        self.reason = (
            f"wrong key material for key id {key_id!r}: the key configured under this id is not "
            "the one that encrypted it (restore the original key for this id)"
        )
        super().__init__(binding, key_id)


class MalformedValue(DecryptionError):
    reason = f"the stored value is not in the {FORMAT}:<key-id>:<data> format"


class Decrypted(NamedTuple):
    """A decrypted secret and whether it was written under the current key."""

    secret: Secret
    key_id: str
    is_current: bool


_TO_URLSAFE = bytes.maketrans(b"+/", b"-_")
# Back to the standard alphabet; "+", "/" and "=" become "!", which strict decoding
# rejects: the stored form is unpadded base64url and nothing else.
_FROM_URLSAFE = bytes.maketrans(b"-_+/=", b"+/!!!")
_B64URL_VALUE = {
    char: value
    for value, char in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
}
# Base64 text whose length is 2 or 3 more than a multiple of 4 ends in a character
# with 4 or 2 spare low bits. Decoders ignore them, so a value with them set
# would decode to the same bytes: only the canonical spelling (zeros) is accepted.
_SPARE_BITS = {2: 0b1111, 3: 0b11}
_PADDING = {0: b"", 2: b"==", 3: b"="}


def _b64encode(blob: bytes) -> str:
    # binascii directly: the base64 module's wrappers cost as much as the cipher.
    return binascii.b2a_base64(blob, newline=False).translate(_TO_URLSAFE).rstrip(b"=").decode()


def _b64decode(encoded: str) -> bytes | None:
    """Decode canonical unpadded base64url, or return ``None`` for anything else."""
    remainder = len(encoded) & 3
    if remainder == 1 or not encoded:
        return None
    if remainder and _B64URL_VALUE.get(encoded[-1], 1) & _SPARE_BITS[remainder]:
        return None
    try:
        data = encoded.encode("ascii").translate(_FROM_URLSAFE)
        return binascii.a2b_base64(data + _PADDING[remainder], strict_mode=True)
    except (UnicodeEncodeError, binascii.Error):
        return None


def key_id_of(stored: str) -> str | None:
    """Return the key id a stored value names, or ``None`` when it is not ``enc1``."""
    parts = stored.split(":")
    if len(parts) != 3 or parts[0] != FORMAT or not KEY_ID_PATTERN.match(parts[1]):
        return None
    return parts[1]


@sensitive_variables()
def encrypt(plaintext: str | Secret, binding: Binding, *, keyring: Keyring | None = None) -> str:
    """Encrypt ``plaintext`` under the current key and return the stored form."""
    key = (keyring or get_keyring()).current
    value = plaintext.reveal() if isinstance(plaintext, Secret) else plaintext
    try:
        data = value.encode("utf-8")
    except UnicodeEncodeError:
        # The codec's own error would quote the text it could not encode.
        raise ValueError("The secret is not valid text (it has unpaired surrogates).") from None
    blob = key.cipher.encrypt(data, binding.associated_data_for(key))
    return f"{FORMAT}:{key.key_id}:{_b64encode(blob)}"


def decrypt(stored: str, binding: Binding, *, keyring: Keyring | None = None) -> Decrypted:
    """Decrypt a stored value bound to ``binding`` with the one key its prefix names.

    Every check that can raise runs before the plaintext exists, and nothing
    after it can raise, so no error report can show it from this frame; that
    is why this hot path goes without ``sensitive_variables`` (its callers that
    hold the result, such as the model, carry their own).
    """
    ring = keyring or get_keyring()
    parts = stored.split(":")
    if len(parts) != 3 or parts[0] != FORMAT:
        raise MalformedValue(binding, None)
    _, key_id, encoded = parts
    # Configured key ids are well-formed; only an unknown one needs the pattern.
    key = ring.find(key_id)
    if key is None and not KEY_ID_PATTERN.match(key_id):
        raise MalformedValue(binding, None)
    blob = _b64decode(encoded)
    if blob is None:
        raise MalformedValue(binding, key_id)
    if key is None:
        raise UnknownKeyId(binding, key_id)
    try:
        plaintext = key.cipher.decrypt(blob, binding.associated_data_for(key))
    except crypto.MalformedCiphertext:
        raise MalformedValue(binding, key_id) from None
    except crypto.AuthenticationFailed:
        raise AuthenticationFailed(binding, key_id) from None
    # Authentic bytes are the UTF-8 that encrypt() wrote; only someone holding
    # the key could forge others, and "replace" keeps even those from raising.
    return Decrypted(Secret(plaintext.decode("utf-8", "replace")), key_id, key is ring.current)


@sensitive_variables()
def fingerprint(plaintext: str | Secret, *, keyring: Keyring | None = None) -> str:
    """Return a short non-reversible fingerprint such as ``K7Q2-9XF3``.

    An HMAC-SHA256 under a key derived from the current encryption key for
    this purpose only, cut to 40 bits: enough to tell two stored values apart,
    far too little to recover or confirm a strong secret offline. Because the
    derivation key is the current encryption key, fingerprints change when the
    key is rotated; :func:`connections.rotation.rotate` recomputes them with the new key.
    """
    ring = keyring or get_keyring()
    value = plaintext.reveal() if isinstance(plaintext, Secret) else plaintext
    digest = hmac.new(
        ring.fingerprint_key, value.encode("utf-8", "surrogatepass"), hashlib.sha256
    ).digest()
    number = int.from_bytes(digest[:5], "big")
    chars = "".join(_FINGERPRINT_ALPHABET[(number >> shift) & 31] for shift in range(35, -1, -5))
    return f"{chars[:4]}-{chars[4:]}"
