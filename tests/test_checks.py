"""System checks for the keys and the shared cache: stable ids, clear messages, no key bytes."""

from __future__ import annotations

import base64
import io

import pytest
from django.core.checks import Tags, Warning, run_checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings

from connections.checks import check_encryption_keys, check_shared_cache

GOOD = "cur2:" + base64.b64encode(b"test-only-current-key-32-bytes!!").decode()
OLD = "old1:" + base64.b64encode(b"test-only-old-key-is-32-bytes!!!").decode()
SHORT_MATERIAL = base64.b64encode(b"sneaky-but-too-short").decode()


def ids(messages) -> list[str]:
    return [message.id for message in messages]


def test_configured_test_keys_pass():
    assert check_encryption_keys() == []


def test_registered_with_the_security_tag():
    with override_settings(CONNECTIONS_ENCRYPTION_KEY=""):
        assert "connections.E001" in ids(run_checks(tags=[Tags.security]))


def test_current_and_fallback_keys_pass():
    with override_settings(
        CONNECTIONS_ENCRYPTION_KEY=GOOD, CONNECTIONS_ENCRYPTION_KEY_FALLBACKS=[OLD]
    ):
        assert check_encryption_keys() == []


@pytest.mark.parametrize("value", ["", "   ", None])
def test_missing_current_key_is_e001(value):
    with override_settings(CONNECTIONS_ENCRYPTION_KEY=value):
        messages = check_encryption_keys()

    assert ids(messages) == ["connections.E001"]
    assert "CONNECTIONS_ENCRYPTION_KEY is not set" in messages[0].msg
    assert "os.urandom(32)" in (messages[0].hint or "")


@pytest.mark.parametrize(
    ("value", "expected_id"),
    [
        ("sneaky-no-colon", "connections.E002"),
        ("cur2:sneaky not base64!", "connections.E002"),
        (12345, "connections.E002"),
        ("-bad:" + base64.b64encode(b"k" * 32).decode(), "connections.E003"),
        ("k" * 40 + ":" + base64.b64encode(b"k" * 32).decode(), "connections.E003"),
        ("cur2:" + SHORT_MATERIAL, "connections.E004"),
        ("cur2:" + base64.b64encode(b"k" * 48).decode(), "connections.E004"),
    ],
)
def test_malformed_current_key_has_its_own_id(value, expected_id):
    with override_settings(CONNECTIONS_ENCRYPTION_KEY=value):
        messages = check_encryption_keys()

    assert ids(messages) == [expected_id]
    assert "CONNECTIONS_ENCRYPTION_KEY" in messages[0].msg
    assert "sneaky" not in messages[0].msg
    assert SHORT_MATERIAL not in messages[0].msg


def test_wrong_length_names_the_expected_size():
    with override_settings(CONNECTIONS_ENCRYPTION_KEY="cur2:" + SHORT_MATERIAL):
        (message,) = check_encryption_keys()

    assert "exactly 32 bytes, not 20" in message.msg


def test_each_malformed_fallback_is_reported_with_its_position():
    fallbacks = [OLD, "sneaky-no-colon", "old3:" + SHORT_MATERIAL]
    with override_settings(CONNECTIONS_ENCRYPTION_KEY_FALLBACKS=fallbacks):
        messages = check_encryption_keys()

    assert ids(messages) == ["connections.E005", "connections.E005"]
    assert "entry 2" in messages[0].msg
    assert "entry 3" in messages[1].msg
    assert "'old3'" in messages[1].msg
    for message in messages:
        assert "sneaky" not in message.msg
        assert SHORT_MATERIAL not in message.msg


def test_fallbacks_given_as_a_comma_separated_string_are_read():
    with override_settings(CONNECTIONS_ENCRYPTION_KEY_FALLBACKS=f"{OLD}, sneaky-no-colon"):
        assert ids(check_encryption_keys()) == ["connections.E005"]


def test_fallbacks_of_the_wrong_type_are_e005():
    with override_settings(CONNECTIONS_ENCRYPTION_KEY_FALLBACKS=42):
        assert ids(check_encryption_keys()) == ["connections.E005"]


