"""API authentication: personal tokens (django-rest-knox) sent as ``Authorization: Bearer …``.

Knox stores only each token's SHA-512 digest. This subclass refuses an expired
token without deleting it (the token page still lists it, as expired), records
when a token was last used (at most once a minute), and answers any header
that cannot hold a token with 401 instead of an error.
"""

from __future__ import annotations

import binascii
from datetime import timedelta
from hmac import compare_digest
from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from knox.auth import TokenAuthentication
from knox.crypto import hash_token
from knox.models import AuthToken
from knox.settings import CONSTANTS
from rest_framework import exceptions
from rest_framework.request import Request

from connections.models import ApiTokenInfo

# How stale "last used" may get: one write a minute per token, not one a request.
LAST_USED_RESOLUTION = timedelta(minutes=1)
INVALID = "Invalid token."


class ApiTokenAuthentication(TokenAuthentication):
    """Knox token authentication with ``Bearer`` tokens and a last-used time."""

    def authenticate(self, request: Request) -> tuple[Any, AuthToken] | None:
        try:
            return super().authenticate(request)
        except (UnicodeError, ValueError):
            # Knox decodes the header as UTF-8; Latin-1 bytes would otherwise be a 500.
            raise exceptions.AuthenticationFailed(INVALID) from None

    def authenticate_credentials(self, token: bytes) -> tuple[Any, AuthToken]:
        """Return (user, token) for a valid, unexpired token; else raise ``AuthenticationFailed``.

        Knox's own loop, reading the token's info row in the same query and
        leaving expired tokens in place.
        """
        # Tokens are printable ASCII; anything else (NUL, which PostgreSQL refuses in
        # a query) cannot match, so it is refused before reaching the database.
        if not token.isascii() or not token.decode("ascii").isprintable():
            raise exceptions.AuthenticationFailed(INVALID)
        text = token.decode("ascii")
        try:
            digest = hash_token(text)
        except (TypeError, binascii.Error):
            raise exceptions.AuthenticationFailed(INVALID) from None
        now = timezone.now()
        candidates = AuthToken.objects.filter(
            token_key=text[: CONSTANTS.TOKEN_KEY_LENGTH]
        ).select_related("user", "info")
        for auth_token in candidates:
            if auth_token.expiry is not None and auth_token.expiry <= now:
                continue
            if compare_digest(digest, auth_token.digest):
                user, auth_token = self.validate_user(auth_token)
                self._note_use(auth_token, now)
                return user, auth_token
        raise exceptions.AuthenticationFailed(INVALID)

    @staticmethod
    def _note_use(auth_token: AuthToken, now: Any) -> None:
        try:
            last_used = auth_token.info.last_used_at
        except ObjectDoesNotExist:  # a token made elsewhere (knox's admin): give it a row
            ApiTokenInfo.objects.update_or_create(token=auth_token, defaults={"last_used_at": now})
            return
        if last_used is None or now - last_used >= LAST_USED_RESOLUTION:
            ApiTokenInfo.objects.filter(pk=auth_token.pk).update(last_used_at=now)
            auth_token.info.last_used_at = now


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
