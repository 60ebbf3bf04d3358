"""The API's bodies: connections as they read, and the writes validated by the connection form.

Writes never use DRF's field validation: the declared fields describe the
schema, and :func:`validate_connection` runs :class:`~connections.forms.ConnectionForm`
so the API keeps exactly the form's rules and messages. Secrets are accepted as
``api_key`` / ``password`` and never read back: a connection reads its secret's
metadata (``secret``: when, by whom, fingerprint), never the value.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from django.contrib.auth.models import User
from django.db.models import QuerySet
from django.views.decorators.debug import sensitive_variables
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from connections.forms import CREDENTIAL_LABELS, ConnectionForm
from connections.keyring import DecryptionError
from connections.models import Connection, ConnectionEvent, SecretNotSet
from connections.okendo import CheckResult, Outcome
from connections.sensitive import Secret
from connections.services import CREDENTIAL_FIELDS, ConnectionData

from .errors import NON_FIELD_ERRORS

WRITE_FIELDS = ("name", "api_type", "user_id", "api_key", "username", "password")
ALL_CREDENTIALS = ("user_id", "api_key", "username", "password")
TYPE_LABELS: dict[str, str] = {
    Connection.ApiType.MERCHANT: "Merchant",
    Connection.ApiType.STOREFRONT: "Storefront",
}

# A value a script could have read from somewhere that hides secrets: only mask
# characters (*, •, x), or a marker such as [redacted], <hidden>, __REDACTED__.
_MASK_ONLY = re.compile(r"^[*•xX·●\u2217\uff0a\u204e\u2731\ufe61-]+$")
_MARKER_WORDS = (
    r"(redacted|masked|hidden|removed|secret|placeholder|filtered|sensitive|censored|"
    r"omitted|not[ _-]?shown|your[ _-]?(api[ _-]?key|password)|api[ _-]?key|password|token)"
)
_MASK_MARKER = re.compile(rf"^[\s\[\(<{{_*#-]*{_MARKER_WORDS}[\s\]\)>}}_*#-]*$", re.IGNORECASE)
# Partly hidden values: a run of four mask characters (keeping a few real ones at
# either end, as many tools show secrets), a bracketed or templated marker, or an
# environment-variable reference anywhere in the value.
_MASK_PARTS = re.compile(
    r"([*•·●\u2217\uff0a\u204e\u2731\ufe61]|x|X|-|_|\.|#)\1{3,}"
    rf"|[\[\(<{{]\s*{_MARKER_WORDS}\s*[\]\)>}}]"
    r"|\$\{[^}]*\}|\{\{[^}]*\}\}|__[A-Z][A-Z_]*__|%[A-Z][A-Z_]*%",
    re.IGNORECASE,
)


# --- Reads ------------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    """Return ``value`` as DRF writes date-times (ISO 8601, ``Z`` for UTC), or ``None``."""
    if value is None:
        return None
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


class LastTestSerializer(serializers.Serializer):
    """The latest test of a saved connection (``null`` when it was never tested)."""

    outcome = serializers.ChoiceField(choices=[o.value for o in Outcome])
    message = serializers.CharField()
    http_status = serializers.IntegerField(allow_null=True)
    elapsed_ms = serializers.IntegerField(allow_null=True)


class SecretMetaSerializer(serializers.Serializer):
    """What is known about the stored secret: never its value."""

    set_at = serializers.DateTimeField(allow_null=True)
    set_by = serializers.CharField(allow_null=True, help_text="Username of who set it.")
    fingerprint = serializers.CharField(
        help_text="Short non-reversible fingerprint, e.g. K7Q2-9XF3: tells two values apart."
    )


class ConnectionSerializer(serializers.Serializer):
    """A connection as the API reads it; the secret only as ``secret`` metadata."""

    id = serializers.IntegerField()
    url = serializers.URLField()
    name = serializers.CharField()
    api_type = serializers.ChoiceField(choices=Connection.ApiType.values)
    account_id = serializers.CharField(
        help_text="The Okendo User ID: user_id (Merchant) or username (Storefront)."
    )
    status = serializers.ChoiceField(choices=Connection.Status.values)
    last_tested_at = serializers.DateTimeField(allow_null=True)
    last_test = LastTestSerializer(allow_null=True)
    secret = SecretMetaSerializer(allow_null=True)
    created_at = serializers.DateTimeField()
    created_by = serializers.CharField(allow_null=True, help_text="Username of the creator.")
    updated_at = serializers.DateTimeField()

    def to_representation(self, instance: dict[str, Any]) -> dict[str, Any]:
        # By hand from the columns of connection_rows(), not through the declared
        # fields and model instances: a list page is 50 of these.
        row = instance
        field = CREDENTIAL_FIELDS[row["api_type"]][1]
        secret = None
        if row[f"{field}_fingerprint"]:
            secret = {
                "set_at": _iso(row[f"{field}_set_at"]),
                "set_by": row[f"{field}_set_by_name"],
                "fingerprint": row[f"{field}_fingerprint"],
            }
        last_test = None
        if row["last_tested_at"] is not None:
            last_test = {
                "outcome": row["last_test_outcome"],
                "message": row["last_test_message"],
                "http_status": row["last_test_http_status"],
                "elapsed_ms": row["last_test_elapsed_ms"],
            }
        is_merchant = row["api_type"] == Connection.ApiType.MERCHANT
        return {
            "id": row["id"],
            "url": f"{self.context.get('url_prefix', '')}{row['id']}/",
            "name": row["name"],
            "api_type": row["api_type"],
            "account_id": row["user_id"] if is_merchant else row["username"],
            "status": row["status"],
            "last_tested_at": _iso(row["last_tested_at"]),
            "last_test": last_test,
            "secret": secret,
            "created_at": _iso(row["created_at"]),
            "created_by": row["created_by_name"],
            "updated_at": _iso(row["updated_at"]),
        }


_ROW_COLUMNS = (
    "id",
    "name",
    "api_type",
    "user_id",
    "username",
    "status",
    "last_tested_at",
    "last_test_outcome",
    "last_test_message",
    "last_test_http_status",
    "last_test_elapsed_ms",
    "api_key_fingerprint",
    "api_key_set_at",
    "password_fingerprint",
    "password_set_at",
    "created_at",
    "updated_at",
)


_USER_COLUMNS = ("api_key_set_by_id", "password_set_by_id", "created_by_id")


def connection_rows(queryset: QuerySet[Connection]) -> QuerySet[Connection, dict[str, Any]]:
    """Return ``queryset`` as the columns :class:`ConnectionSerializer` reads (no ciphertext).

    Without joins, so ordering and counting use the indexes; :func:`with_usernames`
    adds who set what, for the page's rows only.
    """
    return queryset.values(*_ROW_COLUMNS, *_USER_COLUMNS)


def with_usernames(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Add ``…_set_by_name`` and ``created_by_name`` to rows of :func:`connection_rows`."""
    rows = list(rows)
    ids = {row[column] for row in rows for column in _USER_COLUMNS if row[column] is not None}
    names = dict(User.objects.filter(pk__in=ids).values_list("pk", "username")) if ids else {}
    for row in rows:
        for column in _USER_COLUMNS:
            row[column.removesuffix("_id") + "_name"] = names.get(row[column])
    return rows


