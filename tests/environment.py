"""Give the test run its own obviously fake configuration, before Django loads.

Loaded with ``-p tests.environment`` (see pyproject.toml) because pytest-django
imports the settings before any conftest.py runs. Variables already set in the
environment win, so CI can point ``DATABASE_URL`` at PostgreSQL.
"""

import os

TEST_ENVIRONMENT = {
    "DJANGO_DEBUG": "0",
    "DJANGO_SECRET_KEY": "test-only-secret-key-not-for-production-0123456789-abcdefghij",
    # base64 of the 32 bytes "test-only-key-not-a-real-secret!"
    "CONNECTIONS_ENCRYPTION_KEY": "test1:dGVzdC1vbmx5LWtleS1ub3QtYS1yZWFsLXNlY3JldCE=",
    "CONNECTIONS_ENCRYPTION_KEY_FALLBACKS": "",
    "DJANGO_ALLOWED_HOSTS": "localhost,127.0.0.1,testserver",
    "DJANGO_SECURE_COOKIES": "0",
    # Nothing listens on port 9: a test that forgot the fake Okendo fails fast and locally.
    "OKENDO_API_BASE_URL": "http://127.0.0.1:9",
}

for _name, _value in TEST_ENVIRONMENT.items():
    os.environ.setdefault(_name, _value)


if __name__ == "__main__":
    # `python -m tests.environment CMD ...` runs CMD (mypy, manage.py) with the same
    # fake configuration the tests use, so the values are written down only here.
    import sys

    if len(sys.argv) < 2:
        raise SystemExit("usage: python -m tests.environment COMMAND [ARG ...]")
    os.execvp(sys.argv[1], sys.argv[1:])
