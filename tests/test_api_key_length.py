"""API keys are 32 characters (Okendo's Merchant REST API docs): any other length is refused.

One rule in the services, used by the app's form, the admin and every other caller,
with the message beside the field and nothing stored.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError

from connections import services
from connections.forms import ConnectionForm
from connections.models import Connection
from connections.sensitive import Secret
from connections.services import ConnectionData
from tests.factories import (
    API_KEY,
    CONNECTION_ACTIONS,
    USER_ID,
    client_for,
    create_connection,
    make_user,
    merchant_post,
    storefront_post,
)

pytestmark = pytest.mark.django_db

THREE = "abc"
THIRTY_THREE = "sk_test_NOT_A_REAL_KEY_0000000001"


@pytest.fixture
def operator() -> User:
    return make_user("kay", *CONNECTION_ACTIONS, is_staff=True)


def test_fixture_and_fake_okendo_keys_are_okendo_shaped(okendo) -> None:
    assert len(API_KEY) == len(okendo.api_key) == services.API_KEY_LENGTH == 32


@pytest.mark.parametrize(("key", "length"), [(THREE, 3), (THIRTY_THREE, 33), ("k" * 31, 31)])
def test_form_says_beside_the_field_how_long_the_key_is(key: str, length: int) -> None:
    form = ConnectionForm(merchant_post(api_key=key))

    assert not form.is_valid()
    assert form.errors["api_key"] == [
        f"Okendo API keys are 32 characters; this one has {length}. "
        "Copy the whole key, and only the key."
    ]


def test_form_accepts_a_32_character_key_and_any_password_length() -> None:
    assert ConnectionForm(merchant_post(api_key="k" * 32)).is_valid()
    assert ConnectionForm(storefront_post(password="abc")).is_valid()


def test_create_page_shows_the_message_beside_the_field_and_saves_nothing(
    operator: User,
) -> None:
    response = client_for(operator).post("/connections/new/", merchant_post(api_key=THREE))

    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="id_api_key_error"' in html
    assert "Okendo API keys are 32 characters; this one has 3." in html
    assert not Connection.objects.exists()


def test_services_refuse_another_length_on_create_and_update(operator: User) -> None:
    data = ConnectionData(
        name="Short key", api_type="merchant", account_id=USER_ID, secret=Secret(THREE)
    )
    with pytest.raises(ValidationError) as refused:
        services.connection_create(actor=operator, data=data)
    assert refused.value.message_dict == {
        "api_key": [
            "Okendo API keys are 32 characters; this one has 3. "
            "Copy the whole key, and only the key."
        ]
    }
    assert not Connection.objects.exists()

    connection = create_connection(operator, name="Shop", account_id=USER_ID, secret=API_KEY)
    with pytest.raises(ValidationError):
        services.connection_update(connection=connection, actor=operator, data=data)
    connection.refresh_from_db()
    assert connection.name == "Shop"
    assert connection.get_api_key().reveal() == API_KEY


def test_admin_shows_the_message_beside_the_field(operator: User) -> None:
    response = client_for(operator).post(
        "/admin/connections/connection/add/", merchant_post(api_key=THREE)
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["api_key"] == [
        "Okendo API keys are 32 characters; this one has 3. Copy the whole key, and only the key."
    ]
    assert not Connection.objects.exists()