class EventSerializer(serializers.Serializer):
    """One entry of a connection's history: what happened, who did it, when; never a secret."""

    id = serializers.IntegerField()
    action = serializers.ChoiceField(choices=ConnectionEvent.Action.values)
    summary = serializers.CharField()
    actor = serializers.CharField(allow_null=True, help_text="Username, or null.")
    created_at = serializers.DateTimeField()
    details = serializers.DictField(
        help_text="Changed fields, whether secrets were replaced, test outcomes, 'via'."
    )

    def to_representation(self, instance: ConnectionEvent) -> dict[str, Any]:
        return {
            "id": instance.pk,
            "action": instance.action,
            "summary": instance.summary,
            "actor": instance.actor_name or None,
            "created_at": _iso(instance.created_at),
            "details": instance.details if isinstance(instance.details, dict) else {},
        }


class TestResultSerializer(serializers.Serializer):
    """What a test found: one outcome word, a sentence, and the numbers behind it."""

    outcome = serializers.ChoiceField(choices=[o.value for o in Outcome])
    message = serializers.CharField()
    http_status = serializers.IntegerField(allow_null=True, help_text="Okendo's HTTP status.")
    elapsed_ms = serializers.IntegerField()
    retries = serializers.IntegerField()
    tested_at = serializers.DateTimeField()


