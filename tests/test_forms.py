"""ConnectionForm: fields follow the API type, every validation message, secrets never echoed."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.test import Client

from connections.forms import ConnectionForm
from connections.models import Connection
from connections.sensitive import Secret
from tests.factories import (
    API_KEY,
    PASSWORD,
    STORE_ID,
    USER_ID,
    create_connection,
    merchant_post,
    storefront_post,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def superuser() -> User:
    return User.objects.create_superuser("alice", "alice@example.com")


@pytest.fixture
def merchant(superuser: User) -> Connection:
    return create_connection(superuser, name="Existing shop", account_id=USER_ID, secret=API_KEY)


def errors(form: ConnectionForm, field: str) -> list[str]:
    assert not form.is_valid()
    return [str(message) for message in form.errors.get(field, [])]


# --- Fields follow the API type -------------------------------------------------


def test_unbound_form_defaults_to_merchant_fields() -> None:
    form = ConnectionForm()

    assert form.selected_type == "merchant"
    assert set(form.fields) == {"name", "api_type", "user_id", "api_key"}
    assert form.initial["api_type"] == "merchant"


def test_api_type_argument_gives_storefront_fields() -> None:
    form = ConnectionForm(api_type="storefront")

    assert set(form.fields) == {"name", "api_type", "username", "password"}
    assert form.initial["api_type"] == "storefront"


def test_unknown_api_type_argument_falls_back_to_merchant() -> None:
    assert ConnectionForm(api_type="enterprise").selected_type == "merchant"


def test_bound_form_takes_its_fields_from_the_posted_type() -> None:
    form = ConnectionForm(storefront_post())

    assert form.is_valid(), form.errors
    assert set(form.fields) == {"name", "api_type", "username", "password"}
    data = form.connection_data()
    assert (data.api_type, data.account_id) == ("storefront", STORE_ID)
    assert data.secret == Secret(PASSWORD)


def test_only_the_chosen_types_fields_are_validated() -> None:
    # Garbage in the other type's fields is ignored, never validated or stored.
    form = ConnectionForm(merchant_post(username="not a uuid", password="has spaces in it"))

    assert form.is_valid(), form.errors
    assert "username" not in form.cleaned_data
    assert "password" not in form.cleaned_data


def test_edit_form_uses_the_stored_type(merchant: Connection) -> None:
    form = ConnectionForm(instance=merchant)

    assert form.selected_type == "merchant"
    assert form["user_id"].value() == USER_ID
    assert form.type_change_warning == ""


def test_edit_form_switched_type_warns_what_saving_erases(merchant: Connection) -> None:
    form = ConnectionForm(instance=merchant, api_type="storefront")

    assert set(form.fields) == {"name", "api_type", "username", "password"}
    assert form.type_change_warning == (
        "Saving as Storefront erases the stored Merchant User ID and API key."
    )


def test_form_does_not_save_itself() -> None:
    form = ConnectionForm(merchant_post())
    assert form.is_valid()

    with pytest.raises(TypeError, match=r"services\.connection_create"):
        form.save()


# --- Name -------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["", "   "])
def test_name_is_required(name: str) -> None:
    assert errors(ConnectionForm(merchant_post(name=name)), "name") == [
        "Enter a name for this connection."
    ]


def test_name_is_trimmed() -> None:
    form = ConnectionForm(merchant_post(name="  Shop EU \t"))

    assert form.is_valid(), form.errors
    assert form.connection_data().name == "Shop EU"


def test_name_of_100_characters_is_accepted() -> None:
    assert ConnectionForm(merchant_post(name="n" * 100)).is_valid()


def test_name_longer_than_100_characters_is_refused() -> None:
    assert errors(ConnectionForm(merchant_post(name="n" * 101)), "name") == [
        "Use at most 100 characters for the name (this one has 101)."
    ]


def test_name_input_has_no_maxlength_that_would_cut_a_paste() -> None:
    assert "maxlength" not in str(ConnectionForm()["name"])


@pytest.mark.parametrize("name", ["Shop\x00", "Shop\x07bell", "Shop\u202eevil"])
def test_name_with_control_characters_is_refused(name: str) -> None:
    assert errors(ConnectionForm(merchant_post(name=name)), "name") == [
        "The name cannot contain control or invisible formatting characters."
    ]


def test_name_that_was_not_utf8_is_refused(superuser: User) -> None:
    client = Client()
    # Found by trying it: raw bytes \xff\xfe became a connection named "��".
    client.force_login(superuser)
    body = b"&".join(
        [
            b"name=%FF%FEshop",
            b"api_type=merchant",
            b"user_id=" + USER_ID.encode(),
            b"api_key=" + API_KEY.encode(),
        ]
    )

    response = client.post(
        "/connections/new/", data=body, content_type="application/x-www-form-urlencoded"
    )

    assert response.status_code == 200
    assert "could not be read" in response.content.decode()
    assert not Connection.objects.exists()


def test_name_must_be_unique_ignoring_case(merchant: Connection) -> None:
    assert errors(ConnectionForm(merchant_post(name="EXISTING shop")), "name") == [
        "A connection named “EXISTING shop” already exists. Choose another name."
    ]


def test_name_is_unique_ignoring_case_beyond_ascii(superuser: User) -> None:
    create_connection(superuser, name="Été reviews", account_id=USER_ID, secret=API_KEY)

    assert errors(ConnectionForm(merchant_post(name="ÉTÉ REVIEWS")), "name") == [
        "A connection named “ÉTÉ REVIEWS” already exists. Choose another name."
    ]


def test_database_refuses_a_name_differing_only_in_non_ascii_case(superuser: User) -> None:
    # The constraint itself, not just the form: a race past the form's check
    # must still fail on SQLite as it does on PostgreSQL.
    create_connection(superuser, name="Grüße", account_id=USER_ID, secret=API_KEY)
    duplicate = Connection(name="GRÜßE", api_type="merchant", user_id=USER_ID)
    duplicate.set_api_key(Secret(API_KEY))

    with pytest.raises(IntegrityError), transaction.atomic():
        duplicate.save()


def test_edit_may_keep_its_own_name_in_another_case(merchant: Connection) -> None:
    form = ConnectionForm(merchant_post(name="EXISTING SHOP"), instance=merchant)

    assert form.is_valid(), form.errors


# --- User ID and username -----------------------------------------------------------


def test_user_id_is_required() -> None:
    assert errors(ConnectionForm(merchant_post(user_id="")), "user_id") == [
        "Enter the User ID: the store's Okendo User ID."
    ]


@pytest.mark.parametrize(
    "value",
    [
        "not-a-uuid",
        "1c8f0b3e3f5a4d4e9a572f0c8e9b6d21",  # no hyphens
        "{1c8f0b3e-3f5a-4d4e-9a57-2f0c8e9b6d21}",
        "1c8f0b3e-3f5a-4d4e-9a57-2f0c8e9b6d2g",
        "1c8f0b3e-3f5a-4d4e-9a57\n-2f0c8e9b6d21",
        "1c8f0b3e-3f5a-4d4e-9a57-2f0c8e9b6d21-00",
    ],
)
def test_user_id_must_be_a_uuid(value: str) -> None:
    assert errors(ConnectionForm(merchant_post(user_id=value)), "user_id") == [
        "The User ID must be the store's Okendo User ID: a 36-character UUID such as "
        "1c8f0b3e-3f5a-4d4e-9a57-2f0c8e9b6d21."
    ]


def test_user_id_with_a_colon_gets_its_own_message() -> None:
    assert errors(ConnectionForm(merchant_post(user_id=f"{USER_ID}:{API_KEY}")), "user_id") == [
        "The User ID cannot contain “:”. Paste only the User ID."
    ]


def test_user_id_is_stored_in_lower_case_and_trimmed() -> None:
    form = ConnectionForm(merchant_post(user_id=f"  {USER_ID.upper()} "))

    assert form.is_valid(), form.errors
    assert form.connection_data().account_id == USER_ID


def test_nil_uuid_from_okendos_docs_is_accepted() -> None:
    assert ConnectionForm(merchant_post(user_id="00000000-0000-0000-0000-000000000000")).is_valid()


def test_username_must_be_the_okendo_user_id() -> None:
    assert errors(ConnectionForm(storefront_post(username="shop-owner")), "username") == [
        "The Username must be the store's Okendo User ID: a 36-character UUID such as "
        "1c8f0b3e-3f5a-4d4e-9a57-2f0c8e9b6d21."
    ]


def test_username_with_a_colon_gets_its_own_message() -> None:
    assert errors(ConnectionForm(storefront_post(username="a:b")), "username") == [
        "The Username cannot contain “:”. Paste only the User ID."
    ]


def test_username_is_required() -> None:
    assert errors(ConnectionForm(storefront_post(username="")), "username") == [
        "Enter the Username: the store's Okendo User ID."
    ]


# --- Secrets ------------------------------------------------------------------------


def test_api_key_is_required_on_create() -> None:
    assert errors(ConnectionForm(merchant_post(api_key="")), "api_key") == ["Enter the API key."]


def test_password_is_required_on_create() -> None:
    assert errors(ConnectionForm(storefront_post(password="")), "password") == [
        "Enter the Password."
    ]


def test_secret_is_required_again_on_every_edit(merchant: Connection) -> None:
    form = ConnectionForm(merchant_post(api_key=""), instance=merchant)

    assert errors(form, "api_key") == [
        "Re-enter the API key: it is stored encrypted and never sent back to the browser, "
        "so every save needs it again."
    ]


def test_password_of_256_characters_is_accepted() -> None:
    assert ConnectionForm(storefront_post(password="k" * 256)).is_valid()


@pytest.mark.parametrize(
    ("post", "field", "label"),
    [(merchant_post, "api_key", "API key"), (storefront_post, "password", "Password")],
)
def test_secret_longer_than_256_characters_is_refused(post, field: str, label: str) -> None:
    assert errors(ConnectionForm(post(**{field: "k" * 257})), field) == [
        f"The {label} can be at most 256 characters long. Check that you copied only the key."
    ]


@pytest.mark.parametrize(
    "value",
    [
        " sk_test_NOT_A_REAL_KEY",
        "sk_test_NOT_A_REAL_KEY ",
        "sk_test NOT_A_REAL_KEY",
        "sk_test_NOT_A_REAL_KEY\n",
        "sk_test\tNOT_A_REAL_KEY",
        "sk_test\x00NOT_A_REAL_KEY",
        "sk_test\x1bNOT_A_REAL_KEY",
        "sk_test\u200bNOT_A_REAL_KEY",  # zero-width space
        "sk_test\u00a0NOT_A_REAL_KEY",  # no-break space
    ],
)
@pytest.mark.parametrize(
    ("post", "field", "label"),
    [(merchant_post, "api_key", "API key"), (storefront_post, "password", "Password")],
)
def test_secret_with_whitespace_or_control_characters_is_refused(
    value: str, post, field: str, label: str
) -> None:
    assert errors(ConnectionForm(post(**{field: value})), field) == [
        f"The {label} cannot contain spaces, line breaks or other invisible or control "
        "characters. Copy it again without them."
    ]


def test_api_key_with_a_colon_is_refused() -> None:
    assert errors(ConnectionForm(merchant_post(api_key="sk_test:NOT_A_REAL_KEY")), "api_key") == [
        "The API key cannot contain “:”: HTTP Basic authentication would split it."
    ]


def test_validation_errors_never_carry_the_secret() -> None:
    secret = "sk_test_NOT_A_REAL_KEY_" + "x" * 300 + " with space"
    form = ConnectionForm(merchant_post(api_key=secret, name=""))
    assert not form.is_valid()

    for error in form.errors.as_data()["api_key"]:
        assert secret not in repr(error.params)
        assert secret not in str(error.message)
    assert secret not in str(form.errors.as_json())


def test_cleaned_secret_is_wrapped_and_masked() -> None:
    form = ConnectionForm(merchant_post())
    assert form.is_valid()

    cleaned = form.cleaned_data["api_key"]
    assert isinstance(cleaned, Secret)
    assert API_KEY not in repr(form.cleaned_data)
    assert API_KEY not in repr(form.connection_data())


def test_bound_secret_input_renders_without_a_value() -> None:
    form = ConnectionForm(merchant_post(name=""))
    assert not form.is_valid()

    html = str(form["api_key"])
    assert API_KEY not in html
    assert "value=" not in html
    assert 'type="password"' in html
    assert 'autocomplete="new-password"' in html
    assert "required" in html


def test_error_rerender_asks_to_reenter_a_valid_secret() -> None:
    form = ConnectionForm(merchant_post(name=""))
    assert not form.is_valid()

    notices = {row.field.name: row.notice for row in form.credential_rows()}
    assert notices == {
        "user_id": "",
        "api_key": "Re-enter the API key: secrets are never sent back to the browser.",
    }


def test_edit_help_shows_when_who_and_fingerprint(merchant: Connection) -> None:
    merchant.refresh_from_db()
    form = ConnectionForm(instance=merchant)

    row = form.credential_rows()[1]
    assert row.field.help_text == "Stored encrypted. Re-enter it to save changes."
    assert merchant.api_key_set_at is not None
    date = merchant.api_key_set_at.strftime("%-d %b %Y")
    assert row.stored == merchant.secret_summary("api_key")
    assert str(row.stored) == f"set {date} by alice · fingerprint {merchant.api_key_fingerprint}"


def test_switched_edit_form_shows_no_stored_note_for_the_new_type(merchant: Connection) -> None:
    form = ConnectionForm(instance=merchant, api_type="storefront")

    assert [row.stored for row in form.credential_rows()] == [None, None]


# --- API type ------------------------------------------------------------------------


@pytest.mark.parametrize("api_type", ["enterprise", "MERCHANT", "merchant ", "<script>"])
def test_tampered_api_type_gets_a_clear_error(api_type: str) -> None:
    form = ConnectionForm(merchant_post(api_type=api_type))

    assert errors(form, "api_type") == ["Unknown API type. Choose Merchant or Storefront."]
    assert not any(choice["checked"] for choice in form.api_type_choices)


def test_missing_api_type_is_required() -> None:
    data = merchant_post()
    del data["api_type"]

    assert errors(ConnectionForm(data), "api_type") == [
        "Choose an API type: Merchant or Storefront."
    ]


def test_other_types_fields_filled_explain_the_switch() -> None:
    # What a browser without JavaScript posts after picking Storefront but not pressing Change.
    form = ConnectionForm(merchant_post(api_type="storefront"))

    assert errors(form, "__all__") == [
        "You chose Storefront: its fields are Username and Password. Enter them below."
    ]


def test_api_type_choices_carry_the_issue_labels() -> None:
    labels = [choice["label"] for choice in ConnectionForm().api_type_choices]

    assert labels == [
        "Merchant — reviews (stores), customers and groups",
        "Storefront — reviews per store, product or group",
    ]
