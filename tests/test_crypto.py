"""AES-256-GCM on bytes: known answers, fresh nonces, required associated data."""

from __future__ import annotations

import pickle

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from connections import crypto

# McGrew & Viega, "The Galois/Counter Mode of Operation (GCM)", test case 16
# (AES-256, 96-bit IV, with associated data) — the published vector NIST's
# GCM validation also uses.
GCM16_KEY = bytes.fromhex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308")
GCM16_IV = bytes.fromhex("cafebabefacedbaddecaf888")
GCM16_PLAINTEXT = bytes.fromhex(
    "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
    "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39"
)
GCM16_AAD = bytes.fromhex("feedfacedeadbeeffeedfacedeadbeefabaddad2")
GCM16_CIPHERTEXT = bytes.fromhex(
    "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
    "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662"
)
GCM16_TAG = bytes.fromhex("76fc6ece0f4e1768cddf8853bb2d551b")

KEY = b"test-only-key-not-a-real-secret!"
AD = b"tests.crypto\x1frow-1"
PLAINTEXT = b"sk_test_NOT_A_REAL_KEY_000000001"


def test_encrypt_matches_published_gcm_vector():
    blob = crypto.encrypt(GCM16_KEY, GCM16_PLAINTEXT, GCM16_AAD, nonce=GCM16_IV)

    assert blob == GCM16_IV + GCM16_CIPHERTEXT + GCM16_TAG


def test_decrypt_accepts_published_gcm_vector():
    blob = GCM16_IV + GCM16_CIPHERTEXT + GCM16_TAG

    assert crypto.decrypt(GCM16_KEY, blob, GCM16_AAD) == GCM16_PLAINTEXT


def test_decrypt_reads_what_raw_aesgcm_wrote():
    nonce = bytes(range(12))
    written_by_library = nonce + AESGCM(KEY).encrypt(nonce, PLAINTEXT, AD)

    assert crypto.decrypt(KEY, written_by_library, AD) == PLAINTEXT


def test_round_trip_returns_the_plaintext():
    cipher = crypto.Cipher(KEY)

    assert cipher.decrypt(cipher.encrypt(PLAINTEXT, AD), AD) == PLAINTEXT


def test_round_trip_of_empty_plaintext():
    assert crypto.decrypt(KEY, crypto.encrypt(KEY, b"", AD), AD) == b""


def test_every_encryption_draws_a_fresh_nonce():
    blobs = [crypto.encrypt(KEY, PLAINTEXT, AD) for _ in range(200)]
    nonces = {blob[: crypto.NONCE_BYTES] for blob in blobs}

    assert len(nonces) == len(blobs)
    assert len({blob[crypto.NONCE_BYTES :] for blob in blobs}) == len(blobs)


def test_blob_is_nonce_ciphertext_and_tag():
    blob = crypto.encrypt(KEY, PLAINTEXT, AD)

    assert len(blob) == crypto.NONCE_BYTES + len(PLAINTEXT) + crypto.TAG_BYTES


@pytest.mark.parametrize("associated_data", [b"", None])
def test_encrypt_requires_associated_data(associated_data):
    with pytest.raises(ValueError, match="Associated data is required"):
        crypto.encrypt(KEY, PLAINTEXT, associated_data)


def test_decrypt_requires_associated_data():
    blob = crypto.encrypt(KEY, PLAINTEXT, AD)

    with pytest.raises(ValueError, match="Associated data is required"):
        crypto.decrypt(KEY, blob, b"")


def test_decrypt_rejects_other_associated_data():
    blob = crypto.encrypt(KEY, PLAINTEXT, AD)

    with pytest.raises(crypto.AuthenticationFailed):
        crypto.decrypt(KEY, blob, AD + b"2")


def test_decrypt_rejects_other_key():
    blob = crypto.encrypt(KEY, PLAINTEXT, AD)

    with pytest.raises(crypto.AuthenticationFailed):
        crypto.decrypt(b"another-test-key-not-a-real-one!", blob, AD)


@pytest.mark.parametrize("position", [0, 11, 12, 20, -16, -1])
def test_decrypt_rejects_flipped_bit(position):
    blob = bytearray(crypto.encrypt(KEY, PLAINTEXT, AD))
    blob[position] ^= 0x01

    with pytest.raises(crypto.AuthenticationFailed):
        crypto.decrypt(KEY, bytes(blob), AD)


def test_decrypt_rejects_truncated_tag():
    blob = crypto.encrypt(KEY, PLAINTEXT, AD)

    with pytest.raises(crypto.AuthenticationFailed):
        crypto.decrypt(KEY, blob[:-1], AD)


@pytest.mark.parametrize("length", [0, 1, crypto.NONCE_BYTES + crypto.TAG_BYTES - 1])
def test_decrypt_rejects_blob_too_short_for_nonce_and_tag(length):
    with pytest.raises(crypto.MalformedCiphertext):
        crypto.decrypt(KEY, bytes(length), AD)


@pytest.mark.parametrize("length", [0, 16, 24, 31, 33])
def test_cipher_refuses_key_that_is_not_32_bytes(length):
    with pytest.raises(crypto.InvalidKey, match=f"got {length} bytes"):
        crypto.Cipher(b"k" * length)


def test_fixed_nonce_must_be_96_bits():
    with pytest.raises(ValueError, match="12 bytes"):
        crypto.encrypt(KEY, PLAINTEXT, AD, nonce=b"short")


def test_errors_carry_no_key_or_data_bytes():
    blob = crypto.encrypt(KEY, PLAINTEXT, AD)
    with pytest.raises(crypto.AuthenticationFailed) as excinfo:
        crypto.decrypt(KEY, blob[:-1] + bytes([blob[-1] ^ 1]), AD)

    text = f"{excinfo.value!s} {excinfo.value!r} {excinfo.value.args!r}"
    for fragment in (KEY, PLAINTEXT, blob, KEY.hex().encode(), blob.hex().encode()):
        assert fragment.decode("latin-1") not in text
    assert excinfo.value.__cause__ is None
    assert excinfo.value.__suppress_context__


def test_cipher_hides_its_key_and_refuses_pickling():
    cipher = crypto.Cipher(KEY)

    assert repr(cipher) == "Cipher(AES-256-GCM)"
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(cipher)