def test_result_body(result: CheckResult, tested_at: datetime) -> dict[str, Any]:
    """Return the body of a test answer."""
    return {
        "outcome": str(result.outcome),
        "message": result.message,
        "http_status": result.http_status,
        "elapsed_ms": result.elapsed_ms,
        "retries": result.retries,
        "tested_at": _iso(tested_at),
    }


class ErrorSerializer(serializers.Serializer):
    """Every 4xx answer: one sentence, and the messages per invalid field (else empty)."""

    def get_fields(self) -> dict[str, serializers.Field]:
        # Declared here, not as attributes: "errors" would hide Serializer.errors.
        return {
            "detail": serializers.CharField(),
            "errors": serializers.DictField(
                child=serializers.ListField(child=serializers.CharField())
            ),
        }


# --- Writes -------------------------------------------------------------------------


@extend_schema_field({"type": "string", "writeOnly": True, "format": "password"})
class SecretField(serializers.CharField):
    """A write-only secret in the schema; validated by the connection form, never echoed."""


class ConnectionWriteSerializer(serializers.Serializer):
    """Create (POST) or replace (PUT) a connection: name, type and that type's credentials.

    Merchant takes ``user_id`` + ``api_key``; Storefront ``username`` + ``password``.
    PUT must carry the secret, as every edit in the form does. Unknown keys
    (such as the read-only ones of a GET) are ignored.
    """

    name = serializers.CharField(help_text="At most 100 characters; unique, ignoring case.")
    api_type = serializers.ChoiceField(choices=Connection.ApiType.values)
    user_id = serializers.CharField(required=False, help_text="Merchant: the Okendo User ID.")
    api_key = SecretField(required=False, help_text="Merchant: the API key (write-only).")
    username = serializers.CharField(required=False, help_text="Storefront: the Okendo User ID.")
    password = SecretField(required=False, help_text="Storefront: the password (write-only).")

    def to_internal_value(self, data: Any) -> ConnectionData:
        return validate_connection(data, instance=self.instance, partial=self.partial)


class ConnectionPatchSerializer(ConnectionWriteSerializer):
    """Change a connection's name; credentials only as the whole set of the type.

    Sending any credential field (or another ``api_type``) requires the account
    id and the secret of the type; a PATCH of the name keeps the stored secret.
    """

    name = serializers.CharField(required=False, help_text="At most 100 characters.")
    api_type = serializers.ChoiceField(choices=Connection.ApiType.values, required=False)


class CredentialsTestSerializer(serializers.Serializer):
    """Typed credentials to test against Okendo without saving anything."""

    api_type = serializers.ChoiceField(choices=Connection.ApiType.values)
    user_id = serializers.CharField(required=False, help_text="Merchant: the Okendo User ID.")
    api_key = SecretField(required=False, help_text="Merchant: the API key (write-only).")
    username = serializers.CharField(required=False, help_text="Storefront: the Okendo User ID.")
    password = SecretField(required=False, help_text="Storefront: the password (write-only).")

    def to_internal_value(self, data: Any) -> ConnectionData:
        return validate_credentials(data)


