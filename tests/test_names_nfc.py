"""Names are compared, stored and searched in Unicode NFC: "Café" typed two ways is one name.

Covers every way a name comes in (the app's form, the admin, the services that
the REST API calls, the list's and the admin's search) and the migration that
normalises names saved before.
"""

from __future__ import annotations

import logging
import unicodedata

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import connection as db_connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client

from connections import selectors, services
from connections.forms import ConnectionForm
from connections.models import Connection, ConnectionEvent
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
)

COMPOSED = "Café EU reviews"  # é is U+00E9
DECOMPOSED = unicodedata.normalize("NFD", COMPOSED)  # e + U+0301

# The migration under test and the one before it (renumber with the file).
BEFORE = ("connections", "0010_list_indexes")
NORMALIZE = ("connections", "0011_normalize_names_nfc")


def test_the_two_spellings_differ_but_look_the_same() -> None:
    assert COMPOSED != DECOMPOSED
    assert len(DECOMPOSED) == len(COMPOSED) + 1


@pytest.fixture
def operator(db) -> User:
    return make_user("nora", *CONNECTION_ACTIONS, is_staff=True)


@pytest.fixture
def cafe(operator: User) -> Connection:
    return create_connection(operator, name=COMPOSED, account_id=USER_ID, secret=API_KEY)


# --- The app ----------------------------------------------------------------------


def test_form_refuses_the_decomposed_spelling_of_a_taken_name(cafe: Connection) -> None:
    form = ConnectionForm(merchant_post(name=DECOMPOSED))

    assert not form.is_valid()
    assert form.errors["name"] == [
        f"A connection named “{COMPOSED}” already exists. Choose another name."
    ]


def test_form_cleans_a_decomposed_name_to_nfc(db) -> None:
    form = ConnectionForm(merchant_post(name=DECOMPOSED))

    assert form.is_valid(), form.errors
    assert form.connection_data().name == COMPOSED


def test_create_page_stores_the_name_in_nfc_and_refuses_its_twin(operator: User) -> None:
    client = client_for(operator)

    first = client.post("/connections/new/", merchant_post(name=DECOMPOSED))
    second = client.post("/connections/new/", merchant_post(name=COMPOSED))

    assert first.status_code == 302
    assert list(Connection.objects.values_list("name", flat=True)) == [COMPOSED]
    assert second.status_code == 200
    assert "already exists" in second.content.decode()


def test_edit_page_refuses_renaming_to_the_twin_of_another_name(
    operator: User, cafe: Connection
) -> None:
    other = create_connection(operator, name="US reviews", account_id=USER_ID, secret=API_KEY)

    response = client_for(operator).post(
        f"/connections/{other.pk}/edit/", merchant_post(name=DECOMPOSED.upper())
    )

    assert response.status_code == 200
    assert "already exists" in response.content.decode()
    other.refresh_from_db()
    assert other.name == "US reviews"


def test_list_search_finds_the_name_whichever_way_the_search_is_typed(
    operator: User, cafe: Connection
) -> None:
    client = client_for(operator)
    for search in (COMPOSED[:4], DECOMPOSED[:5]):
        page = client.get("/connections/", {"q": search}).content.decode()
        assert f">{COMPOSED}<" in page, search

    assert [row.name for row in selectors.connection_list(search=DECOMPOSED[:5])] == [COMPOSED]


# --- Services: every caller, the REST API included -------------------------------------


def test_services_store_names_in_nfc_and_refuse_the_twin(operator: User) -> None:
    created = create_connection(operator, name=DECOMPOSED, account_id=USER_ID, secret=API_KEY)
    assert Connection.objects.get(pk=created.pk).name == COMPOSED

    with pytest.raises(ValidationError) as refused:
        create_connection(operator, name=COMPOSED.upper(), account_id=USER_ID, secret=API_KEY)
    assert "already exists" in str(refused.value)
    assert Connection.objects.count() == 1


