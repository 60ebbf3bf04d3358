"""The use cases: create, update, delete and test connections, each with its history event.

Every service checks the actor's model permission itself, runs in one
transaction and records a ``ConnectionEvent`` that names changed fields and
whether secrets were replaced — never a value.

Testing credentials
-------------------
A saved connection's ``status`` is the last *verdict on its credentials*:

* ``online`` after ``ok``;
* ``offline`` after ``auth_failed``, ``forbidden`` or ``not_found`` (Okendo
  refused these credentials) and after ``misconfigured`` caused by the
  connection's own values (no secret saved, a User ID that is not a UUID);
* unchanged after ``rate_limited``, ``unavailable`` and ``unexpected``: those
  describe Okendo or the network at that moment, not the credentials;
* unchanged after ``misconfigured`` caused by this server (``this_side``): a
  saved secret it cannot decrypt (a key missing, or the wrong key material
  under a key id) or an Okendo address it refuses. The credentials may be
  fine; marking every connection Offline would blame them for the server.

The outcome and sentence are always stored in ``last_test_*`` and the history.

Every test of a saved connection writes a ``ConnectionEvent`` ("tested") whose
details are the outcome, HTTP status and elapsed milliseconds.
"""

from __future__ import annotations

import dataclasses
import hmac
import logging
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser, User
from django.core import signing
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from connections import keyring, okendo, selectors
from connections.keyring import DecryptionError
from connections.models import (
    Connection,
    ConnectionEvent,
    SecretField,
    SecretNotSet,
)
from connections.okendo import CheckResult, Outcome
from connections.ratelimit import AccountRateLimiter, connection_test_lock
from connections.sensitive import Secret

Actor = User | AnonymousUser

# Which model fields hold each API type's credentials: (account id field, secret field).
CREDENTIAL_FIELDS: dict[str, tuple[str, SecretField]] = {
    Connection.ApiType.MERCHANT: ("user_id", "api_key"),
    Connection.ApiType.STOREFRONT: ("username", "password"),
}
FIELD_LABELS = {
    "name": "name",
    "api_type": "API type",
    "user_id": "User ID",
    "username": "Username",
    "api_key": "API key",
    "password": "password",
}
# How a write came in, when not through the app's pages: stored in the event's details.
VIA_API = "api"
VIA_LABELS = {VIA_API: "API"}


# Okendo's Merchant REST API docs: the API key is "a unique, 32-character string".
API_KEY_LENGTH = 32


def api_key_length_message(api_key: str | Secret) -> str:
    """Return why ``api_key`` cannot be an Okendo API key by its length, or '' when it can.

    Counts characters, never shows any of them.
    """
    if len(api_key) == API_KEY_LENGTH:
        return ""
    return (
        f"Okendo API keys are {API_KEY_LENGTH} characters; this one has {len(api_key)}. "
        "Copy the whole key, and only the key."
    )


@dataclass(frozen=True)
class ConnectionData:
    """The validated values of a connection: only the chosen API type's credentials.

    ``account_id`` is the Okendo User ID (stored as ``user_id`` for Merchant,
    ``username`` for Storefront); ``secret`` the API key or password.
    """

    name: str
    api_type: str
    account_id: str
    secret: Secret


def name_taken_message(name: str) -> str:
    """Return the message shown when another connection already uses ``name``."""
    return f"A connection named “{name}” already exists. Choose another name."


def _require(actor: Actor, permission: str) -> None:
    if not actor.has_perm(f"connections.{permission}"):
        raise PermissionDenied(f"Missing permission connections.{permission}.")


def _user(actor: Actor) -> User | None:
    """Return the actor as a user row to point at, or ``None`` for an anonymous actor."""
    return actor if isinstance(actor, User) and actor.pk else None


def _via(summary: str, details: dict[str, Any], via: str) -> tuple[str, dict[str, Any]]:
    """Note in the summary and details which way a write came in ("api"); '' means the app."""
    if not via:
        return summary, details
    label = VIA_LABELS.get(via, via)
    return f"{summary} Via {label}."[:300], {**details, "via": via}