@sensitive_variables("value")
def looks_like_mask(value: str, *, fingerprints: Iterable[str] = ()) -> bool:
    """Tell whether ``value`` looks like a hidden secret rather than one.

    Only mask characters (``*``, ``•``, ``x``), a marker such as ``[redacted]`` or
    ``__REDACTED__``; a partly hidden value (four mask characters in a row, a
    bracketed marker, ``${VAR}``); or a value holding one of ``fingerprints``
    (what this API shows of a secret).
    """
    text = value.strip()
    if not text:
        return False
    if _MASK_ONLY.match(text) or _MASK_MARKER.match(text) or _MASK_PARTS.search(text):
        return True
    folded = text.casefold().replace("-", "")
    return any(print_.casefold().replace("-", "") in folded for print_ in fingerprints if print_)


def _mask_message(field: str) -> str:
    label = CREDENTIAL_LABELS[field]
    return (
        f"Send the real {label}; secrets are never returned, so a value read from this "
        "API cannot be a secret."
    )


def _invalid(errors: dict[str, list[str]]) -> serializers.ValidationError:
    return serializers.ValidationError(errors)


@sensitive_variables("data", "values")
def _read_values(data: Any, errors: dict[str, list[str]]) -> dict[str, str]:
    """Return the writable keys of the JSON object ``data`` as text; note non-text values."""
    if not isinstance(data, Mapping):
        raise _invalid({NON_FIELD_ERRORS: ["Send a JSON object with the connection's fields."]})
    values: dict[str, str] = {}
    for key in WRITE_FIELDS:
        if key not in data or data[key] is None:
            continue
        value = data[key]
        if not isinstance(value, str):
            errors.setdefault(key, []).append("Send this field as a JSON string.")
            continue
        values[key] = value
    return values


def _form_errors(
    form: ConnectionForm, *, only: Iterable[str] | None = None
) -> dict[str, list[str]]:
    """Return the form's errors as {field: [message, …]}; ``only`` keeps those fields."""
    wanted = set(only) if only is not None else None
    errors: dict[str, list[str]] = {}
    for field, messages in form.errors.items():
        key = NON_FIELD_ERRORS if field == "__all__" else field
        if wanted is None or key in wanted:
            errors.setdefault(key, []).extend(str(m) for m in messages)
    return errors


@sensitive_variables("values")
def _check_credential_keys(
    values: dict[str, str],
    api_type: str,
    errors: dict[str, list[str]],
    *,
    fingerprints: Iterable[str] = (),
) -> None:
    """Refuse the other type's credential fields and a mask sent as the secret."""
    account, secret = CREDENTIAL_FIELDS[api_type]
    for field in ALL_CREDENTIALS:
        if field in values and field not in (account, secret):
            errors.setdefault(field, []).append(
                f"Not a field of a {TYPE_LABELS[api_type]} connection: send {account} and {secret}."
            )
    if secret in values and looks_like_mask(values[secret], fingerprints=fingerprints):
        errors.setdefault(secret, []).append(_mask_message(secret))


def _fingerprints(instance: Connection | None) -> list[str]:
    if instance is None:
        return []
    return [instance.api_key_fingerprint, instance.password_fingerprint]


def _merge(into: dict[str, list[str]], more: dict[str, list[str]]) -> None:
    for field, messages in more.items():
        into.setdefault(field, []).extend(m for m in messages if m not in into.get(field, []))


