"""Connections to Okendo and their history.

Secrets are stored as ciphertext only (see ``keyring.py``); read and write them
through ``set_api_key`` / ``get_api_key`` and ``set_password`` / ``get_password``.
"""

from __future__ import annotations

import hmac
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.formats import date_format
from django.views.decorators.debug import sensitive_variables

from connections import keyring
from connections.sensitive import Secret

SecretField = Literal["api_key", "password"]
SECRET_FIELDS: tuple[SecretField, ...] = ("api_key", "password")


class SecretNotSet(LookupError):
    """The connection has no stored value for this secret."""


@dataclass(frozen=True)
class SecretSummary:
    """What may be shown of a stored secret: when, by whom, its fingerprint; never the value.

    ``str()`` gives the one line the form, the detail page and the admin show
    (all through ``connections/_secret_meta.html``), e.g.
    ``set 3 Nov 2026 by alice · fingerprint K7Q2-9XF3``, the date in the current
    time zone. Built by :meth:`Connection.secret_summary`.
    """

    set_at: datetime | None
    set_by: str
    fingerprint: str

    def __str__(self) -> str:
        parts = []
        if self.set_at is not None:
            parts.append(f"set {date_format(timezone.localtime(self.set_at), 'j M Y')}")
        if self.set_by:
            parts.append(f"by {self.set_by}")
        line = " ".join(parts) or "stored"
        if self.fingerprint:
            line += f" · fingerprint {self.fingerprint}"
        return line


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
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.UNTESTED)
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
    updated_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["name"]
        # Separate from view/change: reviews carry reviewers' names and emails, and
        # loyalty customers are people (see connections/reads.py).
        permissions = [("read_data", "Can read Okendo data through a connection")]
        indexes = [
            # The list filters by status, or by status and type: counting them reads
            # this index alone. (Name search has a trigram index on PostgreSQL, 0006.)
            models.Index(fields=["status", "api_type"], name="connection_status_type"),
            # The list's order by last update, ties by id, read straight off the index.
            models.Index(fields=["updated_at", "id"], name="connection_updated_id"),
        ]
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
        # Whether a value was encrypted since the last save: the key that did it
        # gets its check value stored (KeyCheckValue) when the row is saved.
        self._encrypted_now = False

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
        self._encrypted_now = False

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
            self._encrypted_now = True
            if update_fields is not None:
                update_fields = {*update_fields, f"{field}_encrypted", f"{field}_fingerprint"}
        if update_fields is not None:
            kwargs["update_fields"] = update_fields
        self._stale_secrets.clear()
        super().save(*args, **kwargs)
        if self._encrypted_now:
            KeyCheckValue.remember(keyring.get_keyring().current, using=self._state.db)
            self._encrypted_now = False

    @classmethod
    def normalize_name(cls, name: str) -> str:
        """Return ``name`` in Unicode normal form C: how names are checked, stored and searched.

        "Café" typed as "e" + U+0301 and as "é" look the same; without this both
        could be saved and a search would find only one. NFC, not Django's NFKC
        for usernames: it keeps what people typed ("ﬁ", "²") as they typed it.
        """
        return unicodedata.normalize("NFC", name)

    # --- Secrets --------------------------------------------------------------

    def _binding(self, field: SecretField) -> keyring.Binding:
        return keyring.Binding(model=self._meta.label, field=field, row=self.uid)

    def has_secret(self, field: SecretField) -> bool:
        """Tell whether a value is stored for ``field``."""
        return bool(getattr(self, f"{field}_encrypted"))

    def secret_summary(self, field: SecretField) -> SecretSummary | None:
        """Return the safe summary of the value stored for ``field``, or ``None`` if none is.

        Reads ``<field>_set_by`` (one query unless selected with the row).
        """
        if not self.has_secret(field):
            return None
        set_by = getattr(self, f"{field}_set_by")
        return SecretSummary(
            set_at=getattr(self, f"{field}_set_at"),
            set_by=set_by.get_username() if set_by is not None else "",
            fingerprint=getattr(self, f"{field}_fingerprint"),
        )

    @property
    def api_key_summary(self) -> SecretSummary | None:
        """Return :meth:`secret_summary` of the API key, for templates."""
        return self.secret_summary("api_key")

    @property
    def password_summary(self) -> SecretSummary | None:
        """Return :meth:`secret_summary` of the password, for templates."""
        return self.secret_summary("password")

    @sensitive_variables("value", "plaintext")
    def _set_secret(self, field: SecretField, value: str | Secret, *, by: Any) -> None:
        plaintext = Secret(value)
        if not plaintext:
            # An empty secret would look "set" while sending nothing to Okendo.
            raise ValueError(f"An empty {field} cannot be stored; use clear_secret().")
        setattr(self, f"{field}_encrypted", keyring.encrypt(plaintext, self._binding(field)))
        setattr(self, f"{field}_fingerprint", keyring.fingerprint(plaintext))
        self._encrypted_now = True
        setattr(self, f"{field}_set_at", timezone.now())
        setattr(self, f"{field}_set_by", by if getattr(by, "pk", None) else None)
        self._stale_secrets.pop(field, None)

    @sensitive_variables()
    def _get_secret(self, field: SecretField) -> Secret:
        stored = getattr(self, f"{field}_encrypted")
        if not stored:
            raise SecretNotSet(f"{self._meta.label}.{field} of row {self.uid} is not set.")
        try:
            result = keyring.decrypt(stored, self._binding(field))
        except keyring.AuthenticationFailed as exc:
            raise KeyCheckValue.explain(exc) from None
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


