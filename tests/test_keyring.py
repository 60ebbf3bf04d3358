"""Keys from settings, the self-describing stored format, binding, and fingerprints."""

from __future__ import annotations

import base64
import hashlib
import hmac
import pickle
import re
import uuid

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.test import override_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connections import keyring
from connections.keyring import (
    AuthenticationFailed,
    Binding,
    DecryptionError,
    Key,
    Keyring,
    KeySpecError,
    MalformedValue,
    UnknownKeyId,
)
from connections.sensitive import Secret
from tests.factories import fake_key
from tests.factories import key_spec as spec

SECRET = "sk_test_NOT_A_REAL_KEY_0000000001"
MODEL = "connections.Connection"


OLD = fake_key("old1")
CURRENT = fake_key("cur2")
OTHER = fake_key("other3")
RING = Keyring(current=CURRENT, fallbacks=(OLD,))
ROW = uuid.UUID("5b0c5a62-8e6e-4f0e-9d55-0d6c0b1f2a3c")
BINDING = Binding(model=MODEL, field="api_key", row=ROW)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def expected_ad(key_id: str, field: str = "api_key", row: uuid.UUID = ROW) -> bytes:
    # Written out by hand, not through Binding, so the format is pinned independently.
    return f"enc1\x1f{key_id}\x1f{MODEL}.{field}\x1f{row}".encode()


def forbidden_fragments(stored: str, key: Key = CURRENT, plaintext: str = SECRET) -> list[str]:
    """Return spellings of secret material that must never appear in a message."""
    encoded = stored.rsplit(":", 1)[-1]
    return [
        plaintext,
        encoded,
        encoded[:16],
        encoded[-16:],
        unb64url(encoded).hex(),
        base64.b64encode(key.material).decode(),
        key.material.hex(),
        key.material.decode("latin-1"),
    ]


# --- Known answers and round trips ---------------------------------------------


def test_decrypt_reads_value_built_by_hand_with_raw_aesgcm():
    nonce = bytes.fromhex("000102030405060708090a0b")
    body = AESGCM(CURRENT.material).encrypt(nonce, SECRET.encode(), expected_ad("cur2"))
    stored = f"enc1:cur2:{b64url(nonce + body)}"

    result = keyring.decrypt(stored, BINDING, keyring=RING)

    assert result.secret.reveal() == SECRET
    assert result.key_id == "cur2"
    assert result.is_current is True


def test_encrypt_writes_format_that_raw_aesgcm_reads():
    stored = keyring.encrypt(SECRET, BINDING, keyring=RING)

    prefix, key_id, encoded = stored.split(":")
    blob = unb64url(encoded)
    plaintext = AESGCM(CURRENT.material).decrypt(blob[:12], blob[12:], expected_ad("cur2"))
    assert (prefix, key_id) == ("enc1", "cur2")
    assert re.fullmatch(r"[A-Za-z0-9_-]+", encoded)
    assert plaintext.decode() == SECRET


@pytest.mark.parametrize("plaintext", [SECRET, "p", "pässwörd-测试-🔑", "x" * 4096])
def test_round_trip_returns_plaintext_as_secret(plaintext):
    stored = keyring.encrypt(plaintext, BINDING, keyring=RING)

    result = keyring.decrypt(stored, BINDING, keyring=RING)

    assert isinstance(result.secret, Secret)
    assert result.secret.reveal() == plaintext
    if len(plaintext) > 8:  # a single letter may occur in base64 by chance
        assert plaintext not in stored


def test_encrypt_accepts_secret_as_well_as_text():
    stored = keyring.encrypt(Secret(SECRET), BINDING, keyring=RING)

    assert keyring.decrypt(stored, BINDING, keyring=RING).secret.reveal() == SECRET


def test_same_plaintext_encrypts_differently_each_time():
    assert keyring.encrypt(SECRET, BINDING, keyring=RING) != keyring.encrypt(
        SECRET, BINDING, keyring=RING
    )


def test_encrypt_uses_current_key_and_fallback_still_decrypts():
    old_ring = Keyring(current=OLD)
    written_before = keyring.encrypt(SECRET, BINDING, keyring=old_ring)

    result = keyring.decrypt(written_before, BINDING, keyring=RING)

    assert keyring.key_id_of(keyring.encrypt(SECRET, BINDING, keyring=RING)) == "cur2"
    assert result.secret.reveal() == SECRET
    assert result.key_id == "old1"
    assert result.is_current is False


