"""AES-256-GCM on bytes.

No Django here: this module knows keys, nonces and associated data, nothing of
settings, models or storage formats (see ``keyring.py`` for those).
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16


class CryptoError(Exception):
    """Base class for the errors of this module. Messages never carry key or data bytes."""


class InvalidKey(CryptoError):
    """The key is not 32 bytes long."""


class AuthenticationFailed(CryptoError):
    """The tag did not verify: wrong key, wrong associated data, or altered bytes."""


class MalformedCiphertext(CryptoError):
    """The blob is too short to hold a nonce and a tag."""


def _cipher(key: bytes) -> AESGCM:
    if len(key) != KEY_BYTES:
        raise InvalidKey(f"AES-256-GCM needs a {KEY_BYTES}-byte key, got {len(key)} bytes.")
    return AESGCM(key)


def _require_associated_data(associated_data: bytes) -> None:
    # Associated data binds a value to its place; encrypting without it would
    # make ciphertexts movable between rows and fields without detection.
    if not associated_data:
        raise ValueError("Associated data is required.")


def encrypt(
    key: bytes, plaintext: bytes, associated_data: bytes, *, nonce: bytes | None = None
) -> bytes:
    """Encrypt ``plaintext`` and return ``nonce || ciphertext || tag``.

    ``nonce`` exists for known-answer tests only; leave it out everywhere else
    so that every encryption draws a fresh random 96-bit nonce.
    """
    _require_associated_data(associated_data)
    cipher = _cipher(key)
    if nonce is None:
        nonce = os.urandom(NONCE_BYTES)
    elif len(nonce) != NONCE_BYTES:
        raise ValueError(f"The nonce must be {NONCE_BYTES} bytes.")
    return nonce + cipher.encrypt(nonce, plaintext, associated_data)


def decrypt(key: bytes, blob: bytes, associated_data: bytes) -> bytes:
    """Verify and decrypt ``nonce || ciphertext || tag`` produced by :func:`encrypt`."""
    _require_associated_data(associated_data)
    cipher = _cipher(key)
    if len(blob) < NONCE_BYTES + TAG_BYTES:
        raise MalformedCiphertext("The encrypted value is too short to be AES-256-GCM output.")
    nonce, body = blob[:NONCE_BYTES], blob[NONCE_BYTES:]
    try:
        return cipher.decrypt(nonce, body, associated_data)
    except InvalidTag:
        raise AuthenticationFailed("The encrypted value did not authenticate.") from None
