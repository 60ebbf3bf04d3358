"""Connections to Okendo and their history.

Secrets are stored as ciphertext only (see ``keyring.py``); read and write them
through ``set_api_key`` / ``get_api_key`` and ``set_password`` / ``get_password``.
"""

from __future__ import annotations

import uuid
from typing import Any, Literal

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from connections import keyring
from connections.sensitive import Secret

SecretField = Literal["api_key", "password"]
SECRET_FIELDS: tuple[SecretField, ...] = ("api_key", "password")


class SecretNotSet(LookupError):
    """The connection has no stored value for this secret."""


class Connection(models.Model):
    class ApiType(models.TextChoices):
        MERCHANT = "merchant", "Merchant — reviews (stores), customers and groups"
        STOREFRONT = "storefront", "Storefront — reviews per store, product or group"

    class Status(models.TextChoices):
        UNTESTED = "untested", "Untested"
        ONLINE = "online", "Online"
        OFFLINE = "offline", "Offline"

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=100)
    api_type = models.CharField(max_length=20, choices=ApiType.choices)

    # Merchant credentials.
    user_id = models.CharField("User ID", max_length=36, blank=True)
    api_key_encrypted = models.TextField(blank=True, editable=False)
    api_key_fingerprint = models.CharField(max_length=16, blank=True, editable=False)
    api_key_set_at = models.DateTimeField(null=True, blank=True, editable=False)
    api_key_set_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )

    # Storefront credentials.
    username = models.CharField(max_length=36, blank=True)
    password_encrypted = models.TextField(blank=True, editable=False)
    password_fingerprint = models.CharField(max_length=16, blank=True, editable=False)
    password_set_at = models.DateTimeField(null=True, blank=True, editable=False)
    password_set_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )

    # Health, from the latest test.
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.UNTESTED, db_index=True
    )
    last_tested_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_test_outcome = models.CharField(max_length=20, blank=True, editable=False)
    last_test_message = models.TextField(blank=True, editable=False)
    last_test_http_status = models.PositiveSmallIntegerField(null=True, blank=True, editable=False)
    last_test_elapsed_ms = models.PositiveIntegerField(null=True, blank=True, editable=False)

    created_at = models.DateTimeField(default=timezone.now, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    updated_at = models.DateTimeField(default=timezone.now, db_index=True, editable=False)

    class Meta:
        ordering = ["name"]
        # Separate from view/change: reviews carry reviewers' names and emails, and
        # loyalty customers are people (see connections/reads.py).
        permissions = [("read_data", "Can read Okendo data through a connection")]
        constraints = [
            models.UniqueConstraint(Lower("name"), name="connection_name_unique_ci"),
            models.CheckConstraint(
                condition=models.Q(api_type__in=["merchant", "storefront"]),
                name="connection_api_type_known",
            ),
        ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Secrets read under a fallback key, with the stored value they were read
        # from: re-encrypted under the current key on save, unless replaced meanwhile.
        self._stale_secrets: dict[SecretField, tuple[str, Secret]] = {}

    def __str__(self) -> str:
        return self.name

    def __getstate__(self) -> dict[str, Any]:
        # Model instances get pickled into caches; plaintext must not ride along.
        state = super().__getstate__()
        state.pop("_stale_secrets", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)  # type: ignore[misc]  # Model defines it; the stubs do not
        self._stale_secrets = {}

    def save(self, *args: Any, **kwargs: Any) -> None:
        update_fields = kwargs.get("update_fields")
        for field, (stored, secret) in list(self._stale_secrets.items()):
            # refresh_from_db() or a direct assignment may have replaced the value
            # since it was read; re-encrypting the old secret would undo that.
            if getattr(self, f"{field}_encrypted") != stored:
                continue
            setattr(self, f"{field}_encrypted", keyring.encrypt(secret, self._binding(field)))
            # The fingerprint key derives from the current key, so it moves with it.
            setattr(self, f"{field}_fingerprint", keyring.fingerprint(secret))
            if update_fields is not None:
                update_fields = {*update_fields, f"{field}_encrypted", f"{field}_fingerprint"}
        if update_fields is not None:
            kwargs["update_fields"] = update_fields
        self._stale_secrets.clear()
        super().save(*args, **kwargs)

    # --- Secrets --------------------------------------------------------------

    def _binding(self, field: SecretField) -> keyring.Binding:
        return keyring.Binding(model=self._meta.label, field=field, row=self.uid)

    def has_secret(self, field: SecretField) -> bool:
        """Tell whether a value is stored for ``field``."""
        return bool(getattr(self, f"{field}_encrypted"))

    @sensitive_variables("value", "plaintext")
    def _set_secret(self, field: SecretField, value: str | Secret, *, by: Any) -> None:
        plaintext = Secret(value)
        if not plaintext:
            # An empty secret would look "set" while sending nothing to Okendo.
            raise ValueError(f"An empty {field} cannot be stored; use clear_secret().")
        setattr(self, f"{field}_encrypted", keyring.encrypt(plaintext, self._binding(field)))
        setattr(self, f"{field}_fingerprint", keyring.fingerprint(plaintext))
        setattr(self, f"{field}_set_at", timezone.now())
        setattr(self, f"{field}_set_by", by if getattr(by, "pk", None) else None)
        self._stale_secrets.pop(field, None)

    @sensitive_variables()
    def _get_secret(self, field: SecretField) -> Secret:
        stored = getattr(self, f"{field}_encrypted")
        if not stored:
            raise SecretNotSet(f"{self._meta.label}.{field} of row {self.uid} is not set.")
        result = keyring.decrypt(stored, self._binding(field))
        if not result.is_current:
            self._stale_secrets[field] = (stored, result.secret)
        return result.secret

    def clear_secret(self, field: SecretField) -> None:
        """Erase the stored value and its metadata for ``field``."""
        setattr(self, f"{field}_encrypted", "")
        setattr(self, f"{field}_fingerprint", "")
        setattr(self, f"{field}_set_at", None)
        setattr(self, f"{field}_set_by", None)
        self._stale_secrets.pop(field, None)

    @sensitive_variables("value")
    def set_api_key(self, value: str | Secret, *, by: Any = None) -> None:
        """Encrypt and store the Merchant API key, recording who set it and when."""
        self._set_secret("api_key", value, by=by)

    def get_api_key(self) -> Secret:
        """Decrypt the Merchant API key; raise ``SecretNotSet`` or a ``DecryptionError``."""
        return self._get_secret("api_key")

    @sensitive_variables("value")
    def set_password(self, value: str | Secret, *, by: Any = None) -> None:
        """Encrypt and store the Storefront password, recording who set it and when."""
        self._set_secret("password", value, by=by)

    def get_password(self) -> Secret:
        """Decrypt the Storefront password; raise ``SecretNotSet`` or a ``DecryptionError``."""
        return self._get_secret("password")

    # --- Presentation helpers ---------------------------------------------------

    @property
    def is_merchant(self) -> bool:
        return self.api_type == self.ApiType.MERCHANT

    @property
    def account_id(self) -> str:
        """Return the Okendo User ID this connection reads as (user id or username)."""
        return self.user_id if self.is_merchant else self.username


class ConnectionEvent(models.Model):
    """One entry of a connection's history; kept after the connection is deleted.

    ``details`` holds names of changed fields, whether secrets were replaced,
    test outcomes, and for reads and exports the resource and how many records
    — never a secret value, never the data read.
    """

    class Action(models.TextChoices):
        CREATED = "created", "Created"
        UPDATED = "updated", "Updated"
        DELETED = "deleted", "Deleted"
        TESTED = "tested", "Tested"
        EXPORTED = "exported", "Exported"
        READ = "read", "Read data"

    connection = models.ForeignKey(
        Connection, null=True, blank=True, on_delete=models.SET_NULL, related_name="events"
    )
    connection_uid = models.UUIDField(db_index=True)
    connection_name = models.CharField(max_length=100)
    action = models.CharField(max_length=10, choices=Action.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_name = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    summary = models.CharField(max_length=300)
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.connection_name}: {self.summary}"


class VersionRow(models.Model):
    """A table of one row (id 1) whose token changes with every write a cache depends on."""

    token = models.CharField(max_length=32, blank=True)

    class Meta:
        abstract = True


class ListVersion(VersionRow):
    """The one row whose token changes with every write the connections list shows.

    The list page caches its rendered results under this token; services change it
    in the same transaction as the write (see ``services.list_version_bump``).
    An empty token means no write has been seen since the migration: not cached.
    """

    def __str__(self) -> str:
        return self.token or "(never changed)"


class AuthVersion(VersionRow):
    """The one row whose token changes with every write that can change who is signed in.

    Each worker keeps sessions and users (with their permissions) in memory under
    this token, so most signed-in requests read one row instead of four; any write
    to a session, a user, a group or a permission changes it (see
    ``connections.signin_cache``). An empty token, or no row, means: do not cache.
    """

    def __str__(self) -> str:
        return self.token or "(not cached)"