def test_encrypt_refuses_unpaired_surrogate_without_echoing_it():
    with pytest.raises(ValueError, match="not valid text") as excinfo:
        keyring.encrypt("sk_test_\ud800_NOT_REAL", BINDING, keyring=RING)

    assert "sk_test" not in str(excinfo.value)


# --- Tampering -------------------------------------------------------------------


def test_decrypt_rejects_value_copied_to_another_row():
    stored = keyring.encrypt(SECRET, BINDING, keyring=RING)
    other_row = Binding(model=MODEL, field="api_key", row=uuid.uuid4())

    with pytest.raises(AuthenticationFailed):
        keyring.decrypt(stored, other_row, keyring=RING)


def test_decrypt_rejects_value_copied_to_another_field():
    stored = keyring.encrypt(SECRET, BINDING, keyring=RING)
    password = Binding(model=MODEL, field="password", row=ROW)

    with pytest.raises(AuthenticationFailed):
        keyring.decrypt(stored, password, keyring=RING)


def test_decrypt_rejects_value_copied_to_another_model():
    stored = keyring.encrypt(SECRET, BINDING, keyring=RING)

    with pytest.raises(AuthenticationFailed):
        keyring.decrypt(
            stored, Binding(model="other.Model", field="api_key", row=ROW), keyring=RING
        )


def test_decrypt_rejects_key_id_edited_to_another_configured_key():
    # The old key is configured too; relabelling must not make it try that key.
    stored = keyring.encrypt(SECRET, BINDING, keyring=RING).replace(":cur2:", ":old1:")

    with pytest.raises(AuthenticationFailed) as excinfo:
        keyring.decrypt(stored, BINDING, keyring=RING)

    assert excinfo.value.key_id == "old1"


def test_decrypt_never_tries_other_keys():
    # Encrypted under the old key's material but labelled with the current id:
    # trying every key in turn would find the old one; naming one key must not.
    nonce = bytes(12)
    blob = AESGCM(OLD.material).encrypt(nonce, SECRET.encode(), expected_ad("cur2"))
    stored = f"enc1:cur2:{b64url(nonce + blob)}"

    with pytest.raises(AuthenticationFailed):
        keyring.decrypt(stored, BINDING, keyring=RING)


def test_decrypt_rejects_key_id_edited_to_unknown_key():
    stored = keyring.encrypt(SECRET, BINDING, keyring=RING).replace(":cur2:", ":gone9:")

    with pytest.raises(UnknownKeyId, match="gone9") as excinfo:
        keyring.decrypt(stored, BINDING, keyring=RING)

    assert "CONNECTIONS_ENCRYPTION_KEY_FALLBACKS" in str(excinfo.value)


def test_decrypt_rejects_value_under_key_removed_from_settings():
    stored = keyring.encrypt(SECRET, BINDING, keyring=Keyring(current=OTHER))

    with pytest.raises(UnknownKeyId):
        keyring.decrypt(stored, BINDING, keyring=RING)


@pytest.mark.parametrize("position", [0, 5, 11, 12, 40, -16, -1])
def test_decrypt_rejects_flipped_bit(position):
    prefix, encoded = keyring.encrypt(SECRET, BINDING, keyring=RING).rsplit(":", 1)
    blob = bytearray(unb64url(encoded))
    blob[position] ^= 0x04

    with pytest.raises(AuthenticationFailed):
        keyring.decrypt(f"{prefix}:{b64url(bytes(blob))}", BINDING, keyring=RING)


@pytest.mark.parametrize("drop_bytes", [1, 3, 16, 30])
def test_decrypt_rejects_truncated_blob(drop_bytes):
    prefix, encoded = keyring.encrypt(SECRET, BINDING, keyring=RING).rsplit(":", 1)
    truncated = unb64url(encoded)[:-drop_bytes]

    with pytest.raises((AuthenticationFailed, MalformedValue)):
        keyring.decrypt(f"{prefix}:{b64url(truncated)}", BINDING, keyring=RING)


def test_decrypt_rejects_blob_too_short_to_hold_nonce_and_tag():
    with pytest.raises(MalformedValue):
        keyring.decrypt(f"enc1:cur2:{b64url(bytes(27))}", BINDING, keyring=RING)


@pytest.mark.parametrize("cut", [1, 2, 5, 60])
def test_decrypt_rejects_truncated_text(cut):
    stored = keyring.encrypt(SECRET, BINDING, keyring=RING)

    with pytest.raises((AuthenticationFailed, MalformedValue)):
        keyring.decrypt(stored[:-cut], BINDING, keyring=RING)


