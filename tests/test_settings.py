"""Start-up configuration: production refuses to start without its secrets."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from okendo_site import devkeys
from okendo_site.env import ConfigurationError, Env

ROOT = Path(__file__).resolve().parent.parent
GOOD_SECRET_KEY = "test-only-secret-key-not-for-production-0123456789-abcdefghij"
GOOD_ENCRYPTION_KEY = "test1:dGVzdC1vbmx5LWtleS1ub3QtYS1yZWFsLXNlY3JldCE="
PRINT_KEYS = (
    "from django.conf import settings;"
    "print(settings.SECRET_KEY);"
    "print(settings.CONNECTIONS_ENCRYPTION_KEY)"
)


def run_settings(env: dict[str, str], code: str = PRINT_KEYS) -> subprocess.CompletedProcess[str]:
    """Import the settings in a fresh interpreter with exactly ``env`` configured."""
    clean = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "CONNECTIONS_", "DATABASE_URL", "OKENDO_"))
    }
    clean.update({"DJANGO_SETTINGS_MODULE": "okendo_site.settings", **env})
    return subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"CONNECTIONS_ENCRYPTION_KEY": GOOD_ENCRYPTION_KEY}, "DJANGO_SECRET_KEY"),
        ({"DJANGO_SECRET_KEY": GOOD_SECRET_KEY}, "CONNECTIONS_ENCRYPTION_KEY"),
        (
            {
                "DJANGO_SECRET_KEY": "short-but-sneaky",
                "CONNECTIONS_ENCRYPTION_KEY": GOOD_ENCRYPTION_KEY,
            },
            "DJANGO_SECRET_KEY",
        ),
        (
            {
                "DJANGO_SECRET_KEY": GOOD_SECRET_KEY,
                "CONNECTIONS_ENCRYPTION_KEY": "k1:c25lYWt5LXNob3J0",
            },
            "CONNECTIONS_ENCRYPTION_KEY",
        ),
        (
            {"DJANGO_SECRET_KEY": GOOD_SECRET_KEY, "CONNECTIONS_ENCRYPTION_KEY": "sneaky-no-colon"},
            "CONNECTIONS_ENCRYPTION_KEY",
        ),
        (
            {
                "DJANGO_SECRET_KEY": GOOD_SECRET_KEY,
                "CONNECTIONS_ENCRYPTION_KEY": GOOD_ENCRYPTION_KEY,
                "CONNECTIONS_ENCRYPTION_KEY_FALLBACKS": "old:sneaky!!notbase64",
            },
            "CONNECTIONS_ENCRYPTION_KEY_FALLBACKS",
        ),
    ],
)
def test_production_refuses_to_start_without_valid_secret(
    env: dict[str, str], variable: str
) -> None:
    result = run_settings({"DJANGO_DEBUG": "0", **env})

    assert result.returncode == 2
    assert variable in result.stderr
    assert "Traceback" not in result.stderr
    assert "sneaky" not in result.stderr + result.stdout
    assert result.stderr.count("Configuration error:") == 1


def test_production_starts_with_valid_keys() -> None:
    result = run_settings(
        {
            "DJANGO_DEBUG": "0",
            "DJANGO_SECRET_KEY": GOOD_SECRET_KEY,
            "CONNECTIONS_ENCRYPTION_KEY": GOOD_ENCRYPTION_KEY,
        }
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [GOOD_SECRET_KEY, GOOD_ENCRYPTION_KEY]


def test_development_keys_are_created_once_and_reused(tmp_path: Path) -> None:
    keys_file = tmp_path / "var" / "dev-keys.env"
    env = {"DJANGO_DEBUG": "1", "DJANGO_DEV_KEYS_FILE": str(keys_file)}

    first = run_settings(env)
    second = run_settings(env)

    assert first.returncode == 0, first.stderr
    assert "Created local development keys" in first.stderr
    assert "Created local development keys" not in second.stderr
    assert first.stdout == second.stdout
    assert stat.S_IMODE(keys_file.stat().st_mode) == 0o600
    secret_key, _encryption_key = first.stdout.split()
    assert secret_key not in first.stderr
    assert f"DJANGO_SECRET_KEY={secret_key}" in keys_file.read_text()


def test_environment_wins_over_development_keys_file(tmp_path: Path) -> None:
    keys_file = tmp_path / "dev-keys.env"
    run_settings({"DJANGO_DEBUG": "1", "DJANGO_DEV_KEYS_FILE": str(keys_file)})

    result = run_settings(
        {
            "DJANGO_DEBUG": "1",
            "DJANGO_DEV_KEYS_FILE": str(keys_file),
            "CONNECTIONS_ENCRYPTION_KEY": GOOD_ENCRYPTION_KEY,
        }
    )

    assert result.returncode == 0, result.stderr
    secret_key, encryption_key = result.stdout.split()
    assert encryption_key == GOOD_ENCRYPTION_KEY
    assert f"DJANGO_SECRET_KEY={secret_key}" in keys_file.read_text()


def test_load_or_create_keeps_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "keys.env"
    created = devkeys.load_or_create(path)
    path.chmod(0o600)

    assert devkeys.load_or_create(path) == created
    assert created["CONNECTIONS_ENCRYPTION_KEY"].startswith("dev1:")


def test_security_headers_and_cookie_flags_in_production() -> None:
    code = (
        "from django.conf import settings as s;"
        "print(s.X_FRAME_OPTIONS, s.SECURE_CONTENT_TYPE_NOSNIFF, s.SECURE_REFERRER_POLICY,"
        " s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SESSION_COOKIE_HTTPONLY,"
        " s.SECURE_HSTS_SECONDS, s.SECURE_SSL_REDIRECT)"
    )
    base = {
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": GOOD_SECRET_KEY,
        "CONNECTIONS_ENCRYPTION_KEY": GOOD_ENCRYPTION_KEY,
    }

    plain = run_settings(base, code)
    https = run_settings({**base, "DJANGO_HTTPS": "1", "DJANGO_HSTS_SECONDS": "31536000"}, code)

    assert plain.stdout.split() == [
        "DENY",
        "True",
        "same-origin",
        "True",
        "True",
        "True",
        "0",
        "False",
    ]
    assert https.stdout.split() == [
        "DENY",
        "True",
        "same-origin",
        "True",
        "True",
        "True",
        "31536000",
        "True",
    ]


@pytest.mark.parametrize(
    ("value", "expected"), [("1", True), ("yes", True), ("off", False), ("", False)]
)
def test_env_reads_yes_no_words(value: str, expected: bool) -> None:
    assert Env({"FLAG": value}).get_bool("FLAG") is expected


def test_env_rejects_unknown_yes_no_word_without_echoing_it() -> None:
    with pytest.raises(ConfigurationError, match="FLAG must be one of") as excinfo:
        Env({"FLAG": "perhaps-sneaky"}).get_bool("FLAG")
    assert "sneaky" not in str(excinfo.value)


def test_env_falls_back_only_for_missing_names() -> None:
    env = Env({"A": "from-env", "B": ""}).with_fallback({"A": "from-file", "B": "file-b"})
    assert (env.get_str("A"), env.get_str("B"), env.get_str("C", "default")) == (
        "from-env",
        "file-b",
        "default",
    )


@pytest.mark.parametrize(
    ("value", "zero", "expected"),
    [("", False, 7.0), ("2.5", False, 2.5), ("0", True, 0.0), ("0.25", True, 0.25)],
)
def test_env_reads_seconds(value: str, zero: bool, expected: float) -> None:
    assert Env({"WAIT": value}).get_float("WAIT", 7.0, zero=zero) == expected


@pytest.mark.parametrize(
    ("value", "zero", "message"),
    [
        ("soon", False, "WAIT must be a number of seconds"),
        ("0", False, "WAIT must be greater than zero"),
        ("-1", True, "WAIT must be 0 or more"),
        ("nan", True, "WAIT must be a finite number"),
        ("inf", False, "WAIT must be a finite number"),
    ],
)
def test_env_refuses_what_is_not_a_usable_number_of_seconds(
    value: str, zero: bool, message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        Env({"WAIT": value}).get_float("WAIT", 7.0, zero=zero)


def test_production_refuses_a_negative_okendo_timeout() -> None:
    result = run_settings(
        {
            "DJANGO_DEBUG": "0",
            "DJANGO_SECRET_KEY": GOOD_SECRET_KEY,
            "CONNECTIONS_ENCRYPTION_KEY": GOOD_ENCRYPTION_KEY,
            "OKENDO_READ_TIMEOUT": "-1",
        }
    )

    assert result.returncode == 2
    assert "OKENDO_READ_TIMEOUT must be greater than zero" in result.stderr
    assert "Traceback" not in result.stderr
