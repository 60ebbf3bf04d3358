"""API throttling: one request budget per API token (or per signed-in session user)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings
from rest_framework.request import Request

if TYPE_CHECKING:
    from rest_framework.views import APIView
from knox.models import AuthToken
from rest_framework.throttling import SimpleRateThrottle


class TokenRateThrottle(SimpleRateThrottle):
    """Allow ``settings.CONNECTIONS_API_THROTTLE_RATE`` requests per token; DRF answers 429.

    The rate is read per request (not when the class is defined, as DRF's own
    throttles do), so settings overrides apply. Unauthenticated requests never
    get here: they are refused with 401 first.
    """

    scope = "api"

    def get_rate(self) -> str | None:
        return settings.CONNECTIONS_API_THROTTLE_RATE or None

    def get_cache_key(self, request: Request, view: APIView) -> str | None:
        if isinstance(request.auth, AuthToken):
            ident = f"token:{request.auth.pk[:40]}"
        elif request.user and request.user.is_authenticated:
            ident = f"user:{request.user.pk}"
        else:
            return None
        return f"throttle:{self.scope}:{ident}"
