"""Fixtures shared by the whole suite."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator

import pytest
from django.conf import settings

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
def _empty_cache_after_each_test() -> Iterator[None]:
    # The default cache (process-local in tests) holds rate-limit slots, test locks
    # and whatever a test planted: start every test from an empty one, as a test
    # database starts from empty tables.
    yield
    from django.core.cache import cache

    cache.clear()
