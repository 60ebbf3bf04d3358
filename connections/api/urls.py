"""The API's paths, mounted at ``/api/v1/`` (see okendo_site/urls.py)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_not_required
from django.urls import URLPattern, URLResolver, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework.routers import SimpleRouter

from .errors import not_found
from .views import ConnectionViewSet

app_name = "api"

router = SimpleRouter()
router.register("connections", ConnectionViewSet, basename="connection")


def _open(patterns: list[Any]) -> list[Any]:
    """Exempt API views from the site's sign-in redirect: they answer 401 themselves."""
    for pattern in patterns:
        if isinstance(pattern, URLPattern):
            pattern.callback = login_not_required(pattern.callback)
        elif isinstance(pattern, URLResolver):
            _open(pattern.url_patterns)
    return patterns


urlpatterns: list[URLPattern | URLResolver] = _open(
    [
        *router.urls,
        path("schema/", SpectacularAPIView.as_view(), name="schema"),
        path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
        path("redoc/", SpectacularRedocView.as_view(url_name="api:schema"), name="redoc"),
        # Anything else under the API is a JSON 404, not the site's HTML page.
        re_path(r"^.*$", not_found),
    ]
)