def test_services_update_stores_names_in_nfc(operator: User) -> None:
    connection = create_connection(operator, name="Plain", account_id=USER_ID, secret=API_KEY)
    data = ConnectionData(
        name=DECOMPOSED, api_type="merchant", account_id=USER_ID, secret=Secret(API_KEY)
    )
    services.connection_update(connection=connection, actor=operator, data=data)

    connection.refresh_from_db()
    assert connection.name == COMPOSED
    event = ConnectionEvent.objects.filter(action="updated").get()
    assert event.connection_name == COMPOSED


def test_name_taken_compares_in_nfc(cafe: Connection) -> None:
    assert selectors.connection_name_taken(name=DECOMPOSED)
    assert selectors.connection_name_taken(name=DECOMPOSED.upper())


# --- The admin ---------------------------------------------------------------------


@pytest.fixture
def admin_client(operator: User) -> Client:
    return client_for(operator)


def test_admin_add_stores_nfc_and_refuses_the_twin(admin_client: Client) -> None:
    add = "/admin/connections/connection/add/"
    first = admin_client.post(add, merchant_post(name=DECOMPOSED))
    second = admin_client.post(add, merchant_post(name=COMPOSED))

    assert first.status_code == 302
    assert list(Connection.objects.values_list("name", flat=True)) == [COMPOSED]
    assert second.status_code == 200
    assert "already exists" in second.content.decode()


def test_admin_search_finds_the_name_whichever_way_it_is_typed(
    admin_client: Client, cafe: Connection
) -> None:
    response = admin_client.get("/admin/connections/connection/", {"q": DECOMPOSED[:5]})

    assert response.context["cl"].result_count == 1


# --- The migration -----------------------------------------------------------------


def _migrate(target: tuple[str, str]) -> None:
    executor = MigrationExecutor(db_connection)
    executor.loader.build_graph()
    executor.migrate([target])


@pytest.fixture
def before_migration(transactional_db):
    _migrate(BEFORE)
    apps = MigrationExecutor(db_connection).loader.project_state([BEFORE]).apps
    yield apps
    _migrate(_latest())


def _latest() -> tuple[str, str]:
    executor = MigrationExecutor(db_connection)
    leaves = [node for node in executor.loader.graph.leaf_nodes() if node[0] == "connections"]
    return leaves[0]


def _add(apps, name: str) -> int:
    model = apps.get_model("connections", "Connection")
    return model.objects.create(name=name, api_type="merchant", user_id=USER_ID).pk


def test_migration_normalises_stored_names_and_their_history(before_migration) -> None:
    pk = _add(before_migration, DECOMPOSED)
    plain = _add(before_migration, "US reviews")
    before_migration.get_model("connections", "ConnectionEvent").objects.create(
        connection_id=pk,
        connection_uid=Connection.objects.get(pk=pk).uid,
        connection_name=DECOMPOSED,
        action="created",
        summary="Created.",
        details={},
    )

    _migrate(NORMALIZE)

    assert Connection.objects.get(pk=pk).name == COMPOSED
    assert Connection.objects.get(pk=plain).name == "US reviews"
    assert ConnectionEvent.objects.get().connection_name == COMPOSED


def test_migration_leaves_colliding_names_and_reports_them(
    before_migration, caplog: pytest.LogCaptureFixture
) -> None:
    composed = _add(before_migration, COMPOSED)
    decomposed = _add(before_migration, DECOMPOSED.upper())  # differs in case and form
    lone = _add(before_migration, unicodedata.normalize("NFD", "Zürich"))

    with caplog.at_level(logging.WARNING, logger="connections.migrations"):
        _migrate(NORMALIZE)

    # Nothing failed half-way: the lone name is normalised, the colliding one kept as it was.
    assert Connection.objects.get(pk=lone).name == "Zürich"
    assert Connection.objects.get(pk=composed).name == COMPOSED
    assert Connection.objects.get(pk=decomposed).name == DECOMPOSED.upper()
    [record] = [r for r in caplog.records if r.name == "connections.migrations"]
    assert f"Connection {decomposed} was not renamed" in record.getMessage()
    assert str(composed) in record.getMessage()
