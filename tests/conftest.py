"""Fixtures shared by the whole suite."""

from __future__ import annotations

import tempfile

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
