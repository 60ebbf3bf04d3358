"""AES-256-GCM on bytes.

No Django here: this module knows keys, nonces and associated data, nothing of
settings, models or storage formats (see ``keyring.py`` for those).
"""

from __future__ import annotations

import os
from typing import NoReturn

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


# Associated data binds a value to its place; encrypting without it would make
# ciphertexts movable between rows and fields without detection.
_AD_REQUIRED = "Associated data is required."


class Cipher:
    """One AES-256 key, ready to encrypt and decrypt many values.

    Building the underlying AESGCM object costs about as much as one
    encryption, so callers that hold a key for long (the keyring) keep one
    ``Cipher`` per key instead of calling the module functions.
    """

    __slots__ = ("_aead",)

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise InvalidKey(f"AES-256-GCM needs a {KEY_BYTES}-byte key, got {len(key)} bytes.")
        self._aead = AESGCM(key)

    def __repr__(self) -> str:
        return "Cipher(AES-256-GCM)"

    def __reduce_ex__(self, protocol: object) -> NoReturn:
        # A pickled cipher would carry the key to wherever the pickle goes.
        raise TypeError("Cipher objects cannot be pickled.")

    def encrypt(
        self, plaintext: bytes, associated_data: bytes, *, nonce: bytes | None = None
    ) -> bytes:
        """Encrypt ``plaintext`` and return ``nonce || ciphertext || tag``.

        ``nonce`` exists for known-answer tests only; leave it out everywhere
        else so that every encryption draws a fresh random 96-bit nonce.
        """
        if not associated_data:
            raise ValueError(_AD_REQUIRED)
        if nonce is None:
            nonce = os.urandom(NONCE_BYTES)
        elif len(nonce) != NONCE_BYTES:
            raise ValueError(f"The nonce must be {NONCE_BYTES} bytes.")
        return nonce + self._aead.encrypt(nonce, plaintext, associated_data)

    def decrypt(self, blob: bytes, associated_data: bytes) -> bytes:
        """Verify and decrypt ``nonce || ciphertext || tag`` produced by :meth:`encrypt`."""
        if not associated_data:
            raise ValueError(_AD_REQUIRED)
        if len(blob) < NONCE_BYTES + TAG_BYTES:
            raise MalformedCiphertext("The encrypted value is too short to be AES-256-GCM output.")
        try:
            return self._aead.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], associated_data)
        except InvalidTag:
            raise AuthenticationFailed("The encrypted value did not authenticate.") from None


def encrypt(
    key: bytes, plaintext: bytes, associated_data: bytes, *, nonce: bytes | None = None
) -> bytes:
    """Encrypt ``plaintext`` under ``key`` and return ``nonce || ciphertext || tag``."""
    return Cipher(key).encrypt(plaintext, associated_data, nonce=nonce)


def decrypt(key: bytes, blob: bytes, associated_data: bytes) -> bytes:
    """Verify and decrypt ``nonce || ciphertext || tag`` under ``key``."""
    return Cipher(key).decrypt(blob, associated_data)