class KeyCheckValue(models.Model):
    """The check value of the key material that first encrypted under a key id.

    Written the first time a key encrypts (see :attr:`keyring.Key.check_value`:
    an HMAC under a key derived from the material, never the key). A configured
    key whose check value differs from the one stored for its id is not the key
    that wrote the data: the system check ``connections.E010`` and
    ``rotate_encryption_keys --check`` name it, and a value that fails to
    decrypt under it is reported as wrong key material, not as tampering.
    """

    key_id = models.CharField(max_length=32, unique=True)
    check_value = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["key_id"]

    def __str__(self) -> str:
        return f"key id {self.key_id}"

    @classmethod
    def remember(cls, key: keyring.Key, *, using: str | None = None) -> None:
        """Store ``key``'s check value under its id, unless one is stored already.

        A stored value is never replaced: the first material that encrypted
        under an id is the one the data needs.
        """
        # get_or_create copes with another process storing the same id meanwhile.
        cls._default_manager.db_manager(using).get_or_create(
            key_id=key.key_id, defaults={"check_value": key.check_value}
        )

    @classmethod
    def mismatched_key_ids(cls, ring: keyring.Keyring, *, using: str | None = None) -> list[str]:
        """Return the ids of the configured keys whose material differs from the stored one."""
        keys = (ring.current, *ring.fallbacks)
        stored = dict(
            cls._default_manager.db_manager(using)
            .filter(key_id__in=[key.key_id for key in keys])
            .values_list("key_id", "check_value")
        )
        return [
            key.key_id
            for key in keys
            if key.key_id in stored and not hmac.compare_digest(stored[key.key_id], key.check_value)
        ]

    @classmethod
    def explain(
        cls, error: keyring.DecryptionError, *, ring: keyring.Keyring | None = None
    ) -> keyring.DecryptionError:
        """Return ``WrongKeyMaterial`` for an authentication failure under a changed key.

        Any other error, or one under a key whose check value matches (or has
        none stored), is returned as it is.
        """
        if not isinstance(error, keyring.AuthenticationFailed) or error.key_id is None:
            return error
        if error.key_id in cls.mismatched_key_ids(ring or keyring.get_keyring()):
            return keyring.WrongKeyMaterial(error.binding, error.key_id)
        return error


class ApiTokenInfo(models.Model):
    """What the token page shows beside a django-rest-knox token: a note and when it was used.

    Knox's own table (``knox_authtoken``) keeps the token: its SHA-512 digest,
    its first characters (``token_key``, "okc_" and 11 more, shown so people can
    tell their tokens apart), its user, creation and expiry. The whole token is
    shown once, when created. ``last_used_at`` moves at most once a minute (see
    ``connections.api.authentication``).
    """

    token = models.OneToOneField(
        "knox.AuthToken", primary_key=True, on_delete=models.CASCADE, related_name="info"
    )
    name = models.CharField(max_length=100, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.name or "(no note)"
