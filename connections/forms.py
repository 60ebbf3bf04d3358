"""The connection form: one class whose credential fields follow the API type.

Usable outside the app's views (the admin reuses it)::

    form = ConnectionForm(request.POST, instance=connection)      # type from the data
    form = ConnectionForm(instance=connection, api_type="storefront")  # unbound, switched
    if form.is_valid():
        services.connection_update(connection=connection, actor=user, data=form.connection_data())

Only the chosen type's fields exist on a given form, so only they are
validated and only they reach the services. Secrets are never rendered back:
password inputs without a value, re-entered on every save.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import MaxLengthValidator, ProhibitNullCharactersValidator
from django.views.decorators.debug import sensitive_variables

from connections import selectors
from connections.models import Connection, SecretField, SecretSummary
from connections.sensitive import Secret
from connections.services import (
    CREDENTIAL_FIELDS,
    ConnectionData,
    api_key_length_message,
    name_taken_message,
)

NAME_MAX_LENGTH = 100
SECRET_MAX_LENGTH = 256
# Okendo's own menu path, with its own separators.
WHERE_TO_FIND = "Okendo → Settings › Integrations › Credentials"  # noqa: RUF001
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")

CREDENTIAL_LABELS = {
    "user_id": "User ID",
    "api_key": "API key",
    "username": "Username",
    "password": "Password",
}
ACCOUNT_HELP = {
    # Where to find it is said once, in the form's "How to retrieve" note beside the fields.
    "user_id": "The store's Okendo User ID, a UUID.",
    "username": "The store's Okendo User ID, a UUID.",
}
SECRET_HELP_NEW = {
    "api_key": "Stored encrypted, never shown again. Okendo's API keys are 32 characters long.",
    "password": "Stored encrypted, never shown again.",
}
SECRET_HELP_EDIT = "Stored encrypted. Re-enter it to save changes."  # noqa: S105 - help text
API_TYPE_DESCRIPTIONS: dict[str, str] = {
    Connection.ApiType.MERCHANT: (
        "Private Merchant REST API, server side only. Signs in with the store's "
        "User ID and API key."
    ),
    Connection.ApiType.STOREFRONT: (
        "Public Storefront REST API, addressed by the store's User ID. Signs in "
        "with a username and password."
    ),
}


def _has_invisible(value: str) -> bool:
    """Tell whether ``value`` holds whitespace or control/format characters (Unicode C*)."""
    return any(ch.isspace() or unicodedata.category(ch).startswith("C") for ch in value)


def typed_account_id(data: Any) -> dict[str, str]:
    """Return the typed User ID as the initial User ID and Username, or {} when none came.

    Both types' account field is the store's Okendo User ID, so a type switch
    keeps it. Secrets never come along: they belong to the other type.
    """
    typed = data.get("user_id") or data.get("username") or ""
    typed = str(typed)[:200]
    return {"user_id": typed, "username": typed} if typed else {}


class SecretInput(forms.PasswordInput):
    """A password input that never renders a value and that password managers leave alone."""

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        defaults = {
            "autocomplete": "new-password",
            "autocapitalize": "off",
            "autocorrect": "off",
            "spellcheck": "false",
        }
        super().__init__(attrs={**defaults, **(attrs or {})}, render_value=False)


class SecretFormField(forms.CharField):
    """A required secret: at most 256 visible characters, returned as a :class:`Secret`.

    Checks length and characters itself so that no ``ValidationError`` carries
    the value in its params (Django's length validators put it there).
    """

    widget = SecretInput

    def __init__(
        self,
        *,
        label: str,
        forbid_colon: bool = False,
        check_length: Callable[[str], str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(label=label, strip=False, **kwargs)
        self.forbid_colon = forbid_colon
        # Returns a message when the length is wrong: the services' own rule, shared.
        self.check_length = check_length
        self.validators = [
            v for v in self.validators if not isinstance(v, ProhibitNullCharactersValidator)
        ]

    @sensitive_variables("value")
    def validate(self, value: Any) -> None:
        super().validate(value)
        label = self.label or "secret"
        if len(value) > SECRET_MAX_LENGTH:
            raise ValidationError(
                f"The {label} can be at most {SECRET_MAX_LENGTH} characters long. "
                "Check that you copied only the key.",
                code="max_length",
            )
        if _has_invisible(value):
            raise ValidationError(
                f"The {label} cannot contain spaces, line breaks or other invisible or control "
                "characters. Copy it again without them.",
                code="invisible",
            )
        if self.forbid_colon and ":" in value:
            raise ValidationError(
                f"The {label} cannot contain “:”: HTTP Basic authentication would split it.",
                code="colon",
            )
        if self.check_length is not None:
            message = self.check_length(value)
            if message:
                raise ValidationError(message, code="length")

    @sensitive_variables("value")
    def clean(self, value: Any) -> Secret:
        return Secret(super().clean(value))


@dataclass(frozen=True)
class CredentialRow:
    """One credential field as the template shows it, with the notes computed here."""

    field: forms.BoundField
    is_secret: bool
    notice: str
    stored: SecretSummary | None


class ConnectionForm(forms.ModelForm):
    """Name, API type and that type's credentials; validation lives here, writes in services."""

    user_id = forms.CharField(label="User ID")
    username = forms.CharField(label="Username")
    api_key = SecretFormField(
        label="API key", forbid_colon=True, check_length=api_key_length_message
    )
    password = SecretFormField(label="Password")

    class Meta:
        model = Connection
        fields = ["name", "api_type", "user_id", "username"]
        widgets = {"api_type": forms.RadioSelect}
        labels = {"name": "Name", "api_type": "API type"}
        help_texts = {
            "name": "How people and systems recognise this connection, e.g. “EU store reviews”.",
        }
        error_messages = {
            "name": {"required": "Enter a name for this connection."},
            "api_type": {
                "required": "Choose an API type: Merchant or Storefront.",
                "invalid_choice": "Unknown API type. Choose Merchant or Storefront.",
            },
        }

    def __init__(
        self,
        data: Any = None,
        files: Any = None,
        *,
        instance: Connection | None = None,
        api_type: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(data, files, instance=instance, **kwargs)
        self.is_edit = self.instance.pk is not None
        # Capture before validation: a ModelForm writes typed values into its instance.
        self.stored_api_type = self.instance.api_type if self.is_edit else ""
        self.selected_type = self._choose_api_type(api_type)
        self.account_field, self.secret_field = CREDENTIAL_FIELDS[self.selected_type]
        for other_type, fields in CREDENTIAL_FIELDS.items():
            if other_type != self.selected_type:
                for name in fields:
                    del self.fields[name]
        if not self.is_bound:
            self.initial["api_type"] = self.selected_type
            self._carry_account_id()
        self._configure_fields()

    def _carry_account_id(self) -> None:
        """Fill an empty User ID or Username from the other type's: both are the store's User ID.

        The other value is the stored one on an edit, or the one typed before the
        type was switched (passed in ``initial``).
        """
        if self.initial.get(self.account_field):
            return
        for other_type, (other_field, _) in CREDENTIAL_FIELDS.items():
            if other_type == self.selected_type:
                continue
            # The admin's form class lists only the shown type's fields: ask the row too.
            other = self.initial.get(other_field) or getattr(self.instance, other_field, "")
            if other:
                self.initial[self.account_field] = other

    def _choose_api_type(self, requested: str | None) -> str:
        """Pick the type whose fields this form has: asked for, else posted, else stored."""
        known = Connection.ApiType.values
        if requested in known:
            return str(requested)
        if self.is_bound:
            posted = self.data.get(self.add_prefix("api_type"))
            if posted in known:
                return str(posted)
        if self.instance.api_type in known:
            return str(self.instance.api_type)
        return str(Connection.ApiType.MERCHANT)

    def _configure_fields(self) -> None:
        name = self.fields["name"]
        # Length is checked in clean_name, with a message that says what to do; a
        # maxlength attribute would silently cut a pasted name instead.
        # NUL is one of the control characters clean_name refuses with one message.
        name.validators = [
            v
            for v in name.validators
            if not isinstance(v, MaxLengthValidator | ProhibitNullCharactersValidator)
        ]
        name.widget.attrs.pop("maxlength", None)
        name.widget.attrs.update({"autocomplete": "off", "spellcheck": "false"})
        name.required = True

        account = self.fields[self.account_field]
        account.label = CREDENTIAL_LABELS[self.account_field]
        account.help_text = ACCOUNT_HELP[self.account_field]
        account.error_messages["required"] = (
            f"Enter the {CREDENTIAL_LABELS[self.account_field]}: the store's Okendo User ID."
        )
        account.widget.attrs.update(
            {
                "autocomplete": "off",
                "spellcheck": "false",
                "autocapitalize": "off",
                "inputmode": "text",
                "placeholder": "00000000-0000-0000-0000-000000000000",
            }
        )

        secret_label = CREDENTIAL_LABELS[self.secret_field]
        secret = self.fields[self.secret_field]
        secret.label = secret_label
        if self.has_stored_secret:
            secret.error_messages["required"] = (
                f"Re-enter the {secret_label}: it is stored encrypted and never sent back to "
                "the browser, so every save needs it again."
            )
            secret.help_text = SECRET_HELP_EDIT
        else:
            secret.error_messages["required"] = f"Enter the {secret_label}."
            secret.help_text = SECRET_HELP_NEW[self.secret_field]

    # --- Field cleaning ---------------------------------------------------------

    def clean_name(self) -> str:
        name = Connection.normalize_name(self.cleaned_data["name"])
        if len(name) > NAME_MAX_LENGTH:
            raise ValidationError(
                f"Use at most {NAME_MAX_LENGTH} characters for the name "
                f"(this one has {len(name)}).",
                code="max_length",
            )
        if any(unicodedata.category(ch).startswith("C") for ch in name):
            raise ValidationError(
                "The name cannot contain control or invisible formatting characters.",
                code="invisible",
            )
        if "\ufffd" in name:
            # What Django puts where the request held bytes that are not UTF-8.
            raise ValidationError(
                "The name has characters that could not be read (�). Type it again.",
                code="unreadable",
            )
        exclude_pk = self.instance.pk if self.is_edit else None
        if selectors.connection_name_taken(name=name, exclude_pk=exclude_pk):
            raise ValidationError(name_taken_message(name), code="unique")
        return name

    def _clean_account_id(self, field: str) -> str:
        label = CREDENTIAL_LABELS[field]
        value: str = self.cleaned_data[field]
        if ":" in value:
            raise ValidationError(
                f"The {label} cannot contain “:”. Paste only the User ID.",
                code="colon",
            )
        if not _UUID.match(value):
            raise ValidationError(
                f"The {label} must be the store's Okendo User ID: a 36-character UUID such as "
                "1c8f0b3e-3f5a-4d4e-9a57-2f0c8e9b6d21.",
                code="invalid",
            )
        return value.lower()

    def clean_user_id(self) -> str:
        return self._clean_account_id("user_id")

    def clean_username(self) -> str:
        return self._clean_account_id("username")

    def clean(self) -> dict[str, Any] | None:
        cleaned = super().clean()
        if self.is_bound and self._typed_other_type_only():
            account = CREDENTIAL_LABELS[self.account_field]
            secret = CREDENTIAL_LABELS[self.secret_field]
            self.add_error(
                None,
                f"You chose {self.type_label}: its fields are {account} and {secret}. "
                "Enter them below.",
            )
        return cleaned

    def _typed_other_type_only(self) -> bool:
        """Tell whether the post filled the other type's fields but not the chosen type's.

        Happens without JavaScript when the type changed but the page did not.
        """
        mine = [
            self.data.get(self.add_prefix(name)) for name in CREDENTIAL_FIELDS[self.selected_type]
        ]
        others = [
            self.data.get(self.add_prefix(name))
            for api_type, names in CREDENTIAL_FIELDS.items()
            if api_type != self.selected_type
            for name in names
        ]
        return not any(mine) and any(others)

    def save(self, commit: bool = True) -> Connection:
        raise TypeError(
            "ConnectionForm does not save: pass form.connection_data() to "
            "services.connection_create or services.connection_update."
        )

    # --- For services and templates ------------------------------------------

    def connection_data(self) -> ConnectionData:
        """Return the validated values for the services (call after ``is_valid()``)."""
        return ConnectionData(
            name=self.cleaned_data["name"],
            api_type=self.selected_type,
            account_id=self.cleaned_data[self.account_field],
            secret=self.cleaned_data[self.secret_field],
        )

    @staticmethod
    def _type_label(api_type: str) -> str:
        return "Merchant" if api_type == Connection.ApiType.MERCHANT else "Storefront"

    @property
    def type_label(self) -> str:
        return self._type_label(self.selected_type)

    @property
    def api_type_choices(self) -> list[dict[str, Any]]:
        """Return the API type cards: value, title, tagline, description, checked."""
        choices = []
        selected = self.selected_type
        if self.is_bound and self.data.get(self.add_prefix("api_type")) not in (
            Connection.ApiType.values
        ):
            selected = ""
        for value, label in Connection.ApiType.choices:
            title, _, tagline = str(label).partition(" — ")
            choices.append(
                {
                    "value": value,
                    "label": label,
                    "title": title,
                    "tagline": tagline,
                    "description": API_TYPE_DESCRIPTIONS[value],
                    "checked": value == selected,
                }
            )
        return choices

    @property
    def type_change_warning(self) -> str:
        """Say what saving would erase when an edit switches the API type, else ''."""
        if not self.is_edit or self.stored_api_type == self.selected_type:
            return ""
        old_account, old_secret = CREDENTIAL_FIELDS[self.stored_api_type]
        return (
            f"Saving as {self.type_label} erases the stored "
            f"{self._type_label(self.stored_api_type)} {CREDENTIAL_LABELS[old_account]} and "
            f"{CREDENTIAL_LABELS[old_secret]}."
        )

    @property
    def has_stored_secret(self) -> bool:
        """Tell whether a secret of the chosen type is stored: it is re-entered, not entered."""
        return (
            self.is_edit
            and self.stored_api_type == self.selected_type
            and self.instance.has_secret(self.secret_field)
        )

    def _stored_secret(self, field: SecretField) -> SecretSummary | None:
        if not self.has_stored_secret:
            return None
        return self.instance.secret_summary(field)

    @property
    def invalid_fields(self) -> list[forms.BoundField]:
        """Return the fields with errors, in page order, for the error summary."""
        return [field for field in self.visible_fields() if field.errors]

    def credential_rows(self) -> list[CredentialRow]:
        """Return the credential fields with their re-entry notice and stored-secret summary."""
        rows = []
        for name in (self.account_field, self.secret_field):
            bound = self[name]
            is_secret = name == self.secret_field
            notice = ""
            if is_secret and self.is_bound and self.errors and not bound.errors:
                notice = (
                    f"Re-enter the {CREDENTIAL_LABELS[name]}: secrets are never sent back "
                    "to the browser."
                )
            stored = self._stored_secret(self.secret_field) if is_secret else None
            rows.append(
                CredentialRow(field=bound, is_secret=is_secret, notice=notice, stored=stored)
            )
        return rows