@pytest.mark.parametrize(
    "stored",
    [
        SECRET,  # a plaintext that never went through encrypt()
        "",
        "enc1",
        "enc1:cur2",
        "enc1:cur2:",
        "enc2:cur2:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "enc1::AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "enc1:-bad:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "enc1:cur2\n:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "enc1:cur2:AAAA:AAAA",
        "enc1:cur2:AAAAAAAAAAAAAAAAAAAA+AAAAAAAAAAAAAAAAAAA",
        "enc1:cur2:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        "enc1:cur2:AAAAAAAAAAAAAAAAAAAA AAAAAAAAAAAAAAAAAAA",
        "enc1:cur2:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAé",
        "ENC1:cur2:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    ],
)
def test_decrypt_rejects_malformed_value(stored):
    with pytest.raises(MalformedValue) as excinfo:
        keyring.decrypt(stored, BINDING, keyring=RING)

    assert SECRET not in str(excinfo.value)


def test_decrypt_rejects_base64_with_spare_bits_set():
    # 28 + 5 = 33 bytes -> 44 characters, no spare bits; 28 + 4 = 32 bytes -> 43
    # characters whose last one carries 2 spare bits that decoders ignore.
    stored = keyring.encrypt("four", BINDING, keyring=RING)
    encoded = stored.rsplit(":", 1)[1]
    assert len(encoded) % 4 == 3
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    spare_set = alphabet[alphabet.index(encoded[-1]) | 1]
    sneaky = stored[:-1] + spare_set
    assert unb64url(sneaky.rsplit(":", 1)[1]) == unb64url(encoded)  # same bytes...

    with pytest.raises(MalformedValue):  # ...still refused
        keyring.decrypt(sneaky, BINDING, keyring=RING)


ERRORS = (UnknownKeyId, AuthenticationFailed, MalformedValue)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    plaintext=st.text(min_size=1, max_size=64),
    position=st.integers(min_value=0),
    replacement=st.integers(min_value=0, max_value=255),
)
def test_any_single_byte_change_fails_with_a_specific_error(plaintext, position, replacement):
    stored = keyring.encrypt(plaintext, BINDING, keyring=RING).encode("ascii")
    position %= len(stored)
    if stored[position] == replacement:
        replacement = (replacement + 1) % 256
    changed = stored[:position] + bytes([replacement]) + stored[position + 1 :]

    with pytest.raises(ERRORS):
        keyring.decrypt(changed.decode("latin-1"), BINDING, keyring=RING)


@settings(max_examples=200, deadline=None)
@given(stored=st.text(max_size=120))
def test_arbitrary_text_never_decrypts_and_fails_with_a_specific_error(stored):
    with pytest.raises(ERRORS):
        keyring.decrypt(stored, BINDING, keyring=RING)


@settings(max_examples=100, deadline=None)
@given(
    plaintext=st.text(min_size=1, max_size=40),
    field=st.sampled_from(["api_key", "password"]),
    other_field=st.sampled_from(["api_key", "password"]),
)
def test_swaps_between_rows_and_fields_fail(plaintext, field, other_field):
    here = Binding(model=MODEL, field=field, row=uuid.uuid4())
    there = Binding(model=MODEL, field=other_field, row=uuid.uuid4())
    stored = keyring.encrypt(plaintext, here, keyring=RING)

    with pytest.raises(AuthenticationFailed):
        keyring.decrypt(stored, there, keyring=RING)
    if field != other_field:
        with pytest.raises(AuthenticationFailed):
            keyring.decrypt(
                stored, Binding(model=MODEL, field=other_field, row=here.row), keyring=RING
            )


# --- Messages ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make_stored", "decrypt_with", "error"),
    [
        (
            lambda: keyring.encrypt(SECRET, BINDING, keyring=Keyring(current=OTHER)),
            RING,
            UnknownKeyId,
        ),
        (lambda: keyring.encrypt(SECRET, BINDING, keyring=RING), Keyring(current=CURRENT), None),
        (
            lambda: keyring.encrypt(SECRET, Binding(MODEL, "password", ROW), keyring=RING),
            RING,
            AuthenticationFailed,
        ),
        (
            lambda: (
                "enc1:cur2:"
                + b64url(unb64url(keyring.encrypt(SECRET, BINDING, keyring=RING)[10:])[:-3])
            ),
            RING,
            AuthenticationFailed,
        ),
    ],
)
def test_error_message_names_place_and_key_but_no_secret_material(make_stored, decrypt_with, error):
    stored = make_stored()
    if error is None:  # sanity: the same value decrypts in its own place
        assert keyring.decrypt(stored, BINDING, keyring=decrypt_with).secret.reveal() == SECRET
        return
    with pytest.raises(error) as excinfo:
        keyring.decrypt(stored, BINDING, keyring=decrypt_with)

    message = str(excinfo.value)
    assert "connections.Connection" in message
    assert "api_key" in message
    assert str(ROW) in message
    assert f"key id '{keyring.key_id_of(stored)}'" in message
    everything = f"{message} {excinfo.value!r} {excinfo.value.args!r}"
    for key in (CURRENT, OLD, OTHER):
        for fragment in forbidden_fragments(stored, key=key):
            assert fragment not in everything
    # No chained exception that could carry the cipher library's view of the data.
    assert excinfo.value.__cause__ is None
    assert excinfo.value.__context__ is None or excinfo.value.__suppress_context__