def _record_event(
    *,
    connection: Connection,
    actor: Actor,
    action: str,
    summary: str,
    details: dict[str, Any],
    via: str = "",
) -> ConnectionEvent:
    summary, details = _via(summary, details, via)
    return ConnectionEvent.objects.create(
        connection=connection,
        connection_uid=connection.uid,
        connection_name=connection.name,
        action=action,
        actor=_user(actor),
        actor_name=actor.get_username() if _user(actor) else "",
        summary=summary,
        details=details,
    )


def _save_or_name_taken(connection: Connection) -> None:
    """Save, turning a lost race on the case-insensitive unique name into a form error."""
    try:
        # A savepoint, so PostgreSQL's outer transaction stays usable after the error.
        with transaction.atomic():
            connection.save()
    except IntegrityError:
        if selectors.connection_name_taken(name=connection.name, exclude_pk=connection.pk):
            raise ValidationError({"name": name_taken_message(connection.name)}) from None
        raise


def _type_label(api_type: str) -> str:
    return "Merchant" if api_type == Connection.ApiType.MERCHANT else "Storefront"


def _join(words: list[str]) -> str:
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


@sensitive_variables("data")
def _validate_secret(data: ConnectionData) -> None:
    """Raise ``ValidationError`` on the secret's field when Okendo could never accept it."""
    if data.api_type == Connection.ApiType.MERCHANT:
        message = api_key_length_message(data.secret)
        if message:
            raise ValidationError({"api_key": message}, code="api_key_length")


def _store_secret(connection: Connection, field: SecretField, value: Secret, *, by: Any) -> None:
    """Encrypt ``value`` through the model's explicit setter for ``field``."""
    if field == "api_key":
        connection.set_api_key(value, by=by)
    else:
        connection.set_password(value, by=by)


def _same_secret(connection: Connection, field: SecretField, value: Secret) -> bool:
    """Tell whether ``value`` equals the stored secret (constant-time); unreadable means no."""
    try:
        stored = connection.get_api_key() if field == "api_key" else connection.get_password()
    except (SecretNotSet, DecryptionError):
        return False
    return stored == value


@sensitive_variables("data")
def connection_create(
    *, actor: Actor, data: ConnectionData, via: str = "", test_proof: str = ""
) -> Connection:
    """Create a connection with the chosen API type's credentials and record the event.

    ``via`` names the way the write came in ("api"; '' for the app), kept in the history.
    The name is stored in NFC (``Connection.normalize_name``), whoever calls.
    ``test_proof`` is a token from :func:`credentials_test_proof`: when it proves
    a passed test of exactly these values, that test is recorded as the
    connection's first (status online, a "tested" event) without asking Okendo
    again; otherwise (changed values, older than 10 minutes, forged) it is ignored
    and the connection is untested.
    """
    _require(actor, "add_connection")
    data = replace(data, name=Connection.normalize_name(data.name))
    _validate_secret(data)
    account_field, secret_field = CREDENTIAL_FIELDS[data.api_type]
    by = _user(actor)
    with transaction.atomic():
        connection = Connection(name=data.name, api_type=data.api_type, created_by=by)
        setattr(connection, account_field, data.account_id)
        _store_secret(connection, secret_field, data.secret, by=by)
        proof = _proven_test(test_proof, data)
        if proof is not None:
            _apply_proven_test(connection, proof)
        _save_or_name_taken(connection)
        _record_event(
            connection=connection,
            actor=actor,
            action=ConnectionEvent.Action.CREATED,
            summary=f"Created as a {_type_label(data.api_type)} connection.",
            details={"api_type": data.api_type, "secrets_set": [secret_field]},
            via=via,
        )
        if proof is not None:
            _record_proven_test(connection, actor, proof)
    return connection


