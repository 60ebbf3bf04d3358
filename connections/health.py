"""Test credentials against Okendo, and record what a test of a saved connection found.

A saved connection's ``status`` is the last *verdict on its credentials*:

* ``online`` after ``ok``;
* ``offline`` after ``auth_failed``, ``forbidden`` or ``not_found`` (Okendo
  refused these credentials) and after ``misconfigured`` (the saved values
  cannot be used at all, e.g. a secret this server cannot decrypt);
* unchanged after ``rate_limited``, ``unavailable`` and ``unexpected``: those
  describe Okendo or the network at that moment, not the credentials. The
  outcome and sentence are still stored in ``last_test_*`` and the history.

Every test of a saved connection writes a ``ConnectionEvent`` ("tested") whose
details are the outcome, HTTP status and elapsed milliseconds.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.db import transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from connections import keyring, okendo, services
from connections.models import Connection, ConnectionEvent, SecretNotSet
from connections.okendo import CheckResult, Outcome
from connections.ratelimit import AccountRateLimiter, connection_test_lock
from connections.sensitive import Secret

logger = logging.getLogger(__name__)

# Where tests read time and wait: the fake Okendo's fixture swaps in a clock
# that skips the waiting, so retry and rate-limit paths run in milliseconds.
clock: okendo.Clock = okendo.SYSTEM_CLOCK

STATUS_AFTER: dict[Outcome, str] = {
    Outcome.OK: Connection.Status.ONLINE,
    Outcome.AUTH_FAILED: Connection.Status.OFFLINE,
    Outcome.FORBIDDEN: Connection.Status.OFFLINE,
    Outcome.NOT_FOUND: Connection.Status.OFFLINE,
    Outcome.MISCONFIGURED: Connection.Status.OFFLINE,
}

_SECRET_LABEL = {"api_key": "API key", "password": "Password"}


def _check(*, api_type: str, account_id: str, secret: Secret) -> CheckResult:
    return okendo.check_credentials(
        api_type=api_type,
        account_id=account_id,
        secret=secret,
        base_url=settings.OKENDO_API_BASE_URL,
        connect_timeout=settings.OKENDO_CONNECT_TIMEOUT,
        read_timeout=settings.OKENDO_READ_TIMEOUT,
        throttle=AccountRateLimiter(now=clock.time).reserve,
        clock=clock,
    )


@sensitive_variables("secret")
def credentials_test(*, api_type: str, account_id: str, secret: Secret | str) -> CheckResult:
    """Test typed credentials against Okendo without saving anything."""
    result = _check(api_type=api_type, account_id=account_id, secret=Secret(secret))
    logger.info(
        "Credentials test (%s): %s, HTTP %s, %d ms",
        api_type,
        result.outcome,
        result.http_status,
        result.elapsed_ms,
    )
    return result


def connection_test(
    *, connection: Connection, actor: AbstractBaseUser | AnonymousUser | None
) -> CheckResult:
    """Test a saved connection's credentials, record the outcome, and return it.

    Raise ``ConnectionTestInProgress`` when a test of this connection is
    already running. ``connection`` is updated in place with the new health.
    """
    with connection_test_lock(str(connection.uid)):
        before = _credentials_state(connection)
        field = "api_key" if connection.is_merchant else "password"
        label = _SECRET_LABEL[field]
        started = clock.monotonic()
        try:
            secret = connection.get_api_key() if field == "api_key" else connection.get_password()
        except SecretNotSet:
            result = _misconfigured(
                f"Not tested: no {label} is saved for this connection. "
                f"Edit the connection and enter the {label}.",
                started=started,
            )
        except keyring.DecryptionError as exc:
            # The exception names the row, field and key id, never data.
            logger.error("Connection %s cannot be tested: %s", connection.uid, exc)
            result = _misconfigured(
                f"Not tested: this server cannot decrypt the saved {label}. Edit the "
                f"connection and enter the {label} again, or ask an administrator to check "
                "the encryption keys (CONNECTIONS_ENCRYPTION_KEY_FALLBACKS).",
                started=started,
            )
        else:
            result = _check(
                api_type=connection.api_type, account_id=connection.account_id, secret=secret
            )
        _record(connection=connection, result=result, actor=actor, before=before)
    logger.info(
        "Connection %s tested: %s, HTTP %s, %d ms",
        connection.uid,
        result.outcome,
        result.http_status,
        result.elapsed_ms,
    )
    return result


def _misconfigured(message: str, *, started: float) -> CheckResult:
    elapsed = max(0, round((clock.monotonic() - started) * 1000))
    return CheckResult(Outcome.MISCONFIGURED, message, None, elapsed)


def _credentials_state(connection: Connection) -> dict[str, str]:
    """Return the columns that decide what a test checks; a change in any voids the result."""
    return {
        "api_type": connection.api_type,
        "user_id": connection.user_id,
        "username": connection.username,
        "api_key_encrypted": connection.api_key_encrypted,
        "password_encrypted": connection.password_encrypted,
    }


def _record(
    *,
    connection: Connection,
    result: CheckResult,
    actor: AbstractBaseUser | AnonymousUser | None,
    before: dict[str, str],
) -> None:
    summary = f"Tested: {result.outcome}"
    summary += f" (HTTP {result.http_status}, " if result.http_status else " ("
    summary += f"{result.elapsed_ms} ms)"
    health: dict[str, object] = {
        "last_tested_at": timezone.now(),
        "last_test_outcome": str(result.outcome),
        "last_test_message": result.message,
        "last_test_http_status": result.http_status,
        "last_test_elapsed_ms": result.elapsed_ms,
    }
    if result.outcome in STATUS_AFTER:
        health["status"] = STATUS_AFTER[result.outcome]
    name = connection.name
    # The HTTP call ran outside any transaction. Compare-and-set: the row is
    # updated only while it still holds the credentials that were tested, in
    # one statement, so a concurrent edit is never overwritten by a stale result.
    with transaction.atomic():
        applied = Connection.objects.filter(pk=connection.pk, **before).update(**health)
        if applied:
            for field, value in health.items():
                setattr(connection, field, value)
            services.list_version_bump()  # the list shows the status and when it was tested
        else:
            current = Connection.objects.filter(pk=connection.pk).only("name").first()
            if current is None:  # deleted while the test ran: there is nothing to update
                return
            name = current.name
            summary += "; credentials changed during the test, status not updated"
        user = actor if actor is not None and actor.is_authenticated else None
        ConnectionEvent.objects.create(
            connection_id=connection.pk,
            connection_uid=connection.uid,
            connection_name=name,
            action=ConnectionEvent.Action.TESTED,
            actor_id=user.pk if user is not None else None,
            actor_name=user.get_username() if user is not None else "",
            summary=summary[:300],
            details=result.details(),
        )
