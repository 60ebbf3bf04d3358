"""API authentication: personal tokens (django-rest-knox) sent as ``Authorization: Bearer …``.

Knox stores only each token's SHA-512 digest; this subclass refuses an expired
token without deleting it (the token page still lists it as expired), records
when a token was last used, and answers any undecodable header with 401.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from knox.auth import TokenAuthentication
from rest_framework import exceptions
from rest_framework.request import Request

from connections.models import ApiToken

# How stale "last used" may get: one write a minute per token, not one a request.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class ApiTokenAuthentication(TokenAuthentication):
    """Knox token authentication with ``Bearer`` tokens and a last-used time."""

    def authenticate(self, request: Request) -> tuple[Any, ApiToken] | None:
        try:
            return super().authenticate(request)
        except (UnicodeError, ValueError):
            # Knox decodes the header as UTF-8; Latin-1 bytes would otherwise be a 500.
            raise exceptions.AuthenticationFailed("Invalid token.") from None

    def authenticate_credentials(self, token: bytes) -> tuple[Any, ApiToken]:
        # Tokens are printable ASCII; anything else (NUL, which PostgreSQL refuses in
        # a query) cannot match, so it is refused before reaching the database.
        if not token.isascii() or not token.decode("ascii").isprintable():
            raise exceptions.AuthenticationFailed("Invalid token.")
        return super().authenticate_credentials(token)

    def _cleanup_token(self, auth_token: ApiToken) -> bool:
        """Tell whether ``auth_token`` has expired (kept, so its owner sees it listed)."""
        return auth_token.expiry is not None and auth_token.expiry <= timezone.now()

    def validate_user(self, auth_token: ApiToken) -> tuple[Any, ApiToken]:
        user, token = super().validate_user(auth_token)
        now = timezone.now()
        if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
            token.last_used_at = now
        return user, token


class ApiTokenScheme(OpenApiAuthenticationExtension):
    """Describe ``ApiTokenAuthentication`` in the OpenAPI schema as HTTP bearer auth."""

    target_class = "connections.api.authentication.ApiTokenAuthentication"
    name = "apiToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A personal API token from the app's “API tokens” page.",
        }