def test_decryption_errors_survive_pickling():
    error = UnknownKeyId(BINDING, "gone9")

    copy = pickle.loads(pickle.dumps(error))  # noqa: S301 - our own bytes

    assert type(copy) is UnknownKeyId
    assert str(copy) == str(error)
    assert copy.binding == BINDING
    assert copy.key_id == "gone9"


def test_all_specific_errors_are_decryption_errors():
    assert all(issubclass(error, DecryptionError) for error in ERRORS)


def test_key_id_of_reads_only_well_formed_prefixes():
    assert keyring.key_id_of("enc1:cur2:AAAA") == "cur2"
    assert keyring.key_id_of("enc1:cur2\n:AAAA") is None
    assert keyring.key_id_of(SECRET) is None
    assert keyring.key_id_of("") is None


# --- Keys from settings -----------------------------------------------------------


def test_parse_key_spec_reads_id_and_32_bytes():
    key = keyring.parse_key_spec(spec(CURRENT), name="X")

    assert key == CURRENT


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("no-colon-at-all", "form"),
        (":" + base64.b64encode(b"k" * 32).decode(), "form"),
        ("k1:", "form"),
        ("-k1:" + base64.b64encode(b"k" * 32).decode(), "key_id"),
        ("k" * 33 + ":" + base64.b64encode(b"k" * 32).decode(), "key_id"),
        ("k1\n:" + base64.b64encode(b"k" * 32).decode(), "key_id"),
        ("k1:not base64 sneaky-value!!", "base64"),
        ("k1:" + base64.urlsafe_b64encode(b"\xff" * 32).decode(), "base64"),
        ("k1:" + base64.b64encode(b"sneaky-short").decode(), "length"),
        ("k1:" + base64.b64encode(b"s" * 33).decode(), "length"),
    ],
)
def test_parse_key_spec_rejects_malformed_key_without_echoing_it(value, code):
    with pytest.raises(KeySpecError) as excinfo:
        keyring.parse_key_spec(value, name="CONNECTIONS_ENCRYPTION_KEY")

    assert excinfo.value.code == code
    assert "CONNECTIONS_ENCRYPTION_KEY" in str(excinfo.value)
    assert "sneaky" not in str(excinfo.value)
    assert value.partition(":")[2] not in str(excinfo.value) or not value.partition(":")[2]


def test_parse_key_list_reads_string_or_list():
    assert keyring.parse_key_list(f"{spec(OLD)}, {spec(OTHER)} ,", name="F") == (OLD, OTHER)
    assert keyring.parse_key_list([spec(OLD), spec(OTHER)], name="F") == (OLD, OTHER)
    assert keyring.parse_key_list("", name="F") == ()


def test_keyring_refuses_repeated_key_ids():
    with pytest.raises(KeySpecError, match="repeated: cur2") as excinfo:
        Keyring(current=CURRENT, fallbacks=(OLD, fake_key("cur2")))

    assert excinfo.value.code == "duplicate"


def test_keyring_from_settings_requires_current_key():
    class Empty:
        CONNECTIONS_ENCRYPTION_KEY = ""

    with pytest.raises(KeySpecError, match="not set") as excinfo:
        keyring.keyring_from_settings(Empty)

    assert excinfo.value.code == "missing"


def test_get_keyring_reads_test_settings_and_caches():
    assert keyring.get_keyring() is keyring.get_keyring()
    assert keyring.get_keyring().current.key_id == "test1"


def test_setting_changed_resets_cached_keyring():
    before = keyring.get_keyring()

    with override_settings(CONNECTIONS_ENCRYPTION_KEY=spec(CURRENT)):
        during = keyring.get_keyring()
        assert during.current == CURRENT
        with override_settings(CONNECTIONS_ENCRYPTION_KEY_FALLBACKS=[spec(OLD)]):
            assert keyring.get_keyring().fallbacks == (OLD,)
        assert keyring.get_keyring().fallbacks == ()

    assert keyring.get_keyring().current == before.current
    assert keyring.get_keyring() is not during


