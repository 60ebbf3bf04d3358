"""System checks for the keys, the shared cache and the Okendo address: stable ids."""

from __future__ import annotations

import base64
import io

import pytest
from django.core.checks import ERROR, Tags, Warning, run_checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings

from connections.checks import (
    check_encryption_keys,
    check_key_check_values,
    check_okendo_base_url,
    check_shared_cache,
)
from tests.factories import API_KEY, USER_ID, save_connection

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


# --- OKENDO_API_BASE_URL (connections.E011) ---------------------------------------------

REFUSED_BASE_URLS = [
    "http://api.okendo.io",  # issue 12's case: the key would travel in clear
    "http://10.0.0.5:8080",
    "http://localhost.example.com",
    "https://user:NOT-A-REAL-PASSWORD@api.okendo.io",
    "https://token@api.okendo.io",
    "https://api.okendo.io/enterprise",
    "https://api.okendo.io/?key=1",
    "https://api.okendo.io?",
    "https://api.okendo.io#top",
    "https://api.okendo.io:99999",
    "ftp://api.okendo.io",
    "api.okendo.io",
    "https://",
]
ACCEPTED_BASE_URLS = [
    "https://api.okendo.io",
    "https://api.okendo.io/",
    "https://api.okendo.io:8443",
    "http://127.0.0.1:9",
    "http://127.8.9.10",
    "http://[::1]:8000",
    "http://localhost:8000",
    "http://LOCALHOST",
]


@pytest.mark.parametrize("base_url", REFUSED_BASE_URLS)
def test_base_url_that_may_not_receive_credentials_is_e011_with_debug_off(base_url):
    with override_settings(OKENDO_API_BASE_URL=base_url, DEBUG=False):
        errors = [m for m in run_checks(tags=[Tags.security]) if m.id == "connections.E011"]

    assert [error.level for error in errors] == [ERROR]
    assert "OKENDO_API_BASE_URL" in errors[0].msg
    assert "NOT-A-REAL-PASSWORD" not in errors[0].msg + str(errors[0].hint)


@pytest.mark.parametrize("base_url", ACCEPTED_BASE_URLS)
def test_https_and_loopback_base_urls_pass(base_url):
    with override_settings(OKENDO_API_BASE_URL=base_url, DEBUG=False):
        assert check_okendo_base_url() == []


def test_plain_http_to_another_host_is_allowed_while_debugging_but_credentials_never():
    with override_settings(OKENDO_API_BASE_URL="http://api.okendo.io", DEBUG=True):
        assert check_okendo_base_url() == []
    with override_settings(OKENDO_API_BASE_URL="http://user:pw@api.okendo.io", DEBUG=True):
        assert ids(check_okendo_base_url()) == ["connections.E011"]


def test_check_deploy_fails_on_a_plain_http_base_url():
    with (
        override_settings(OKENDO_API_BASE_URL="http://api.okendo.io", DEBUG=False),
        pytest.raises(SystemCheckError, match=r"connections\.E011"),
    ):
        call_command("check", deploy=True, stdout=io.StringIO(), stderr=io.StringIO())


# --- Key check values (connections.E010, reads the database) ------------------------------

SAME_ID_NEW_MATERIAL = "test1:" + base64.b64encode(b"same-id-but-NEW-material-32byte!").decode()


def deploy_check_with_database() -> str:
    stdout, stderr = io.StringIO(), io.StringIO()
    call_command(
        "check",
        deploy=True,
        databases=["default"],
        fail_level="CRITICAL",
        stdout=stdout,
        stderr=stderr,
    )
    return stdout.getvalue() + stderr.getvalue()


@pytest.mark.django_db
def test_same_key_id_with_new_material_fails_check_deploy_with_the_database(settings):
    # Issue 12's case: `check --deploy` was clean while every secret had become unreadable.
    save_connection(account_id=USER_ID, secret=API_KEY)  # stores test1's check value
    settings.CONNECTIONS_ENCRYPTION_KEY = SAME_ID_NEW_MATERIAL

    with pytest.raises(SystemCheckError) as excinfo:
        call_command(
            "check",
            deploy=True,
            databases=["default"],
            stdout=io.StringIO(),
            stderr=io.StringIO(),
        )

    report = str(excinfo.value)
    assert "connections.E010" in report
    assert "Wrong key material for key id test1" in report
    assert SAME_ID_NEW_MATERIAL.split(":")[1] not in report


@pytest.mark.django_db
def test_wrong_material_under_a_fallback_id_is_e010_too(settings):
    save_connection(account_id=USER_ID, secret=API_KEY)
    settings.CONNECTIONS_ENCRYPTION_KEY = GOOD
    settings.CONNECTIONS_ENCRYPTION_KEY_FALLBACKS = [SAME_ID_NEW_MATERIAL]

    errors = check_key_check_values(databases=["default"])

    assert [(error.id, error.level) for error in errors] == [("connections.E010", ERROR)]
    assert "key id test1" in errors[0].msg


@pytest.mark.django_db
def test_key_check_values_pass_when_material_matches_or_nothing_is_stored(settings):
    assert check_key_check_values(databases=["default"]) == []  # nothing stored yet
    save_connection(account_id=USER_ID, secret=API_KEY)
    settings.CONNECTIONS_ENCRYPTION_KEY_FALLBACKS = [OLD]

    assert check_key_check_values(databases=["default"]) == []
    assert "connections.E010" not in deploy_check_with_database()


@pytest.mark.django_db
def test_key_check_values_are_read_only_when_a_database_is_named(settings):
    save_connection(account_id=USER_ID, secret=API_KEY)
    settings.CONNECTIONS_ENCRYPTION_KEY = SAME_ID_NEW_MATERIAL

    assert check_key_check_values(databases=None) == []
    assert "connections.E010" in ids(run_checks(tags=[Tags.database], databases=["default"]))
