"""Fixtures shared by the whole suite."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator

import pytest
from django.conf import settings

from connections import versions

pytest_plugins = ["tests.fake_okendo"]


def pytest_configure(config: pytest.Config) -> None:
    # Tests render templates without running collectstatic first; the manifest
    # storage and whitenoise are exercised for real by tests/test_serving.py.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    settings.STATIC_ROOT = tempfile.mkdtemp(prefix="okendo-static-")


@pytest.fixture(autouse=True)
def _no_request_left_open() -> Iterator[None]:
    # The test client sends request_finished only when a response is closed; a
    # streamed one left unread would keep this thread "inside a request", and
    # version tokens read by later code in the test would be the request's.
    yield
    versions.request_finished()


@pytest.fixture(autouse=True)
def _no_tokens_kept_from_another_test() -> None:
    # Between transactional tests the database is flushed (the version rows with
    # it) without a change count: start each test as a newly started worker does.
    versions.forget_kept()