@sensitive_variables("data", "values", "form")
def validate_connection(
    data: Any, *, instance: Connection | None, partial: bool = False
) -> ConnectionData:
    """Validate a POST, PUT or PATCH body with the connection form; return what to save.

    Raise ``serializers.ValidationError`` with {field: [message, …]}: the form's
    messages, plus the API's own for mask-like secrets, the other type's fields
    and a PATCH with part of a credential set.
    """
    errors: dict[str, list[str]] = {}
    values = _read_values(data, errors)
    stored_type = instance.api_type if instance is not None else ""
    api_type = values.get("api_type") or (stored_type if partial else "")
    known_type = api_type in CREDENTIAL_FIELDS
    if known_type:
        _check_credential_keys(values, api_type, errors, fingerprints=_fingerprints(instance))
    if partial and instance is not None:
        return _validate_patch(values, instance, api_type, errors)
    form = ConnectionForm(values, instance=copy.copy(instance) if instance is not None else None)
    valid = form.is_valid()
    _merge(errors, _form_errors(form))
    if errors or not valid:
        raise _invalid(errors)
    return form.connection_data()


@sensitive_variables("values", "form", "secret")
def _validate_patch(
    values: dict[str, str],
    instance: Connection,
    api_type: str,
    errors: dict[str, list[str]],
) -> ConnectionData:
    """Validate a PATCH: the name alone, or with the whole credential set of the type."""
    if api_type not in CREDENTIAL_FIELDS:
        form = ConnectionForm(values, instance=copy.copy(instance))
        form.is_valid()
        _merge(errors, _form_errors(form, only=["api_type"]))
        raise _invalid(errors)
    account, secret_field = CREDENTIAL_FIELDS[api_type]
    type_changed = api_type != instance.api_type
    credentials_sent = type_changed or any(field in values for field in ALL_CREDENTIALS)
    if credentials_sent:
        for field in (account, secret_field):
            if field not in values:
                errors.setdefault(field, []).append(
                    "A PATCH that changes credentials (or the API type) must carry the whole "
                    f"set of a {TYPE_LABELS[api_type]} connection: {account} and "
                    f"{secret_field}."
                )
        full = {"name": instance.name, "api_type": api_type, **values}
        form = ConnectionForm(full, instance=copy.copy(instance))
        valid = form.is_valid()
        _merge(errors, _form_errors(form))
        if errors or not valid:
            raise _invalid(errors)
        return form.connection_data()
    # The name alone: the form judges the name; the stored credentials stay as they are.
    form = ConnectionForm(
        {"name": values.get("name", instance.name), "api_type": api_type},
        instance=copy.copy(instance),
    )
    form.is_valid()
    _merge(errors, _form_errors(form, only=["name"]))
    stored: Secret | None = None
    try:
        is_key = secret_field == "api_key"  # noqa: S105 - a field name
        stored = instance.get_api_key() if is_key else instance.get_password()
    except (SecretNotSet, DecryptionError):
        errors.setdefault(secret_field, []).append(
            f"The stored {CREDENTIAL_LABELS[secret_field]} cannot be read by this server: "
            f"send {account} and {secret_field} to replace it."
        )
    if errors or stored is None:
        raise _invalid(errors)
    return ConnectionData(
        name=form.cleaned_data["name"],
        api_type=api_type,
        account_id=getattr(instance, account),
        secret=stored,
    )


@sensitive_variables("data", "values", "form")
def validate_credentials(data: Any) -> ConnectionData:
    """Validate typed credentials with the connection form, ignoring the name (not saved)."""
    errors: dict[str, list[str]] = {}
    values = _read_values(data, errors)
    values.pop("name", None)
    api_type = values.get("api_type", "")
    if api_type in CREDENTIAL_FIELDS:
        _check_credential_keys(values, api_type, errors)
    form = ConnectionForm(values)
    form.is_valid()
    _merge(
        errors,
        _form_errors(form, only=[f for f in (*WRITE_FIELDS, NON_FIELD_ERRORS) if f != "name"]),
    )
    if errors:
        raise _invalid(errors)
    return ConnectionData(
        name="",
        api_type=form.selected_type,
        account_id=form.cleaned_data[form.account_field],
        secret=form.cleaned_data[form.secret_field],
    )
