"""Signed-in requests without re-reading the session, the user and the permissions.

Every signed-in page needs the session row, the user row and the user's
permissions (two more queries): four round trips before the view starts, most
of a page's cost. Each worker keeps what it read in memory under the current
sign-in token (:class:`~connections.models.AuthVersion`), which comes in the
one round trip that also reads the list's token (``connections.versions``).

Any write to a session, a user, a group, a permission or their links changes
the token in the same transaction (the receivers below, connected in
``ConnectionsConfig.ready``), so after it commits no worker serves what it kept:
signing out, a changed password, a deactivated account or a removed permission
take effect on the very next request, in every worker. What is kept is exactly
what the database gave (the session's data as decoded; the user as loaded),
copied for each request, so nothing one request does to its objects reaches
another.

A change made in SQL outside Django, which sends no signals, is seen after the
next change made through Django, or within a minute (``KEEP_SECONDS``).
"""

from __future__ import annotations

import copy
import pickle
from datetime import datetime
from typing import Any, NamedTuple

from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import User
from django.contrib.sessions.backends import db
from django.contrib.sessions.models import Session
from django.utils import timezone

from connections import versions
from connections.models import AuthVersion
from connections.versions import TokenCache


class StoredSession(NamedTuple):
    """A session row as read: its data, decoded once, and its expiry."""

    data: dict[str, Any]
    expire_date: datetime


# A minute bounds how long a change made in SQL around Django can go unseen.
KEEP_SECONDS = 60
sessions: TokenCache[StoredSession] = TokenCache(max_entries=10_000, max_age=KEEP_SECONDS)
users: TokenCache[bytes] = TokenCache(max_entries=2_000, max_age=KEEP_SECONDS)


class SessionStore(db.SessionStore):
    """Django's database sessions, read from this worker's memory while the token holds.

    Writes (``save``, ``delete``, ``cycle_key``) are Django's own; their
    ``post_save``/``post_delete`` signals change the token.
    """

    def load(self) -> dict[str, Any]:
        token = versions.current().auth  # before the row: see versions
        key = self.session_key
        if key:
            kept = sessions.get(key, token)
            if kept is not None and kept.expire_date > timezone.now():
                return copy.deepcopy(kept.data)
        # Django's load(): the row if it has not expired (else the key is
        # dropped), its text decoded, or nothing.
        row: Session | None = self._get_session_from_db()  # type: ignore[attr-defined]  # not in stubs
        if row is None:
            return {}
        data: dict[str, Any] = self.decode(row.session_data)
        if key:
            sessions.set(key, token, StoredSession(copy.deepcopy(data), row.expire_date))
        return data


class CachedModelBackend(ModelBackend):
    """Django's ModelBackend, with the signed-in user and permissions kept per sign-in token.

    On a miss the user is loaded as ModelBackend loads it and its permissions
    are resolved at once, so a kept user answers ``has_perm`` without a query.
    Each request gets its own copy.
    """

    def get_user(self, user_id: Any) -> User | None:
        token = versions.current().auth  # before the row: see versions
        key = str(user_id)
        kept = users.get(key, token)
        if kept is not None:
            user: User = pickle.loads(kept)  # noqa: S301  # bytes this process made
            return user
        loaded = super().get_user(user_id)
        if loaded is not None and token:
            self.get_all_permissions(loaded)  # resolves and keeps them on the object
            users.set(key, token, pickle.dumps(loaded, protocol=pickle.HIGHEST_PROTOCOL))
        return loaded


def sign_in_changed(**kwargs: Any) -> None:
    """Receiver: a session, user, group or permission was saved or deleted; change the token."""
    versions.bump(AuthVersion)


def session_deleted(sender: type[Session], instance: Session, **kwargs: Any) -> None:
    """Receiver: a session was deleted; change the token unless it had expired anyway.

    Kept sessions are never served past their expiry, so ``clearsessions``
    removing expired rows need not empty every worker's memory.
    """
    if instance.expire_date > timezone.now():
        versions.bump(AuthVersion)


def links_changed(action: str, **kwargs: Any) -> None:
    """Receiver (``m2m_changed``): groups or permissions were added to or removed from someone."""
    if action in ("post_add", "post_remove", "post_clear"):
        versions.bump(AuthVersion)


def clear() -> None:
    """Drop everything this worker keeps (tests; the token makes it unnecessary otherwise)."""
    sessions.clear()
    users.clear()