def test_repeated_key_id_is_e006():
    same_id_other_key = "old1:" + base64.b64encode(b"test-only-another-key-32-bytes!!").decode()
    with override_settings(
        CONNECTIONS_ENCRYPTION_KEY=GOOD,
        CONNECTIONS_ENCRYPTION_KEY_FALLBACKS=[OLD, same_id_other_key],
    ):
        messages = check_encryption_keys()

    assert ids(messages) == ["connections.E006"]
    assert "repeated: old1" in messages[0].msg


def test_current_key_repeated_as_fallback_is_e006():
    with override_settings(
        CONNECTIONS_ENCRYPTION_KEY=GOOD, CONNECTIONS_ENCRYPTION_KEY_FALLBACKS=[GOOD]
    ):
        assert ids(check_encryption_keys()) == ["connections.E006"]


def test_every_problem_is_reported_at_once():
    with override_settings(
        CONNECTIONS_ENCRYPTION_KEY="cur2:" + SHORT_MATERIAL,
        CONNECTIONS_ENCRYPTION_KEY_FALLBACKS=["sneaky", OLD, OLD],
    ):
        assert ids(check_encryption_keys()) == [
            "connections.E004",
            "connections.E005",
            "connections.E006",
        ]


def test_check_command_fails_on_a_bad_key():
    with (
        override_settings(CONNECTIONS_ENCRYPTION_KEY="cur2:" + SHORT_MATERIAL),
        pytest.raises(SystemCheckError, match=r"connections\.E004"),
    ):
        call_command("check", stdout=io.StringIO(), stderr=io.StringIO())


def test_check_deploy_lists_each_problem_without_key_bytes():
    stderr = io.StringIO()
    with (
        override_settings(
            CONNECTIONS_ENCRYPTION_KEY="",
            CONNECTIONS_ENCRYPTION_KEY_FALLBACKS=["old3:" + SHORT_MATERIAL],
        ),
        pytest.raises(SystemCheckError) as excinfo,
    ):
        call_command("check", deploy=True, stdout=io.StringIO(), stderr=stderr)

    report = str(excinfo.value)
    assert "connections.E001" in report
    assert "connections.E005" in report
    assert SHORT_MATERIAL not in report


def test_check_deploy_is_quiet_about_good_keys():
    stdout, stderr = io.StringIO(), io.StringIO()
    with override_settings(
        CONNECTIONS_ENCRYPTION_KEY=GOOD, CONNECTIONS_ENCRYPTION_KEY_FALLBACKS=f"{OLD}"
    ):
        call_command("check", deploy=True, tags=[Tags.security], stdout=stdout, stderr=stderr)

    assert "connections." not in stdout.getvalue() + stderr.getvalue()


LOCMEM = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
DATABASE_CACHE = {
    "default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "c"}
}
REDIS = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "redis://127.0.0.1:6379/0",
    }
}


def test_per_process_cache_without_debug_is_w001():
    with override_settings(DEBUG=False, CACHES=LOCMEM):
        messages = check_shared_cache()

    assert ids(messages) == ["connections.W001"]
    assert isinstance(messages[0], Warning)
    assert "LocMemCache" in messages[0].msg
    assert "CACHE_URL=db://" in (messages[0].hint or "")
    assert "redis://" in (messages[0].hint or "")


@pytest.mark.parametrize(
    ("debug", "caches"),
    [(True, LOCMEM), (False, DATABASE_CACHE), (False, REDIS)],
    ids=["locmem-in-development", "database-cache", "redis"],
)
def test_shared_cache_or_development_passes(debug, caches):
    with override_settings(DEBUG=debug, CACHES=caches):
        assert check_shared_cache() == []


def test_shared_cache_check_runs_only_with_deploy():
    with override_settings(DEBUG=False, CACHES=LOCMEM):
        deploy = run_checks(tags=[Tags.caches], include_deployment_checks=True)
        plain = run_checks(tags=[Tags.caches])

    assert "connections.W001" in ids(deploy)
    assert "connections.W001" not in ids(plain)