@sensitive_variables("data")
def connection_update(
    *,
    connection: Connection,
    actor: Actor,
    data: ConnectionData,
    via: str = "",
    test_proof: str = "",
) -> Connection:
    """Apply ``data`` to the connection and record which fields changed.

    Changing the API type erases the previous type's User ID/username and
    secret in the same transaction. A secret re-entered unchanged keeps its
    stored value, date and author; a new one replaces them. The name is
    stored in NFC. When the
    credentials change, the last test result no longer describes them, so the
    status goes back to untested (the old results stay in the history), unless
    ``test_proof`` proves a passed test of exactly the saved values, which is then
    recorded as their test (see :func:`connection_create`).
    """
    _require(actor, "change_connection")
    data = replace(data, name=Connection.normalize_name(data.name))
    _validate_secret(data)
    account_field, secret_field = CREDENTIAL_FIELDS[data.api_type]
    by = _user(actor)
    with transaction.atomic():
        # Compare against the row as stored now, not the caller's copy (a ModelForm
        # writes typed values into its instance while it validates).
        current = Connection.objects.select_for_update().get(pk=connection.pk)
        old_type = current.api_type
        changed: list[str] = []
        erased: list[str] = []
        if current.name != data.name:
            changed.append("name")
            current.name = data.name
        if current.api_type != data.api_type:
            changed.append("api_type")
            old_account_field, old_secret_field = CREDENTIAL_FIELDS[current.api_type]
            if getattr(current, old_account_field):
                erased.append(old_account_field)
            setattr(current, old_account_field, "")
            if current.has_secret(old_secret_field):
                erased.append(old_secret_field)
            current.clear_secret(old_secret_field)
            current.api_type = data.api_type
        if getattr(current, account_field) != data.account_id:
            changed.append(account_field)
            setattr(current, account_field, data.account_id)
        # A type switch leaves no secret of the new type: that one is set, not replaced.
        had_secret = current.has_secret(secret_field)
        secret_stored = not _same_secret(current, secret_field, data.secret)
        if secret_stored:
            _store_secret(current, secret_field, data.secret, by=by)
        secret_replaced = secret_stored and had_secret
        credentials_changed = secret_stored or account_field in changed
        proof = _proven_test(test_proof, data)
        if proof is not None:
            _apply_proven_test(current, proof)
        elif credentials_changed:
            current.status = Connection.Status.UNTESTED
            current.last_tested_at = None
            current.last_test_outcome = ""
            current.last_test_message = ""
            current.last_test_http_status = None
            current.last_test_elapsed_ms = None
        current.updated_at = timezone.now()
        _save_or_name_taken(current)
        _record_event(
            connection=current,
            actor=actor,
            action=ConnectionEvent.Action.UPDATED,
            summary=_update_summary(
                changed=changed,
                erased=erased,
                secret_field=secret_field,
                secret_replaced=secret_replaced,
                secret_set=secret_stored and not had_secret,
                old_type=old_type,
                new_type=data.api_type,
            ),
            details={
                "changed": changed,
                "secrets_replaced": secret_replaced,
                "erased": erased,
                **({"secrets_set": [secret_field]} if secret_stored and not had_secret else {}),
            },
            via=via,
        )
        if proof is not None:
            _record_proven_test(current, actor, proof)
    return current


def _update_summary(
    *,
    changed: list[str],
    erased: list[str],
    secret_field: SecretField,
    secret_replaced: bool,
    secret_set: bool = False,
    old_type: str,
    new_type: str,
) -> str:
    parts: list[str] = []
    if "api_type" in changed:
        part = f"Changed the API type from {_type_label(old_type)} to {_type_label(new_type)}"
        if erased:
            part += f" and erased the {_join([FIELD_LABELS[f] for f in erased])}"
        parts.append(part)
    others = [FIELD_LABELS[field] for field in changed if field != "api_type"]
    if others:
        parts.append(f"Changed the {_join(others)}")
    if secret_replaced:
        parts.append(f"Replaced the {FIELD_LABELS[secret_field]}")
    elif secret_set:
        parts.append(f"Set the {FIELD_LABELS[secret_field]}")
    if not parts:
        return f"Saved without changes; the {FIELD_LABELS[secret_field]} was re-entered unchanged."
    sentence = "; ".join(parts[:1] + [part[0].lower() + part[1:] for part in parts[1:]])
    return sentence + "."


