"""The API's paths, mounted at ``/api/v1/`` (see okendo_site/urls.py)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_not_required
from django.urls import URLPattern, URLResolver, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework.routers import SimpleRouter

from . import data
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


def data_urls() -> list[URLPattern]:
    """Return the data endpoints' paths; ids match anything up to the last segment, so a
    bad one (``..``, a decoded ``%2F``, full-width digits) gets a 400 from its parser."""
    base = r"^connections/(?P<pk>[^/]+)/"
    product = base + r"products/(?P<product_id>(?s:.+))/"
    group = base + r"groups/(?P<group_id>(?s:.+))/"
    return [
        re_path(base + r"reviews/$", data.ReviewsView.as_view(), name="connection-reviews"),
        re_path(
            base + r"reviews/export/$",
            data.ReviewExportView.as_view(),
            name="connection-reviews-export",
        ),
        re_path(
            product + r"reviews/$",
            data.ProductReviewsView.as_view(),
            name="connection-product-reviews",
        ),
        re_path(
            group + r"reviews/$", data.GroupReviewsView.as_view(), name="connection-group-reviews"
        ),
        re_path(
            base + r"review-aggregate/$",
            data.ReviewAggregateView.as_view(),
            name="connection-review-aggregate",
        ),
        re_path(
            product + r"review-aggregate/$",
            data.ProductReviewAggregateView.as_view(),
            name="connection-product-review-aggregate",
        ),
        re_path(
            group + r"review-aggregate/$",
            data.GroupReviewAggregateView.as_view(),
            name="connection-group-review-aggregate",
        ),
        re_path(base + r"customers/$", data.CustomerView.as_view(), name="connection-customers"),
        re_path(
            base + r"loyalty-customers/$",
            data.LoyaltyCustomerView.as_view(),
            name="connection-loyalty-customers",
        ),
    ]


urlpatterns: list[URLPattern | URLResolver] = _open(
    [
        *router.urls,
        *data_urls(),
        path("schema/", SpectacularAPIView.as_view(), name="schema"),
        path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
        path("redoc/", SpectacularRedocView.as_view(url_name="api:schema"), name="redoc"),
        # Anything else under the API is a JSON 404, not the site's HTML page.
        re_path(r"^.*$", not_found),
    ]
)