def test_keys_hide_material_and_refuse_pickling():
    text = f"{CURRENT!r} {RING!r}"

    assert "cur2" in text
    for fragment in (CURRENT.material.hex(), base64.b64encode(CURRENT.material).decode()):
        assert fragment not in text
    assert repr(CURRENT.material) not in text
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(CURRENT)
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(RING)


# --- Fingerprints -------------------------------------------------------------------


def test_fingerprint_is_stable_for_the_same_value():
    assert keyring.fingerprint(SECRET, keyring=RING) == keyring.fingerprint(
        Secret(SECRET), keyring=RING
    )


def test_fingerprint_differs_for_different_values():
    values = [f"sk_test_NOT_A_REAL_KEY_{n:010d}" for n in range(500)]

    assert len({keyring.fingerprint(value, keyring=RING) for value in values}) == len(values)


def test_fingerprint_is_short_crockford_base32():
    assert re.fullmatch(
        r"[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}", keyring.fingerprint(SECRET, keyring=RING)
    )


@pytest.mark.parametrize(
    "secret",
    ["sk_test_not_a_real_key_lowercase_only", "abcd", "password-password", "zzzzzzzzzzzzzzzz"],
)
def test_fingerprint_contains_no_characters_of_the_secret(secret):
    # Lower-case secrets against an upper-case alphabet: any character in common
    # (other than the separator) would mean the fingerprint quotes the secret.
    fingerprint = keyring.fingerprint(secret, keyring=RING)

    assert not set(fingerprint.replace("-", "")) & set(secret)


def test_fingerprint_of_secrets_sharing_their_ends_differ():
    first = keyring.fingerprint("sk_test_AAAA_same_ending_1234", keyring=RING)
    second = keyring.fingerprint("sk_test_BBBB_same_ending_1234", keyring=RING)

    assert first != second
    assert "1234" not in first


def test_fingerprint_is_keyed_not_a_plain_hash():
    digest = hashlib.sha256(SECRET.encode()).hexdigest().upper()
    under_other_key = keyring.fingerprint(SECRET, keyring=Keyring(current=OTHER))
    fingerprint = keyring.fingerprint(SECRET, keyring=RING)

    assert fingerprint != under_other_key
    assert fingerprint.replace("-", "")[:4] not in digest[:8]


def test_fingerprint_key_is_derived_not_the_encryption_key():
    assert RING.fingerprint_key != CURRENT.material
    assert len(RING.fingerprint_key) == 32


def test_cached_associated_data_matches_the_documented_layout():
    key = Key(key_id="k1", material=bytes(32))
    binding = Binding(model="connections.Connection", field="api_key", row=uuid.UUID(int=7))

    expected = (
        b"enc1\x1fk1\x1fconnections.Connection.api_key\x1f00000000-0000-0000-0000-000000000007"
    )
    assert binding.associated_data_for(key) == expected
    assert binding.associated_data("k1") == expected


# --- Key check values ------------------------------------------------------------------


def test_check_value_is_an_hmac_under_an_hkdf_key_never_the_key():
    key = fake_key("kcv1")
    derived = HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=None,
        info=b"okendo-connections/key-check-value/v1",
    ).derive(key.material)
    expected = hmac.new(derived, b"okendo-connections key check value", hashlib.sha256).hexdigest()

    assert key.check_value == expected
    assert re.fullmatch(r"[0-9a-f]{64}", key.check_value)
    assert key.material.hex() not in key.check_value
    assert base64.b64encode(key.material).decode() not in key.check_value


def test_check_value_follows_the_material_not_the_id():
    same = Key(key_id="renamed", material=fake_key("kcv1").material)
    other = Key(key_id="kcv1", material=fake_key("kcv2").material)

    assert same.check_value == fake_key("kcv1").check_value
    assert other.check_value != fake_key("kcv1").check_value


def test_wrong_key_material_error_names_the_key_id_and_not_tampering():
    binding = Binding("connections.Connection", "api_key", uuid.uuid4())

    message = str(keyring.WrongKeyMaterial(binding, "kcv1"))

    assert "wrong key material for key id 'kcv1'" in message
    assert "altered" not in message
    copy = pickle.loads(pickle.dumps(keyring.WrongKeyMaterial(binding, "kcv1")))  # noqa: S301
    assert str(copy) == message