def connection_delete(*, connection: Connection, actor: Actor, via: str = "") -> None:
    """Delete the connection; its history stays, now pointing at nothing but its uid and name."""
    _require(actor, "delete_connection")
    with transaction.atomic():
        _record_event(
            connection=connection,
            actor=actor,
            action=ConnectionEvent.Action.DELETED,
            summary=f"Deleted the {_type_label(connection.api_type)} connection.",
            details={"api_type": connection.api_type},
            via=via,
        )
        connection.delete()


# --- A passed test of typed values, carried to the save ----------------------------------
#
# The form's Test connection button checks typed values before they are saved. A
# passed test is handed back as a signed token (django.core.signing: SECRET_KEY,
# its own salt, 10 minutes), which the form sends with the save. The token holds
# the API type, the account id, the secret's keyring fingerprint and the result,
# never the secret; no server state is kept.

TEST_PROOF_SALT = "connections.services.credentials-test-proof"
TEST_PROOF_MAX_AGE_SECONDS = 600
_TEST_PROOF_MAX_LENGTH = 2000


@dataclass(frozen=True)
class ProvenTest:
    """A passed test of typed values, as its signed token carries it."""

    api_type: str
    account_id: str
    fingerprint: str
    outcome: str
    message: str
    http_status: int | None
    elapsed_ms: int
    tested_at: datetime


@sensitive_variables("secret")
def credentials_test_proof(
    *, api_type: str, account_id: str, secret: Secret | str, result: CheckResult
) -> str:
    """Return a signed token that ``result`` passed for these values; '' when it did not pass.

    Give it to :func:`connection_create` or :func:`connection_update` with the same
    values within 10 minutes to record the test without asking Okendo again.
    """
    if not result.ok:
        return ""
    payload = {
        "t": api_type,
        "a": account_id,
        "f": keyring.fingerprint(Secret(secret)),
        "o": str(result.outcome),
        "m": result.message,
        "s": result.http_status,
        "e": result.elapsed_ms,
        "at": timezone.now().isoformat(),
    }
    return signing.dumps(payload, salt=TEST_PROOF_SALT)


@sensitive_variables("data")
def _proven_test(token: str, data: ConnectionData) -> ProvenTest | None:
    """Return the passed test ``token`` proves for exactly ``data``'s credentials, else None."""
    if not token or len(token) > _TEST_PROOF_MAX_LENGTH:
        return None
    try:
        payload = signing.loads(token, salt=TEST_PROOF_SALT, max_age=TEST_PROOF_MAX_AGE_SECONDS)
        proof = ProvenTest(
            api_type=str(payload["t"]),
            account_id=str(payload["a"]),
            fingerprint=str(payload["f"]),
            outcome=str(payload["o"]),
            message=str(payload["m"]),
            http_status=int(payload["s"]) if payload["s"] is not None else None,
            elapsed_ms=int(payload["e"]),
            tested_at=datetime.fromisoformat(str(payload["at"])),
        )
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        return None  # forged, expired or malformed: the connection is simply untested
    if proof.outcome != Outcome.OK or (proof.api_type, proof.account_id) != (
        data.api_type,
        data.account_id,
    ):
        return None
    if not hmac.compare_digest(proof.fingerprint, keyring.fingerprint(data.secret)):
        return None
    return proof


