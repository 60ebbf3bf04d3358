"""One safe summary of a stored secret: the same on the form, the detail page and the admin."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import User
from django.template.loader import render_to_string
from django.utils import timezone

from connections.models import Connection, SecretField, SecretSummary
from tests.factories import (
    API_KEY,
    CONNECTION_ACTIONS,
    PASSWORD,
    USER_ID,
    client_for,
    create_connection,
    make_user,
    save_connection,
)

pytestmark = pytest.mark.django_db

# 23:30 UTC on 3 Nov is already 4 Nov in Auckland.
SET_AT = datetime(2026, 11, 3, 23, 30, tzinfo=UTC)

PAGES = {
    "form": "/connections/{pk}/edit/",
    "detail": "/connections/{pk}/",
    "admin": "/admin/connections/connection/{pk}/change/",
}


@pytest.fixture
def alice() -> User:
    return make_user("alice", *CONNECTION_ACTIONS, is_staff=True)


@pytest.fixture
def merchant(alice: User) -> Connection:
    return create_connection(alice, name="Summary shop", account_id=USER_ID, secret=API_KEY)


@pytest.fixture
def storefront(alice: User) -> Connection:
    return create_connection(
        alice,
        name="Summary storefront",
        account_id=USER_ID,
        secret=PASSWORD,
        api_type="storefront",
    )


def test_summary_says_when_by_whom_and_the_fingerprint(merchant: Connection) -> None:
    Connection.objects.filter(pk=merchant.pk).update(api_key_set_at=SET_AT)
    merchant.refresh_from_db()

    summary = merchant.secret_summary("api_key")

    assert summary == SecretSummary(
        set_at=SET_AT, set_by="alice", fingerprint=merchant.api_key_fingerprint
    )
    assert str(summary) == f"set 3 Nov 2026 by alice · fingerprint {merchant.api_key_fingerprint}"


def test_summary_date_is_in_the_current_time_zone(merchant: Connection) -> None:
    Connection.objects.filter(pk=merchant.pk).update(api_key_set_at=SET_AT)
    merchant.refresh_from_db()

    with timezone.override("Pacific/Auckland"):
        assert str(merchant.secret_summary("api_key")).startswith("set 4 Nov 2026 by alice")


def test_summary_without_an_author_leaves_out_who() -> None:
    connection = save_connection(account_id=USER_ID, secret=API_KEY)

    line = str(connection.secret_summary("api_key"))

    assert " by " not in line
    assert line.endswith(f" · fingerprint {connection.api_key_fingerprint}")


def test_no_summary_for_a_secret_not_stored(merchant: Connection) -> None:
    assert merchant.secret_summary("password") is None
    assert merchant.password_summary is None


def test_summary_holds_nothing_of_the_secret_or_its_ciphertext(merchant: Connection) -> None:
    summary = merchant.secret_summary("api_key")

    assert [field.name for field in dataclasses.fields(SecretSummary)] == [
        "set_at",
        "set_by",
        "fingerprint",
    ]
    for shown in (str(summary), repr(summary)):
        assert API_KEY not in shown
        assert merchant.api_key_encrypted not in shown


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("kind", ["merchant", "storefront"])
def test_each_page_shows_the_one_summary_and_never_the_value(
    request: pytest.FixtureRequest, alice: User, page: str, kind: str
) -> None:
    connection: Connection = request.getfixturevalue(kind)
    field: SecretField = "api_key" if kind == "merchant" else "password"
    summary = Connection.objects.get(pk=connection.pk).secret_summary(field)
    assert summary is not None
    shown = render_to_string("connections/_secret_meta.html", {"summary": summary}).strip()

    response = client_for(alice).get(PAGES[page].format(pk=connection.pk))
    html = response.content.decode()

    assert response.status_code == 200
    assert html.count(shown) == 1
    assert f"· {summary}</span>" in shown
    for value in (API_KEY, PASSWORD, getattr(connection, f"{field}_encrypted")):
        assert value not in html
