"""Hostile input against every field and URL: a message beside the field or a 4xx, never a 500.

Every test also proves that nothing already stored changed: each ``Connection``
and ``ConnectionEvent`` row, every column including the ``*_encrypted`` ones,
is compared before and after. Two rules only PostgreSQL enforces are enforced
here on SQLite too (see ``postgresql_rules``), so a 500 that would appear only in
production shows up in every run.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from axes.models import AccessAttempt
from django.apps import apps
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.db import DataError, connection, models
from django.db.models import Q
from django.db.models.functions import Length
from django.test import Client
from django.utils.html import escape

from connections import services
from connections.models import Connection, ConnectionEvent
from connections.sensitive import Secret
from connections.services import ConnectionData
from tests import factories
from tests.factories import (
    API_KEY,
    CONNECTION_ACTIONS,
    PASSWORD,
    STORE_ID,
    USER_ID,
    client_for,
    create_connection,
    make_user,
)

pytestmark = pytest.mark.django_db

TEN_KB = "x" * 10 * 1024
HTML = '<script>alert("x")</script><img src=x onerror=alert(1)>'
SQL = "'; DROP TABLE connections_connection; --"
SQL_NO_SPACES = "1'OR'1'='1';DROP/**/TABLE/**/connections_connection;--"
RLO = "invoice\u202egpj.exe"
NUL = "abc\x00def"
BELL = "abc\x07def"
ESCAPE = "abc\x1b[31mdef"
NEWLINE = "abc\r\ndef"
ZERO_WIDTH = "abc\u200bdef"


# --- PostgreSQL's rules, on every backend ----------------------------------------------


def _query_values(params: Any, many: bool) -> Iterator[Any]:
    rows = params if many else [params]
    for row in rows or ():
        yield from (row.values() if isinstance(row, dict) else row or ())


def _refuse_nul(execute, sql, params, many, context):
    for value in _query_values(params, many):
        if isinstance(value, str) and "\x00" in value:
            # What psycopg raises on PostgreSQL; SQLite would store or search it quietly.
            raise DataError("PostgreSQL text fields cannot contain NUL (0x00) bytes")
    return execute(sql, params, many, context)


def values_too_long_for_postgresql() -> list[str]:
    """Return ``model.field`` for every stored value longer than its column allows.

    SQLite ignores ``max_length``; PostgreSQL's varchar refuses the write with a 500.
    One query per model, so it can run after every test.
    """
    found = set()
    for model in apps.get_models():
        limits = {
            field.attname: field.max_length
            for field in model._meta.concrete_fields
            if isinstance(field, models.CharField) and field.max_length
        }
        if not limits:
            continue
        lengths = {f"_len_{name}": Length(name) for name in limits}
        too_long = Q()
        for name, limit in limits.items():
            too_long |= Q(**{f"_len_{name}__gt": limit})
        for row in model._default_manager.annotate(**lengths).filter(too_long).values(*lengths):
            for name, limit in limits.items():
                if row[f"_len_{name}"] > limit:
                    found.add(f"{model._meta.label}.{name}")
    return sorted(found)


@pytest.fixture(autouse=True)
def postgresql_rules(db) -> Iterator[None]:
    """Fail like PostgreSQL on NUL in any query, and check no stored value overflows its column."""
    with connection.execute_wrapper(_refuse_nul):
        yield
    assert values_too_long_for_postgresql() == []


# --- People, connections and snapshots ----------------------------------------------------


@pytest.fixture
def editor() -> User:
    # Staff: the admin's pages too, with the same permissions.
    return make_user("erin", *CONNECTION_ACTIONS, is_staff=True)


@pytest.fixture
def client(editor: User) -> Client:
    return client_for(editor)


@pytest.fixture
def merchant(editor: User) -> Connection:
    return create_connection(editor, name="Existing shop", account_id=USER_ID, secret=API_KEY)


@pytest.fixture
def storefront(editor: User) -> Connection:
    return create_connection(
        editor,
        name="Storefront shop",
        api_type="storefront",
        account_id=STORE_ID,
        secret=PASSWORD,
    )


@pytest.fixture
def stored(editor: User, merchant: Connection, storefront: Connection) -> dict[str, Connection]:
    """Both connections, with an update in the history too."""
    services.connection_update(
        connection=merchant,
        actor=editor,
        data=ConnectionData(
            name="Existing shop", api_type="merchant", account_id=USER_ID, secret=Secret(API_KEY)
        ),
    )
    return {"merchant": merchant, "storefront": storefront}


def snapshot() -> dict[str, list[dict[str, Any]]]:
    """Return every column of every connection and event row, ciphertext included."""
    models_: tuple[type[models.Model], ...] = (Connection, ConnectionEvent)
    return {
        model._meta.label: [dict(row) for row in model._default_manager.order_by("pk").values()]
        for model in models_
    }


def merchant_post(**overrides: str) -> dict[str, str]:
    return factories.merchant_post(**{"name": "New shop", **overrides})


def storefront_post(**overrides: str) -> dict[str, str]:
    return factories.storefront_post(**{"name": "New storefront", **overrides})


def field_error(html: str, field: str) -> str:
    """Return the text of the error block beside ``field``, or '' when there is none.

    The app renders ``<div class="field__error" id="id_<field>_error">``, the admin
    ``<ul class="errorlist" id="id_<field>_error">``.
    """
    start = html.find(f'id="id_{field}_error"')
    if start < 0:
        return ""
    ends = [end for end in (html.find("</div>", start), html.find("</ul>", start)) if end >= 0]
    return html[start : min(ends)]


# --- Field values: refused with a message beside the field ---------------------------------

REQUIRED_NAME = "Enter a name for this connection."
NAME_CONTROL = "The name cannot contain control or invisible formatting characters."
NOT_A_UUID = "must be the store&#x27;s Okendo User ID: a 36-character UUID"
SECRET_INVISIBLE = "cannot contain spaces, line breaks or other invisible or control characters"
NULL_CHARACTERS = "Null characters are not allowed."

# (field, label, value, message on the create page, message on the edit page if different)
REFUSED: list[tuple[str, str, str, str, str | None]] = [
    ("name", "empty", "", REQUIRED_NAME, None),
    ("name", "whitespace", " \t \u3000 ", REQUIRED_NAME, None),
    ("name", "10kB", TEN_KB, "Use at most 100 characters for the name (this one has 10240).", None),
    ("name", "NUL", NUL, NAME_CONTROL, None),
    ("name", "bell", BELL, NAME_CONTROL, None),
    ("name", "escape", ESCAPE, NAME_CONTROL, None),
    ("name", "newline", NEWLINE, NAME_CONTROL, None),
    ("name", "RLO", RLO, NAME_CONTROL, None),
    ("name", "zero-width", ZERO_WIDTH, NAME_CONTROL, None),
    ("user_id", "empty", "", "Enter the User ID", None),
    ("user_id", "whitespace", "   ", "Enter the User ID", None),
    ("user_id", "10kB", TEN_KB, NOT_A_UUID, None),
    ("user_id", "NUL", USER_ID[:-1] + "\x00", NULL_CHARACTERS, None),
    ("user_id", "control", USER_ID[:-1] + "\x07", NOT_A_UUID, None),
    ("user_id", "RLO", "\u202e" + USER_ID[1:], NOT_A_UUID, None),
    ("user_id", "HTML", HTML, NOT_A_UUID, None),
    ("user_id", "SQL", SQL, NOT_A_UUID, None),
    ("user_id", "colon", f"{USER_ID}:{API_KEY}", "The User ID cannot contain “:”.", None),
    ("user_id", "newline-inside", USER_ID[:8] + "\n" + USER_ID[8:], NOT_A_UUID, None),
    ("api_key", "empty", "", "Enter the API key.", "Re-enter the API key: it is stored"),
    ("api_key", "whitespace", " \t ", SECRET_INVISIBLE, None),
    ("api_key", "10kB", TEN_KB, "The API key can be at most 256 characters long.", None),
    ("api_key", "NUL", NUL, SECRET_INVISIBLE, None),
    ("api_key", "bell", BELL, SECRET_INVISIBLE, None),
    ("api_key", "newline", NEWLINE, SECRET_INVISIBLE, None),
    ("api_key", "RLO", RLO, SECRET_INVISIBLE, None),
    ("api_key", "zero-width", ZERO_WIDTH, SECRET_INVISIBLE, None),
    ("api_key", "SQL", SQL, SECRET_INVISIBLE, None),
    ("api_key", "colon", "user:key", "The API key cannot contain “:”", None),
    ("username", "empty", "", "Enter the Username", None),
    ("username", "10kB", TEN_KB, NOT_A_UUID, None),
    ("username", "NUL", NUL, NULL_CHARACTERS, None),
    ("username", "RLO", RLO, NOT_A_UUID, None),
    ("username", "HTML", HTML, NOT_A_UUID, None),
    ("username", "SQL", SQL, NOT_A_UUID, None),
    ("username", "path traversal", "../../enterprise/reviews", NOT_A_UUID, None),
    ("password", "empty", "", "Enter the Password.", "Re-enter the Password: it is stored"),
    ("password", "whitespace", "   ", SECRET_INVISIBLE, None),
    ("password", "10kB", TEN_KB, "The Password can be at most 256 characters long.", None),
    ("password", "NUL", NUL, SECRET_INVISIBLE, None),
    ("password", "escape", ESCAPE, SECRET_INVISIBLE, None),
    ("password", "RLO", RLO, SECRET_INVISIBLE, None),
    ("password", "SQL", SQL, SECRET_INVISIBLE, None),
]


def _post_for(field: str, value: str) -> tuple[str, dict[str, str]]:
    """Return the API type the field belongs to and a post that is valid except for it."""
    if field in ("username", "password"):
        return "storefront", storefront_post(**{field: value})
    return "merchant", merchant_post(**{field: value})


# Every page that validates the form: save on create and edit, and Test with the typed
# values from either page (which must not call Okendo with them).
ADMIN_LIST = "/admin/connections/connection/"
FORM_PAGES = {
    "create": "/connections/new/",
    "edit": "/connections/{pk}/edit/",
    "test-create": "/connections/test/",
    "test-edit": "/connections/test/?connection={pk}",
    "admin-add": f"{ADMIN_LIST}add/",
    "admin-edit": f"{ADMIN_LIST}{{pk}}/change/",
}


@pytest.mark.parametrize(
    ("field", "value", "message", "edit_message"),
    [pytest.param(f, v, m, e, id=f"{f}-{label}") for f, label, v, m, e in REFUSED],
)
def test_refused_value_gets_a_message_beside_its_field_and_changes_nothing(
    client: Client,
    stored: dict[str, Connection],
    okendo,
    field: str,
    value: str,
    message: str,
    edit_message: str | None,
) -> None:
    api_type, post = _post_for(field, value)
    before = snapshot()
    messages_beside_field = {}

    for page, path in FORM_PAGES.items():
        response = client.post(path.format(pk=stored[api_type].pk), {**post, "_save": "Save"})
        assert response.status_code == 200, page
        html = response.content.decode()
        summary = 'class="errornote"' if page.startswith("admin") else "The connection was not"
        assert summary in html, page
        messages_beside_field[page] = field_error(html, field)

    expected = {
        page: edit_message if "edit" in page and edit_message else message for page in FORM_PAGES
    }
    assert {page: expected[page] in text for page, text in messages_beside_field.items()} == {
        page: True for page in FORM_PAGES
    }
    assert snapshot() == before
    assert okendo.requests == []


@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
def test_refused_value_answers_the_same_to_htmx(
    client: Client, stored: dict[str, Connection], htmx: bool
) -> None:
    before = snapshot()
    headers = {"HX-Request": "true"} if htmx else {}

    response = client.post("/connections/new/", merchant_post(name=NUL), headers=headers)

    assert response.status_code == 200
    assert NAME_CONTROL in field_error(response.content.decode(), "name")
    assert snapshot() == before


# --- Field values: accepted, stored exactly, shown escaped ---------------------------------

ODD_BUT_VALID_NAMES = [
    pytest.param(HTML, id="HTML"),
    pytest.param(SQL, id="SQL"),
    pytest.param("Robert'); DROP TABLE students;--", id="bobby-tables"),
    pytest.param("{{ connection.get_api_key.reveal }} {% debug %}", id="template-syntax"),
    pytest.param("%s %(name)s {0} %%", id="format-strings"),
    pytest.param("n" * 100, id="100-characters"),
    pytest.param("Ünïcödé 店舗 🛍️ مرحبا", id="unicode"),
]


@pytest.mark.parametrize("name", ODD_BUT_VALID_NAMES)
def test_odd_but_valid_name_is_stored_as_typed_and_shown_escaped(
    client: Client, stored: dict[str, Connection], name: str
) -> None:
    before = snapshot()

    response = client.post("/connections/new/", merchant_post(name=name))

    assert response.status_code == 302
    created = Connection.objects.exclude(pk__in=[c.pk for c in stored.values()]).get()
    assert created.name == name
    after = snapshot()
    assert [row for row in after["connections.Connection"] if row["id"] != created.pk] == before[
        "connections.Connection"
    ]
    for page, query in (
        (f"/connections/{created.pk}/", {}),
        ("/connections/", {}),
        ("/connections/", {"q": name}),
    ):
        html = client.get(page, query).content.decode()
        assert escape(name) in html, (page, query)
        if "<" in name:
            assert name not in html, (page, query)
    assert "Secret(" not in client.get(f"/connections/{created.pk}/").content.decode()


@pytest.mark.parametrize("name", ODD_BUT_VALID_NAMES[:3])
def test_renaming_to_an_odd_name_changes_only_that_connection(
    client: Client, stored: dict[str, Connection], name: str
) -> None:
    target = stored["storefront"]
    before = snapshot()

    response = client.post(f"/connections/{target.pk}/edit/", storefront_post(name=name))

    assert response.status_code == 302
    target.refresh_from_db()
    assert target.name == name
    after = snapshot()
    assert [row for row in after["connections.Connection"] if row["id"] != target.pk] == [
        row for row in before["connections.Connection"] if row["id"] != target.pk
    ]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        # API keys are 32 characters (Okendo's docs), so these are cut to that length.
        pytest.param("api_key", "<script>alert(1)</script>&<>\"'k1", id="api_key-HTML"),
        pytest.param("api_key", SQL_NO_SPACES[:32], id="api_key-SQL"),
        pytest.param("password", "k" * 256, id="password-256"),
        pytest.param("password", "pw:with:colons<&>\"'", id="password-colons-HTML"),
        pytest.param("password", "пароль🔑", id="password-unicode"),
    ],
)
def test_odd_but_valid_secret_is_stored_exactly_and_never_echoed(
    client: Client, stored: dict[str, Connection], field: str, value: str
) -> None:
    api_type, post = _post_for(field, value)
    post["name"] = "Odd secret"

    response = client.post("/connections/new/", post)

    assert response.status_code == 302
    created = Connection.objects.get(name="Odd secret")
    secret = created.get_api_key() if api_type == "merchant" else created.get_password()
    assert secret.reveal() == value
    for page in (f"/connections/{created.pk}/", f"/connections/{created.pk}/edit/"):
        html = client.get(page).content.decode()
        assert value not in html
        assert escape(value) not in html


# --- API type, case-only duplicates --------------------------------------------------------


@pytest.mark.parametrize(
    "api_type",
    ["enterprise", "", "MERCHANT", "Merchant", "merchant\x00", " storefront", HTML, TEN_KB],
    ids=["unknown", "empty", "upper", "title", "NUL", "leading-space", "HTML", "10kB"],
)
@pytest.mark.parametrize("page", ["create", "edit", "admin-add", "admin-edit"])
def test_unknown_api_type_is_refused_with_a_message(
    client: Client, stored: dict[str, Connection], api_type: str, page: str
) -> None:
    url = FORM_PAGES[page].format(pk=stored["merchant"].pk)
    before = snapshot()

    response = client.post(url, merchant_post(api_type=api_type))
    html = response.content.decode()

    assert response.status_code == 200
    expected = (
        "Choose an API type: Merchant or Storefront."
        if api_type == ""
        else "Unknown API type. Choose Merchant or Storefront."
    )
    assert expected in field_error(html, "api_type")
    assert snapshot() == before


@pytest.mark.parametrize("api_type", ["enterprise", "\x00", HTML, TEN_KB])
def test_unknown_api_type_in_the_query_string_falls_back_to_merchant(
    client: Client, stored: dict[str, Connection], api_type: str
) -> None:
    for url in ("/connections/new/", f"/connections/{stored['merchant'].pk}/edit/"):
        for headers in ({}, {"HX-Request": "true"}):
            response = client.get(url, {"api_type": api_type}, headers=headers)
            assert response.status_code == 200
            assert 'name="user_id"' in response.content.decode()


@pytest.mark.parametrize(
    "name",
    ["EXISTING SHOP", "existing shop", "eXiStInG sHoP", "  Existing shop  ", "Existing shop"],
)
@pytest.mark.parametrize("page", ["create", "edit", "admin-add", "admin-edit"])
def test_name_differing_only_in_case_is_refused(
    client: Client, stored: dict[str, Connection], name: str, page: str
) -> None:
    url = FORM_PAGES[page].format(pk=stored["storefront"].pk)
    before = snapshot()

    response = client.post(url, storefront_post(name=name))

    assert response.status_code == 200
    assert (
        f"A connection named “{name.strip()}” already exists. Choose another name."
        in field_error(response.content.decode(), "name")
    )
    assert snapshot() == before


def test_taken_html_name_is_escaped_in_the_message(client: Client, editor: User) -> None:
    services.connection_create(
        actor=editor,
        data=ConnectionData(
            name=HTML, api_type="merchant", account_id=USER_ID, secret=Secret(API_KEY)
        ),
    )
    before = snapshot()

    response = client.post("/connections/new/", merchant_post(name=HTML.upper()))
    html = response.content.decode()

    assert "already exists" in field_error(html, "name")
    assert escape(HTML.upper()) in html
    assert HTML.upper() not in html
    assert snapshot() == before


def test_no_js_type_switch_with_hostile_name_saves_nothing(
    client: Client, stored: dict[str, Connection]
) -> None:
    before = snapshot()
    for url in ("/connections/new/", f"/connections/{stored['merchant'].pk}/edit/"):
        for name in (HTML, NUL, TEN_KB, RLO):
            post = {**merchant_post(name=name, api_type="storefront"), "change_type": "1"}
            response = client.post(url, post)
            html = response.content.decode()
            assert response.status_code == 200
            assert 'name="username"' in html
            if name == HTML:
                assert HTML not in html
    assert snapshot() == before


def test_too_many_fields_is_400(client: Client, stored: dict[str, Connection]) -> None:
    before = snapshot()
    post = {**merchant_post(), **{f"extra{index}": "x" for index in range(1001)}}

    response = client.post("/connections/new/", post)

    assert response.status_code == 400
    assert snapshot() == before


# --- CSRF --------------------------------------------------------------------------------

CSRF_POSTS = [
    ("/connections/new/", merchant_post()),
    ("/connections/{merchant}/edit/", merchant_post(name="Hijacked")),
    ("/connections/{storefront}/edit/", merchant_post(name="Switched")),
    ("/connections/{merchant}/delete/", {}),
    ("/connections/{merchant}/test/", {}),
    ("/connections/test/", merchant_post()),
    ("/connections/test/?connection={merchant}", merchant_post()),
    ("/accounts/logout/", {}),
    (f"{ADMIN_LIST}add/", merchant_post()),
    (f"{ADMIN_LIST}{{merchant}}/change/", merchant_post(name="Hijacked")),
    (f"{ADMIN_LIST}{{merchant}}/delete/", {"post": "yes"}),
    (f"{ADMIN_LIST}{{merchant}}/test/", {}),
    (ADMIN_LIST, {"action": "test_selected", "_selected_action": "{merchant}"}),
    (ADMIN_LIST, {"action": "delete_selected", "_selected_action": "{merchant}", "post": "yes"}),
    ("/admin/logout/", {}),
]


@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
@pytest.mark.parametrize("token", ["missing", "wrong"])
@pytest.mark.parametrize(
    ("path", "post"), CSRF_POSTS, ids=[f"{p} {d.get('action', '')}" for p, d in CSRF_POSTS]
)
def test_post_without_a_valid_csrf_token_is_403(
    editor: User,
    stored: dict[str, Connection],
    okendo,
    path: str,
    post: dict[str, str],
    token: str,
    htmx: bool,
) -> None:
    client = client_for(editor, enforce_csrf_checks=True)
    client.get("/connections/new/")  # the CSRF cookie, as a browser would hold it
    extra: dict[str, Any] = {}
    if htmx:
        extra["HTTP_HX_REQUEST"] = "true"
    if token == "wrong":
        post = {**post, "csrfmiddlewaretoken": "x" * 64}
        extra["HTTP_X_CSRFTOKEN"] = "y" * 64
    ids = {name: c.pk for name, c in stored.items()}
    url = path.format(**ids)
    post = {key: value.format(**ids) for key, value in post.items()}
    before = snapshot()

    response = client.post(url, post, **extra)

    assert response.status_code == 403
    assert "_auth_user_id" in client.session  # not signed out either
    assert snapshot() == before
    assert okendo.requests == []


def test_csrf_token_from_the_htmx_header_is_accepted(
    editor: User, stored: dict[str, Connection]
) -> None:
    # The counterpart of the refusals above: the token htmx sends in hx-headers works.
    client = client_for(editor, enforce_csrf_checks=True)
    client.get("/connections/new/")
    token = client.cookies["csrftoken"].value

    response = client.post(
        "/connections/new/", merchant_post(), HTTP_HX_REQUEST="true", HTTP_X_CSRFTOKEN=token
    )

    assert response.status_code == 302


# --- Permissions -------------------------------------------------------------------------

FORBIDDEN_TO_VIEWERS = [
    ("get", "/connections/new/", {}),
    ("post", "/connections/new/", merchant_post()),
    ("get", "/connections/{merchant}/edit/", {}),
    ("post", "/connections/{merchant}/edit/", merchant_post(name="Hijacked")),
    ("post", "/connections/{storefront}/edit/", merchant_post(name="Switched")),
    ("post", "/connections/{merchant}/edit/", {**merchant_post(), "change_type": "1"}),
    ("get", "/connections/{merchant}/delete/", {}),
    ("post", "/connections/{storefront}/delete/", {}),
    # A test of a saved connection writes its status and history: change permission only.
    ("post", "/connections/{merchant}/test/", {}),
    ("post", "/connections/{storefront}/test/", {}),
    ("post", "/connections/test/", merchant_post()),
    ("post", "/connections/test/?connection={merchant}", merchant_post()),
    ("post", f"{ADMIN_LIST}add/", merchant_post()),
    ("post", f"{ADMIN_LIST}{{merchant}}/change/", merchant_post(name="Hijacked")),
    ("post", f"{ADMIN_LIST}{{storefront}}/change/", {**merchant_post(), "_change_type": "1"}),
    ("get", f"{ADMIN_LIST}{{merchant}}/delete/", {}),
    ("post", f"{ADMIN_LIST}{{merchant}}/delete/", {"post": "yes"}),
    ("post", f"{ADMIN_LIST}{{merchant}}/test/", {}),
]


@pytest.fixture
def viewer() -> User:
    # Staff: may open the admin, where the same permissions apply.
    return make_user("victor", "view", is_staff=True)


@pytest.mark.parametrize(
    ("method", "path", "data"),
    FORBIDDEN_TO_VIEWERS,
    ids=[f"{m}-{p}" for m, p, _ in FORBIDDEN_TO_VIEWERS],
)
def test_viewer_cannot_change_or_test_another_connection(
    stored: dict[str, Connection],
    okendo,
    viewer: User,
    method: str,
    path: str,
    data: dict[str, str],
) -> None:
    client = client_for(viewer)
    url = path.format(**{name: c.pk for name, c in stored.items()})
    before = snapshot()

    response = getattr(client, method)(url, data)

    assert response.status_code == 403
    assert snapshot() == before
    assert okendo.requests == []


@pytest.mark.parametrize("action", ["test_selected", "delete_selected"])
def test_viewer_cannot_run_admin_actions(
    stored: dict[str, Connection], okendo, viewer: User, action: str
) -> None:
    client = client_for(viewer)
    before = snapshot()
    selected = [c.pk for c in stored.values()]

    for extra in ({}, {"post": "yes"}):
        response = client.post(
            ADMIN_LIST, {"action": action, "_selected_action": selected, **extra}, follow=True
        )
        # A viewer's list offers no actions, so Django ignores the POST and shows the list.
        assert response.status_code == 200
        assert "Select connection to view" in response.content.decode()

    assert snapshot() == before
    assert okendo.requests == []


@pytest.mark.parametrize(
    "path", ["/connections/", "/connections/{merchant}/", "/connections/{storefront}/"]
)
def test_user_without_view_permission_sees_nothing(
    stored: dict[str, Connection], path: str
) -> None:
    client = client_for(make_user("nobody"))

    response = client.get(path.format(**{name: c.pk for name, c in stored.items()}))

    assert response.status_code == 403
    assert "Existing shop" not in response.content.decode()


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/connections/new/"),
        ("post", "/connections/{merchant}/edit/"),
        ("post", "/connections/{merchant}/delete/"),
        ("post", "/connections/{merchant}/test/"),
        ("post", "/connections/test/"),
        ("get", "/connections/{storefront}/"),
    ],
)
def test_anonymous_request_goes_to_sign_in_and_changes_nothing(
    stored: dict[str, Connection], okendo, method: str, path: str
) -> None:
    before = snapshot()

    response = getattr(Client(), method)(
        path.format(**{name: c.pk for name, c in stored.items()}), merchant_post()
    )

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")
    assert snapshot() == before
    assert okendo.requests == []


# --- Methods -----------------------------------------------------------------------------

WRONG_METHODS = [
    ("get", "/accounts/logout/"),
    ("post", "/connections/"),
    ("post", "/connections/{merchant}/"),
    ("put", "/connections/new/"),
    ("patch", "/connections/{merchant}/edit/"),
    ("delete", "/connections/{merchant}/"),
    ("delete", "/connections/{merchant}/delete/"),
    ("put", "/connections/{merchant}/delete/"),
    ("get", "/connections/test/"),
    ("get", "/connections/{merchant}/test/"),
    ("put", "/connections/{merchant}/test/"),
    ("head", "/connections/{merchant}/test/"),
    ("get", f"{ADMIN_LIST}{{merchant}}/test/"),
    ("get", "/admin/logout/"),
]


@pytest.mark.parametrize(("method", "path"), WRONG_METHODS)
def test_wrong_method_is_405_and_changes_nothing(
    client: Client, stored: dict[str, Connection], method: str, path: str
) -> None:
    before = snapshot()

    response = getattr(client, method)(path.format(**{name: c.pk for name, c in stored.items()}))

    assert response.status_code == 405
    assert snapshot() == before
    assert "_auth_user_id" in client.session


# --- Ids in URLs -------------------------------------------------------------------------

BAD_IDS = [
    "abc",
    "-1",
    "0",
    "1.5",
    "1e3",
    "0x10",
    "%00",
    "%EF%BC%91",  # a full-width digit one
    "%20{merchant}",
    "{merchant}%00",
    "9223372036854775807",  # the largest bigint: a valid number no row has
    "9223372036854775808",  # one past it
    "99999999999999999999",
    "9" * 400,
]


@pytest.mark.parametrize("bad_id", BAD_IDS)
def test_bad_or_huge_id_is_404(
    client: Client, stored: dict[str, Connection], okendo, bad_id: str
) -> None:
    bad_id = bad_id.format(merchant=stored["merchant"].pk)
    before = snapshot()
    answers = {}

    for suffix in ("", "edit/", "delete/", "test/"):
        url = f"/connections/{bad_id}/{suffix}"
        answers[f"GET {suffix}"] = client.get(url).status_code
        answers[f"POST {suffix}"] = client.post(url, merchant_post()).status_code
    answers["POST test/?connection="] = client.post(
        f"/connections/test/?connection={bad_id}", merchant_post()
    ).status_code

    # The method is checked before the id is looked up: POST on the GET-only detail
    # page and GET on the POST-only test URL are 405 once the id is a number.
    method_first = 405 if bad_id.isdigit() else 404
    assert answers == {
        "GET ": 404,
        "POST ": method_first,
        "GET edit/": 404,
        "POST edit/": 404,
        "GET delete/": 404,
        "POST delete/": 404,
        "GET test/": method_first,
        "POST test/": 404,
        "POST test/?connection=": 404,
    }
    assert snapshot() == before
    assert okendo.requests == []


@pytest.mark.parametrize("raw", ["", "²", "\u0661", "-1", "%00", "1 ", "9" * 40])
def test_odd_connection_parameter_of_the_values_test_is_404(
    client: Client, stored: dict[str, Connection], okendo, raw: str
) -> None:
    # "²" passes str.isdigit() but not int(); "\u0661" (Arabic-Indic one) passes both, yet
    # the <int:pk> URLs take ASCII digits only, so the parameter does too.
    before = snapshot()

    response = client.post(f"/connections/test/?connection={raw}", merchant_post())

    assert response.status_code == 404
    assert snapshot() == before
    assert okendo.requests == []


# The admin reads an id with int(), which also takes " 5" and full-width digits (U+FF15): those
# open connection 5 itself (with the same permission checks), so they are not bad here.
ADMIN_BAD_IDS = [bad_id for bad_id in BAD_IDS if bad_id not in ("%EF%BC%91", "%20{merchant}")]


@pytest.mark.parametrize("bad_id", ADMIN_BAD_IDS)
def test_bad_or_huge_id_in_the_admin_is_refused(
    client: Client, stored: dict[str, Connection], okendo, bad_id: str
) -> None:
    bad_id = bad_id.format(merchant=stored["merchant"].pk)
    before = snapshot()
    answers = {}
    shown = client.get(f"{ADMIN_LIST}{bad_id}/change/", follow=True).content.decode()
    assert "doesn\u2019t exist. Perhaps it was deleted?" in shown

    for suffix in ("change/", "history/", "delete/", "test/"):
        url = f"{ADMIN_LIST}{bad_id}/{suffix}"
        answers[f"GET {suffix}"] = client.get(url).status_code
        answers[f"POST {suffix}"] = client.post(url, {**merchant_post(), "post": "yes"}).status_code

    # Django's admin sends a missing object back to the index with a message; the Test
    # URL is POST only and answers 404.
    assert answers == {
        "GET change/": 302,
        "POST change/": 302,
        "GET history/": 302,
        "POST history/": 302,
        "GET delete/": 302,
        "POST delete/": 302,
        "GET test/": 405,
        "POST test/": 404,
    }
    assert snapshot() == before
    assert okendo.requests == []


# --- Query strings -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        {"q": NUL},
        {"q": "\x00"},
        {"q": TEN_KB},
        {"q": RLO},
        {"q": HTML},
        {"q": SQL},
        {"q": "%_\\"},  # LIKE wildcards and its escape character
        {"sort": HTML},
        {"sort": "-name\x00"},
        {"page": "abc"},
        {"page": "-1"},
        {"page": "99999999999999999999"},
        {"page": "\x00"},
        {"page": "1e9"},
    ],
    ids=repr,
)
def test_hostile_list_query_is_answered_not_crashed(
    client: Client, stored: dict[str, Connection], query: dict[str, str]
) -> None:
    before = snapshot()

    response = client.get("/connections/", query)
    html = response.content.decode()

    assert response.status_code == 200
    assert HTML not in html
    assert snapshot() == before


def test_like_wildcards_in_search_match_literally(
    client: Client, stored: dict[str, Connection]
) -> None:
    html = client.get("/connections/", {"q": "%"}).content.decode()

    assert "Existing shop" not in html
    assert "No connections match" in html


# --- Sign-in -----------------------------------------------------------------------------


@pytest.fixture
def fast_hashing(settings) -> None:
    # A failed sign-in still hashes the password once (against timing attacks).
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.mark.parametrize(
    ("username", "password"),
    [
        ("", ""),
        ("   ", "   "),
        (TEN_KB, "x"),
        ("u" * 256, "x"),
        (NUL, "x"),
        ("erin", NUL),
        (RLO, "x"),
        (HTML, HTML),
        (SQL, SQL),
    ],
    ids=["empty", "whitespace", "10kB", "256", "NUL-user", "NUL-password", "RLO", "HTML", "SQL"],
)
@pytest.mark.parametrize("path", ["/accounts/login/", "/admin/login/"])
def test_hostile_sign_in_gets_a_message_not_a_500(
    editor: User, fast_hashing: None, path: str, username: str, password: str
) -> None:
    client = Client()

    response = client.post(path, {"username": username, "password": password})
    html = response.content.decode()

    assert response.status_code == 200
    assert any(mark in html for mark in ('class="alert alert--error', "field__error", "errornote"))
    assert "_auth_user_id" not in client.session
    assert HTML not in html


def test_overlong_username_is_still_counted_towards_the_lockout(fast_hashing: None) -> None:
    client = Client()
    for _ in range(5):
        client.post("/accounts/login/", {"username": TEN_KB, "password": "wrong"})

    response = client.post("/accounts/login/", {"username": TEN_KB, "password": "wrong"})

    assert response.status_code == 429
    assert AccessAttempt.objects.get().username == TEN_KB[:255]


# --- The health-check command's arguments --------------------------------------------------


@pytest.mark.parametrize(
    "bad_id",
    ["99999999999999999999", "9223372036854775808", "²", "-1", HTML, "\x00", "0"],
    ids=["huge", "bigint+1", "superscript-two", "negative", "HTML", "NUL", "zero"],
)
def test_test_connections_refuses_bad_ids_with_a_message(
    stored: dict[str, Connection], bad_id: str
) -> None:
    before = snapshot()

    with pytest.raises(CommandError) as raised:
        call_command("test_connections", bad_id)

    assert "neither a connection id nor a UUID" in str(raised.value) or "No connection with id" in (
        str(raised.value)
    )
    assert snapshot() == before


# --- The admin's lists -------------------------------------------------------------------

HUGE = "99999999999999999999"
ADMIN_EVENTS = "/admin/connections/connectionevent/"


@pytest.mark.parametrize(
    ("path", "query"),
    [
        (ADMIN_LIST, {"q": NUL}),
        (ADMIN_LIST, {"q": TEN_KB}),
        (ADMIN_LIST, {"q": HTML}),
        (ADMIN_LIST, {"q": SQL}),
        (ADMIN_LIST, {"api_type__exact": NUL}),
        (ADMIN_LIST, {"api_type__exact": HTML}),
        (ADMIN_LIST, {"status__exact": NUL}),
        (ADMIN_LIST, {"updated_at__year": HUGE}),
        (ADMIN_LIST, {"updated_at__year": "2025", "updated_at__month": HUGE}),
        (
            ADMIN_LIST,
            {"updated_at__year": "2025", "updated_at__month": "1", "updated_at__day": HUGE},
        ),
        (ADMIN_LIST, {"updated_at__year": "abc"}),
        (ADMIN_LIST, {"updated_at__year": "9999"}),
        (ADMIN_LIST, {"updated_at__year": "9999", "updated_at__month": "12"}),
        (ADMIN_LIST, {"updated_at__year": "0"}),
        (ADMIN_LIST, {"updated_at__year": NUL}),
        (ADMIN_LIST, {"o": NUL}),
        (ADMIN_LIST, {"o": HUGE}),
        (ADMIN_LIST, {"p": HUGE}),
        (ADMIN_LIST, {"p": NUL}),
        # Filtering on ciphertext would be an oracle: the admin must refuse the lookup.
        (ADMIN_LIST, {"api_key_encrypted__startswith": "v1"}),
        (ADMIN_LIST, {"password_encrypted__isnull": "False"}),
        (ADMIN_LIST, {"_to_field": "api_key_encrypted"}),
        (ADMIN_LIST, {"name__regex": "("}),
        (ADMIN_EVENTS, {"q": NUL}),
        (ADMIN_EVENTS, {"action__exact": NUL}),
        (ADMIN_EVENTS, {"connection_uid": NUL}),
        (ADMIN_EVENTS, {"connection_uid": "not-a-uuid"}),
        (ADMIN_EVENTS, {"created_at__year": HUGE}),
        (ADMIN_EVENTS, {"details__contains": "api_key"}),
        (ADMIN_EVENTS, {"action__regex": "("}),
        (ADMIN_EVENTS, {"summary__icontains": "x"}),
    ],
    ids=repr,
)
def test_hostile_admin_list_query_is_refused_or_answered_never_crashed(
    client: Client, stored: dict[str, Connection], path: str, query: dict[str, str]
) -> None:
    before = snapshot()

    response = client.get(path, query)

    assert response.status_code in (200, 302, 400)
    if response.status_code == 302:
        assert response["Location"].endswith("?e=1")  # Django's "invalid filter" page
    assert HTML not in response.content.decode()
    assert snapshot() == before


@pytest.mark.parametrize(
    "query",
    [
        {"api_key_encrypted__startswith": "v1"},
        {"password_encrypted__isnull": "False"},
        {"api_key_fingerprint": "X"},
        {"name__regex": "("},
        {"status__iregex": "("},
        {"api_type__exact": NUL},
    ],
    ids=repr,
)
def test_admin_list_refuses_filters_it_does_not_offer(
    client: Client, stored: dict[str, Connection], query: dict[str, str]
) -> None:
    assert client.get(ADMIN_LIST, query).status_code == 400


def test_admin_list_keeps_the_filters_it_offers(
    client: Client, stored: dict[str, Connection]
) -> None:
    year = stored["merchant"].updated_at.year
    queries = [
        {"api_type__exact": "merchant"},
        {"status__exact": "untested"},
        {"updated_at__year": str(year), "updated_at__month": "1"},
        {"q": "shop"},
        {"o": "1"},
    ]

    assert [client.get(ADMIN_LIST, query).status_code for query in queries] == [200] * 5
    uid = stored["merchant"].uid
    events = client.get(ADMIN_EVENTS, {"connection_uid": str(uid), "action__exact": "created"})
    assert events.status_code == 200
    # Result rows link to their connection; the sidebar lists connections by filter link.
    assert f'{ADMIN_LIST}{stored["merchant"].pk}/change/"' in events.content.decode()
    assert f'{ADMIN_LIST}{stored["storefront"].pk}/change/"' not in events.content.decode()
    html = client.get(ADMIN_LIST, {"api_type__exact": "storefront"}).content.decode()
    assert "Storefront shop" in html
    assert "Existing shop" not in html


@pytest.mark.parametrize("api_type", ["enterprise", "\x00", HTML, TEN_KB])
def test_unknown_api_type_in_the_admin_query_string_falls_back(
    client: Client, stored: dict[str, Connection], api_type: str
) -> None:
    for url in (f"{ADMIN_LIST}add/", f"{ADMIN_LIST}{stored['merchant'].pk}/change/"):
        for headers in ({}, {"HX-Request": "true"}):
            response = client.get(url, {"api_type": api_type}, headers=headers)
            assert response.status_code == 200
            assert 'name="user_id"' in response.content.decode()
