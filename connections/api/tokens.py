"""Personal API tokens: create (the token is returned once), list and revoke.

Tokens are django-rest-knox tokens kept in :class:`~connections.models.ApiToken`:
only the SHA-512 digest and the first characters (``token_key``) are stored.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import User
from django.db.models import QuerySet
from knox.models import AuthTokenManager

from connections.models import ApiToken

EXPIRY_CHOICES_DAYS = (7, 30, 90, 365)


def expiry_choices() -> list[int]:
    """Return the offered lifetimes in days, the configured default among them."""
    return sorted({*EXPIRY_CHOICES_DAYS, settings.CONNECTIONS_API_TOKEN_DAYS})


def api_token_create(
    *, user: User, name: str = "", days: int | None = None
) -> tuple[ApiToken, str]:
    """Create a token for ``user`` living ``days`` (default: the setting); return it and its text.

    The text is the only copy of the token: show it once, store it nowhere.
    """
    lifetime = timedelta(days=days or settings.CONNECTIONS_API_TOKEN_DAYS)
    manager: AuthTokenManager = ApiToken.objects
    token, text = manager.create(user=user, expiry=lifetime, name=name.strip()[:100])
    return token, text


def api_tokens_of(user: User) -> QuerySet[ApiToken]:
    """Return ``user``'s tokens, newest first, expired ones included."""
    return ApiToken.objects.filter(user=user).order_by("-created")


def api_token_revoke(*, user: User, token_key: str) -> bool:
    """Delete ``user``'s token whose shown prefix is ``token_key``; tell whether one was."""
    deleted, _ = ApiToken.objects.filter(user=user, token_key=token_key).delete()
    return bool(deleted)