def _apply_proven_test(connection: Connection, proof: ProvenTest) -> None:
    connection.status = Connection.Status.ONLINE
    connection.last_tested_at = proof.tested_at
    connection.last_test_outcome = proof.outcome
    connection.last_test_message = proof.message
    connection.last_test_http_status = proof.http_status
    connection.last_test_elapsed_ms = proof.elapsed_ms


def _record_proven_test(connection: Connection, actor: Actor, proof: ProvenTest) -> None:
    summary = f"Tested: {proof.outcome}"
    summary += f" (HTTP {proof.http_status}, " if proof.http_status else " ("
    summary += f"{proof.elapsed_ms} ms), before saving"
    _record_event(
        connection=connection,
        actor=actor,
        action=ConnectionEvent.Action.TESTED,
        summary=summary,
        details={
            "outcome": proof.outcome,
            "http_status": proof.http_status,
            "elapsed_ms": proof.elapsed_ms,
            "tested_at": proof.tested_at.isoformat(),
            "tested_before_saving": True,
        },
    )


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
        # Plain http:// to a host that is not loopback only while developing.
        allow_http=settings.DEBUG,
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
    *, connection: Connection, actor: AbstractBaseUser | AnonymousUser | None, via: str = ""
) -> CheckResult:
    """Test a saved connection's credentials, record the outcome, and return it.

    Raise ``ConnectionTestInProgress`` when a test of this connection is
    already running. ``connection`` is updated in place with the new health.
    """
    with connection_test_lock(str(connection.uid)):
        before = credentials_state(connection)
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
            result = _misconfigured(_undecryptable_sentence(exc, label), started=started)
            result = dataclasses.replace(result, this_side=True)
        else:
            result = _check(
                api_type=connection.api_type, account_id=connection.account_id, secret=secret
            )
        _record(connection=connection, result=result, actor=actor, before=before, via=via)
    logger.info(
        "Connection %s tested: %s, HTTP %s, %d ms",
        connection.uid,
        result.outcome,
        result.http_status,
        result.elapsed_ms,
    )
    return result


def _undecryptable_sentence(error: keyring.DecryptionError, label: str) -> str:
    unchanged = "The connection's status is unchanged."
    if isinstance(error, keyring.WrongKeyMaterial):
        return (
            f"Not tested: the encryption key {error.key_id} configured on this server is not "
            f"the key that encrypted the saved {label}. Ask an administrator to restore the "
            "original key for that id (manage.py rotate_encryption_keys --check names it). "
            + unchanged
        )
    return (
        f"Not tested: this server cannot decrypt the saved {label}. Edit the connection and "
        f"enter the {label} again, or ask an administrator to check the encryption keys "
        "(CONNECTIONS_ENCRYPTION_KEY_FALLBACKS). " + unchanged
    )


def _misconfigured(message: str, *, started: float) -> CheckResult:
    elapsed = max(0, round((clock.monotonic() - started) * 1000))
    return CheckResult(Outcome.MISCONFIGURED, message, None, elapsed)


def credentials_state(connection: Connection) -> dict[str, str]:
    """Return the columns that decide what a test or read checks; a change in any voids it.

    A verdict (a test's or a read's) is written with ``filter(**state).update(…)``, so
    a connection edited while Okendo answered keeps its new credentials' status.
    """
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
    via: str = "",
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
    if result.outcome in STATUS_AFTER and not result.this_side:
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
        else:
            current = Connection.objects.filter(pk=connection.pk).only("name").first()
            if current is None:  # deleted while the test ran: there is nothing to update
                return
            name = current.name
            summary += "; credentials changed during the test, status not updated"
        user = actor if actor is not None and actor.is_authenticated else None
        summary, details = _via(summary[:300], result.details(), via)
        ConnectionEvent.objects.create(
            connection_id=connection.pk,
            connection_uid=connection.uid,
            connection_name=name,
            action=ConnectionEvent.Action.TESTED,
            actor_id=user.pk if user is not None else None,
            actor_name=user.get_username() if user is not None else "",
            summary=summary,
            details=details,
        )
