"""Personal API tokens: create (the token is returned once), list and revoke.

Tokens are django-rest-knox tokens, in knox's own table: only the SHA-512
digest and the first characters (``token_key``) are stored. Each has an
:class:`~connections.models.ApiTokenInfo` row with its note and last use.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import QuerySet
from knox.models import AuthToken

from connections.models import ApiTokenInfo

EXPIRY_CHOICES_DAYS = (7, 30, 90, 365)


def expiry_choices() -> list[int]:
    """Return the offered lifetimes in days, the configured default among them."""
    return sorted({*EXPIRY_CHOICES_DAYS, settings.CONNECTIONS_API_TOKEN_DAYS})


def api_token_create(
    *, user: User, name: str = "", days: int | None = None
) -> tuple[AuthToken, str]:
    """Create a token for ``user`` living ``days`` (default: the setting); return it and its text.

    The text is the only copy of the token: show it once, store it nowhere.
    """
    lifetime = timedelta(days=days or settings.CONNECTIONS_API_TOKEN_DAYS)
    with transaction.atomic():
        token, text = AuthToken.objects.create(user=user, expiry=lifetime)
        ApiTokenInfo.objects.create(token=token, name=name.strip()[:100])
    return token, text


def api_tokens_of(user: User) -> QuerySet[AuthToken]:
    """Return ``user``'s tokens with their info, newest first, expired ones included."""
    return AuthToken.objects.filter(user=user).select_related("info").order_by("-created")


def api_token_revoke(*, user: User, token_key: str) -> bool:
    """Delete ``user``'s token whose shown prefix is ``token_key``; tell whether one was."""
    deleted, _ = AuthToken.objects.filter(user=user, token_key=token_key).delete()
    return bool(deleted)
