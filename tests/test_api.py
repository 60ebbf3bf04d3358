"""The REST API: every endpoint and permission, write-only secrets, masks, PUT/PATCH rules,
tokens, throttling and the one error shape."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone
from knox.models import AuthToken

from connections.api.serializers import looks_like_mask
from connections.api.tokens import api_token_create
from connections.models import ApiTokenInfo, Connection, ConnectionEvent
from connections.ratelimit import connection_test_lock
from tests.factories import (
    API_KEY,
    API_KEY_2,
    PASSWORD,
    STORE_ID,
    USER_ID,
    client_for,
    create_connection,
    make_user,
    okendo_connection,
)

pytestmark = pytest.mark.django_db

LIST = "/api/v1/connections/"
SECRETS = (API_KEY, API_KEY_2, PASSWORD)


class Api:
    """A JSON client with a bearer token that checks every answer for secrets and shape."""

    def __init__(self, token: str | None = None, client: Client | None = None) -> None:
        self.client = client or Client()
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def call(self, method: str, path: str, body: Any = None, **extra: Any) -> Any:
        kwargs: dict[str, Any] = {"headers": {**self.headers, **extra.pop("headers", {})}}
        if body is not None:
            kwargs["data"] = json.dumps(body)
            kwargs["content_type"] = "application/json"
        kwargs.update(extra)
        response = getattr(self.client, method)(path, **kwargs)
        text = response.content.decode("utf-8", "replace") + repr(dict(response.items()))
        # Write-only: no answer, success or error, ever carries a secret.
        assert [s for s in SECRETS if s in text] == []
        if response.status_code >= 400:
            body = response.json()
            assert set(body) == {"detail", "errors"}, body
        return response

    def get(self, path: str, **extra: Any) -> Any:
        return self.call("get", path, **extra)

    def post(self, path: str, body: Any = None, **extra: Any) -> Any:
        return self.call("post", path, body, **extra)

    def put(self, path: str, body: Any = None, **extra: Any) -> Any:
        return self.call("put", path, body, **extra)

    def patch(self, path: str, body: Any = None, **extra: Any) -> Any:
        return self.call("patch", path, body, **extra)

    def delete(self, path: str, **extra: Any) -> Any:
        return self.call("delete", path, **extra)


def api_for(user: User) -> Api:
    _, token = api_token_create(user=user, name="tests")
    return Api(token)


def merchant_body(**overrides: str) -> dict[str, str]:
    return {
        "name": "EU reviews",
        "api_type": "merchant",
        "user_id": USER_ID,
        "api_key": API_KEY,
        **overrides,
    }


def storefront_body(**overrides: str) -> dict[str, str]:
    return {
        "name": "EU storefront",
        "api_type": "storefront",
        "username": STORE_ID,
        "password": PASSWORD,
        **overrides,
    }


@pytest.fixture
def admin() -> User:
    return make_user("alice", "view", "add", "change", "delete")


@pytest.fixture
def api(admin: User) -> Api:
    return api_for(admin)


@pytest.fixture
def merchant(admin: User) -> Connection:
    return create_connection(admin, name="EU reviews", account_id=USER_ID, secret=API_KEY)


def url(connection: Connection, suffix: str = "") -> str:
    return f"{LIST}{connection.pk}/{suffix}"


def latest_event(connection: Connection) -> ConnectionEvent:
    return ConnectionEvent.objects.filter(connection_uid=connection.uid).first()  # type: ignore[return-value]


# --- Create and read -------------------------------------------------------------------


def test_create_answers_201_with_the_connection_and_never_the_secret(api: Api, admin: User) -> None:
    response = api.post(LIST, merchant_body())

    assert response.status_code == 201
    body = response.json()
    connection = Connection.objects.get()
    assert response["Location"] == f"http://testserver{LIST}{connection.pk}/"
    assert body["url"] == response["Location"]
    assert {k: body[k] for k in ("id", "name", "api_type", "account_id", "status")} == {
        "id": connection.pk,
        "name": "EU reviews",
        "api_type": "merchant",
        "account_id": USER_ID,
        "status": "untested",
    }
    assert body["secret"]["fingerprint"] == connection.api_key_fingerprint
    assert body["secret"]["set_by"] == "alice"
    assert body["created_by"] == "alice"
    assert body["last_test"] is None
    assert "api_key" not in body
    assert "password" not in body
    assert connection.get_api_key().reveal() == API_KEY


def test_every_write_is_in_the_history_with_the_actor_and_via_api(
    api: Api, merchant: Connection, okendo
) -> None:
    api.post(LIST, storefront_body())
    api.patch(url(merchant), {"name": "Renamed"})
    merchant.user_id = okendo.user_id
    api.put(
        url(merchant), merchant_body(name="Renamed", user_id=okendo.user_id, api_key=okendo.api_key)
    )
    api.post(url(merchant, "test/"))
    api.delete(url(merchant))

    events = ConnectionEvent.objects.exclude(details={}).filter(details__via="api")
    assert sorted(events.values_list("action", flat=True)) == sorted(
        ["created", "updated", "updated", "tested", "deleted"]
    )
    assert {event.actor_name for event in events} == {"alice"}
    assert all(event.summary.endswith("Via API.") for event in events)
    created_in_app = ConnectionEvent.objects.get(action="created", connection_name="EU reviews")
    assert "via" not in created_in_app.details  # the app's own writes say nothing


def test_create_refuses_invalid_fields_with_the_forms_messages(api: Api) -> None:
    response = api.post(LIST, {"api_type": "merchant", "user_id": "not-a-uuid"})

    assert response.status_code == 400
    errors = response.json()["errors"]
    assert errors["name"] == ["Enter a name for this connection."]
    assert errors["api_key"] == ["Enter the API key."]
    assert "must be the store's Okendo User ID" in errors["user_id"][0]
    assert not Connection.objects.exists()


def test_create_refuses_a_taken_name_ignoring_case(api: Api, merchant: Connection) -> None:
    response = api.post(LIST, merchant_body(name="eu REVIEWS"))

    assert response.status_code == 400
    assert "already exists" in response.json()["errors"]["name"][0]


def test_create_refuses_the_other_types_fields(api: Api) -> None:
    response = api.post(LIST, merchant_body(password=PASSWORD))

    assert response.status_code == 400
    assert response.json()["errors"]["password"] == [
        "Not a field of a Merchant connection: send user_id and api_key."
    ]
    assert not Connection.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ([1, 2], "non_field_errors"),
        ("text", "non_field_errors"),
        ({"name": 5, "api_type": "merchant", "user_id": USER_ID, "api_key": API_KEY}, "name"),
        ({**merchant_body(), "api_key": ["a"]}, "api_key"),
        ({**merchant_body(), "api_type": "soap"}, "api_type"),
        ({**merchant_body(), "name": "bad\x00name"}, "name"),
        ({**merchant_body(), "api_key": "key\udc80"}, "api_key"),
    ],
)
def test_create_refuses_malformed_bodies_with_400(api: Api, body: Any, field: str) -> None:
    response = api.call(
        "post", LIST, headers={}, data=json.dumps(body), content_type="application/json"
    )

    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert not Connection.objects.exists()


def test_a_body_that_is_not_json_gets_415_and_bad_json_400(api: Api) -> None:
    form = api.call("post", LIST, data=merchant_body())  # multipart form data
    broken = api.call("post", LIST, data="{", content_type="application/json")

    assert form.status_code == 415
    assert "Unsupported media type" in form.json()["detail"]
    assert broken.status_code == 400
    assert not Connection.objects.exists()


def test_read_a_connection_and_404_for_unknown_ids(api: Api, merchant: Connection) -> None:
    found = api.get(url(merchant))
    missing = [api.get(f"{LIST}{pk}/") for pk in ("999999", str(2**64), "-1", "abc", "1.5")]
    unknown_path = api.get("/api/v1/nothing-here/")

    assert found.status_code == 200
    assert found.json()["name"] == "EU reviews"
    assert [r.status_code for r in missing] == [404] * 5
    assert missing[0].json() == {"detail": "No such connection.", "errors": {}}
    assert unknown_path.status_code == 404
    assert unknown_path["Content-Type"] == "application/json"
    browser = Api(client=client_for(merchant.created_by, enforce_csrf_checks=True))  # type: ignore[arg-type]
    assert browser.delete(f"{LIST}1.5/").status_code == 404  # JSON, not the CSRF page
    no_slash = api.post(LIST.rstrip("/"), merchant_body())
    assert no_slash.status_code == 404
    assert "end with a slash, as in /api/v1/connections/." in no_slash.json()["detail"]


# --- List ------------------------------------------------------------------------------


def test_list_is_paginated_50_a_page_with_links(api: Api, admin: User) -> None:
    Connection.objects.bulk_create(
        Connection(name=f"Shop {i:03}", api_type="merchant", user_id=USER_ID) for i in range(120)
    )

    first = api.get(LIST).json()
    third = api.get(f"{LIST}?page=3").json()

    assert first["count"] == 120
    assert len(first["results"]) == 50
    assert first["previous"] is None
    assert first["next"] == "http://testserver/api/v1/connections/?page=2"
    assert [row["name"] for row in third["results"]] == [f"Shop {i:03}" for i in range(100, 120)]
    assert third["next"] is None
    assert api.get(f"{LIST}?page=9").status_code == 404


def test_list_filters_by_type_status_and_name_and_orders(api: Api, admin: User) -> None:
    rows = [
        Connection(name="b Merchant online", api_type="merchant", status="online"),
        Connection(name="A Merchant offline", api_type="merchant", status="offline"),
        Connection(name="c Storefront offline", api_type="storefront", status="offline"),
        Connection(name="d Storefront new", api_type="storefront"),
    ]
    for offset, row in enumerate(rows):
        row.updated_at = timezone.now() - timedelta(minutes=offset)
    Connection.objects.bulk_create(rows)

    def names(query: str) -> list[str]:
        response = api.get(f"{LIST}?{query}")
        assert response.status_code == 200, response.json()
        return [row["name"] for row in response.json()["results"]]

    assert names("") == [
        "A Merchant offline",
        "b Merchant online",
        "c Storefront offline",
        "d Storefront new",
    ]
    assert names("status=offline") == ["A Merchant offline", "c Storefront offline"]
    assert names("status=untested") == ["d Storefront new"]
    assert names("api_type=storefront&status=offline") == ["c Storefront offline"]
    assert names("search=MERCHANT") == ["A Merchant offline", "b Merchant online"]
    assert names("ordering=-name")[0] == "d Storefront new"
    assert names("ordering=-updated_at")[0] == "b Merchant online"
    assert names("ordering=updated_at")[0] == "d Storefront new"
    refused = api.get(f"{LIST}?status=broken&ordering=size&search=%00")
    assert refused.status_code == 400
    assert set(refused.json()["errors"]) == {"status", "ordering", "search"}


def test_search_ignores_case_beyond_ascii(api: Api, admin: User) -> None:
    for name in ("été shop", "Ωmega", "other"):
        Connection.objects.create(name=name, api_type="merchant")

    def names(search: str) -> list[str]:
        response = api.get(f"{LIST}?search={quote(search)}")
        assert response.status_code == 200
        return [row["name"] for row in response.json()["results"]]

    assert names("ÉTÉ") == ["été shop"]
    assert names("ω") == ["Ωmega"]
    # Typed decomposed (e + U+0301), stored composed: compared in NFC.
    assert names("e\u0301te\u0301") == ["été shop"]


# --- Write-only secrets and masks --------------------------------------------------------


@pytest.mark.parametrize(
    "mask",
    [
        "********",
        "••••••••",
        "xxxxxxxxxxxx",
        "XXXX",
        "[redacted]",
        "__REDACTED__",
        "<hidden>",
        "[REDACTED]",
        "***masked***",
        # Partly hidden, as tools show secrets (found by trying it): 32 characters each.
        "*" * 28 + "GHIJ",
        "ZqXs" + "*" * 28,
        "\u2217" * 32,
        "\uff0a" * 32,
        "-" * 32,
        "[REDACTED]" + "a" * 22,
        "[hidden]" + "a" * 24,
        "<secret>" + "a" * 24,
        "${OKENDO_API_KEY}" + "a" * 15,
    ],
)
def test_mask_like_values_are_refused_and_nothing_changes(
    api: Api, merchant: Connection, mask: str
) -> None:
    before = Connection.objects.values().get(pk=merchant.pk)

    put = api.put(url(merchant), merchant_body(api_key=mask))
    patch = api.patch(url(merchant), {"user_id": USER_ID, "api_key": mask})
    create = api.post(LIST, merchant_body(name="Other", api_key=mask))
    tested = api.post(f"{LIST}test/", merchant_body(api_key=mask))

    message = (
        "Send the real API key; secrets are never returned, so a value read from this API "
        "cannot be a secret."
    )
    for response in (put, patch, create, tested):
        assert response.status_code == 400
        assert message in response.json()["errors"]["api_key"]
    assert Connection.objects.values().get(pk=merchant.pk) == before
    assert Connection.objects.count() == 1


def test_the_connections_own_fingerprint_is_refused_as_a_secret(
    api: Api, merchant: Connection
) -> None:
    fingerprint = api.get(url(merchant)).json()["secret"]["fingerprint"]

    response = api.put(url(merchant), merchant_body(api_key=fingerprint))

    assert response.status_code == 400
    assert "Send the real API key" in response.json()["errors"]["api_key"][0]
    merchant.refresh_from_db()
    assert merchant.get_api_key().reveal() == API_KEY


def test_a_value_holding_the_connections_fingerprint_is_refused(
    api: Api, merchant: Connection
) -> None:
    fingerprint = api.get(url(merchant)).json()["secret"]["fingerprint"]

    for value in (fingerprint + "a" * 23, fingerprint.replace("-", "") + "a" * 24):
        response = api.put(url(merchant), merchant_body(api_key=value))

        assert response.status_code == 400
        assert "Send the real API key" in response.json()["errors"]["api_key"][0]
    merchant.refresh_from_db()
    assert merchant.get_api_key().reveal() == API_KEY


@pytest.mark.parametrize(
    ("method", "path"), [("post", ""), ("post", "test/"), ("put", "{pk}/"), ("patch", "{pk}/")]
)
def test_json_nested_too_deeply_is_a_400_not_a_500(
    api: Api, merchant: Connection, method: str, path: str
) -> None:
    path = path.format(pk=merchant.pk)
    fields = json.dumps({"api_type": "merchant", "user_id": USER_ID, "api_key": API_KEY_2})
    body = fields[:-1] + ', "x": ' + "[" * 5000 + "]" * 5000 + "}"

    response = getattr(api.client, method)(
        f"{LIST}{path}", data=body, content_type="application/json", headers=api.headers
    )

    assert response.status_code == 400
    assert "nested too deeply" in response.json()["detail"]
    assert API_KEY_2 not in response.content.decode()
    merchant.refresh_from_db()
    assert merchant.get_api_key().reveal() == API_KEY


def test_looks_like_mask_keeps_real_keys() -> None:
    assert not looks_like_mask(API_KEY)
    assert not looks_like_mask("x1x2x3x4")
    assert not looks_like_mask("redacted-but-real-0123456789abcdef")
    assert looks_like_mask("K7Q2-9XF3", fingerprints=["k7q2-9xf3"])


def test_a_get_put_round_trip_without_the_secret_is_refused(api: Api, merchant: Connection) -> None:
    read = api.get(url(merchant)).json()

    response = api.put(url(merchant), {**read, "user_id": read["account_id"]})

    assert response.status_code == 400
    assert response.json()["errors"]["api_key"][0].startswith("Re-enter the API key")
    merchant.refresh_from_db()
    assert merchant.get_api_key().reveal() == API_KEY


# --- PUT and PATCH ---------------------------------------------------------------------


def test_put_replaces_the_key(api: Api, merchant: Connection) -> None:
    old_fingerprint = merchant.api_key_fingerprint

    response = api.put(url(merchant), merchant_body(name="Rotated", api_key=API_KEY_2))

    assert response.status_code == 200
    assert response.json()["name"] == "Rotated"
    assert response.json()["secret"]["fingerprint"] != old_fingerprint
    merchant.refresh_from_db()
    assert merchant.get_api_key().reveal() == API_KEY_2
    assert latest_event(merchant).details["secrets_replaced"] is True


def test_put_changing_the_type_erases_the_old_secrets(api: Api, merchant: Connection) -> None:
    response = api.put(url(merchant), storefront_body(name="EU reviews"))

    assert response.status_code == 200
    assert response.json()["api_type"] == "storefront"
    assert response.json()["account_id"] == STORE_ID
    merchant.refresh_from_db()
    assert (merchant.user_id, merchant.api_key_encrypted, merchant.api_key_fingerprint) == (
        "",
        "",
        "",
    )
    assert merchant.get_password().reveal() == PASSWORD
    assert sorted(latest_event(merchant).details["erased"]) == ["api_key", "user_id"]


def test_patch_of_the_name_keeps_the_stored_secret(api: Api, merchant: Connection) -> None:
    stored = merchant.api_key_encrypted

    response = api.patch(url(merchant), {"name": "Renamed"})

    assert response.status_code == 200
    assert response.json()["name"] == "Renamed"
    merchant.refresh_from_db()
    assert merchant.name == "Renamed"
    assert merchant.api_key_encrypted == stored
    assert merchant.get_api_key().reveal() == API_KEY
    assert latest_event(merchant).summary == "Changed the name. Via API."


def test_patch_checks_the_name_with_the_forms_rules(api: Api, merchant: Connection) -> None:
    create_connection(merchant.created_by, name="Taken", account_id=USER_ID, secret=API_KEY)  # type: ignore[arg-type]

    taken = api.patch(url(merchant), {"name": "TAKEN"})
    long = api.patch(url(merchant), {"name": "n" * 101})

    assert "already exists" in taken.json()["errors"]["name"][0]
    assert long.json()["errors"]["name"] == [
        "Use at most 100 characters for the name (this one has 101)."
    ]
    merchant.refresh_from_db()
    assert merchant.name == "EU reviews"


@pytest.mark.parametrize(
    ("body", "missing"),
    [
        ({"api_key": API_KEY_2}, ["user_id"]),
        ({"user_id": USER_ID}, ["api_key"]),
        ({"api_type": "storefront"}, ["username", "password"]),
        ({"api_type": "storefront", "username": STORE_ID}, ["password"]),
    ],
)
def test_patch_with_part_of_a_credential_set_is_refused(
    api: Api, merchant: Connection, body: dict[str, str], missing: list[str]
) -> None:
    before = Connection.objects.values().get(pk=merchant.pk)

    response = api.patch(url(merchant), body)

    assert response.status_code == 400
    errors = response.json()["errors"]
    for field in missing:
        assert "must carry the whole set" in errors[field][0]
    assert Connection.objects.values().get(pk=merchant.pk) == before


def test_patch_with_the_whole_set_replaces_it(api: Api, merchant: Connection) -> None:
    response = api.patch(url(merchant), {"user_id": USER_ID, "api_key": API_KEY_2})

    assert response.status_code == 200
    merchant.refresh_from_db()
    assert merchant.get_api_key().reveal() == API_KEY_2
    assert merchant.name == "EU reviews"


# --- Delete, tests, history ------------------------------------------------------------


def test_delete_keeps_the_history(api: Api, merchant: Connection) -> None:
    response = api.delete(url(merchant))

    assert response.status_code == 204
    assert not Connection.objects.exists()
    actions = list(
        ConnectionEvent.objects.filter(connection_uid=merchant.uid).values_list("action", flat=True)
    )
    assert actions == ["deleted", "created"]


def test_testing_a_saved_connection_records_status_and_history(api: Api, okendo) -> None:
    connection = okendo_connection(okendo)

    response = api.post(url(connection, "test/"))

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"outcome", "message", "http_status", "elapsed_ms", "retries", "tested_at"}
    assert (body["outcome"], body["http_status"], body["retries"]) == ("ok", 200, 0)
    connection.refresh_from_db()
    assert connection.status == "online"
    assert body["tested_at"] == connection.last_tested_at.isoformat().replace("+00:00", "Z")  # type: ignore[union-attr]
    assert latest_event(connection).action == "tested"
    read = api.get(url(connection)).json()
    assert read["last_test"]["outcome"] == "ok"
    assert read["status"] == "online"


def test_a_rejected_key_reads_offline(api: Api, okendo) -> None:
    connection = okendo_connection(okendo)
    okendo.respond(401)

    body = api.post(url(connection, "test/")).json()

    assert body["outcome"] == "auth_failed"
    assert api.get(f"{LIST}?status=offline").json()["count"] == 1


def test_a_test_already_running_answers_409(api: Api, okendo) -> None:
    connection = okendo_connection(okendo)

    with connection_test_lock(str(connection.uid)):
        response = api.post(url(connection, "test/"))

    assert response.status_code == 409
    assert "already running" in response.json()["detail"]


def test_testing_values_saves_nothing(api: Api, okendo) -> None:
    body = {"api_type": "merchant", "user_id": okendo.user_id, "api_key": okendo.api_key}

    response = api.post(f"{LIST}test/", body)
    wrong = api.post(f"{LIST}test/", {**body, "api_key": API_KEY_2})
    invalid = api.post(f"{LIST}test/", {"api_type": "merchant", "user_id": "nope"})

    assert response.status_code == 200
    assert response.json()["outcome"] == "ok"
    assert wrong.json()["outcome"] == "auth_failed"
    assert invalid.status_code == 400
    assert set(invalid.json()["errors"]) == {"user_id", "api_key"}
    assert not Connection.objects.exists()
    assert not ConnectionEvent.objects.exists()


def test_events_are_newest_first_and_paginated(api: Api, merchant: Connection) -> None:
    for number in range(3):
        api.patch(url(merchant), {"name": f"Name {number}"})

    body = api.get(url(merchant, "events/")).json()

    assert body["count"] == 4
    assert [event["action"] for event in body["results"]] == ["updated"] * 3 + ["created"]
    assert body["results"][0]["summary"] == "Changed the name. Via API."
    assert body["results"][0]["actor"] == "alice"
    assert body["results"][0]["details"]["via"] == "api"


# --- Permissions -----------------------------------------------------------------------

ENDPOINTS: list[tuple[str, str, str, Any]] = [
    ("view", "get", "list", None),
    ("view", "get", "detail", None),
    ("view", "get", "events", None),
    ("add", "post", "list", merchant_body(name="New")),
    ("change", "put", "detail", merchant_body(name="Put")),
    ("change", "patch", "detail", {"name": "Patched"}),
    ("delete", "delete", "detail", None),
    ("change", "post", "test", None),
]


def _path(kind: str, pk: int) -> str:
    return {
        "list": LIST,
        "detail": f"{LIST}{pk}/",
        "events": f"{LIST}{pk}/events/",
        "test": f"{LIST}{pk}/test/",
    }[kind]


@pytest.mark.parametrize(("needed", "method", "kind", "body"), ENDPOINTS)
def test_each_endpoint_needs_its_model_permission(
    merchant: Connection, okendo, needed: str, method: str, kind: str, body: Any
) -> None:
    others = [a for a in ("view", "add", "change", "delete") if a != needed]
    without = api_for(make_user("without", *others))
    with_it = api_for(make_user("with", needed, "view"))
    anonymous = Api()

    refused = without.call(method, _path(kind, merchant.pk), body)
    unknown = with_it.call(method, _path(kind, 987654), body) if kind != "list" else None
    unauthenticated = anonymous.call(method, _path(kind, merchant.pk), body)
    allowed = with_it.call(method, _path(kind, merchant.pk), body)

    assert refused.status_code == 403
    assert unauthenticated.status_code == 401
    assert unauthenticated["WWW-Authenticate"] == "Bearer"
    assert unknown is None or unknown.status_code == 404
    assert allowed.status_code in (200, 201, 204)


@pytest.mark.parametrize(
    ("actions", "status"), [(("view",), 403), (("add",), 200), (("change",), 200)]
)
def test_testing_values_needs_add_or_change(okendo, actions: tuple[str, ...], status: int) -> None:
    api = api_for(make_user("tester", *actions))
    body = {"api_type": "merchant", "user_id": okendo.user_id, "api_key": okendo.api_key}

    assert api.post(f"{LIST}test/", body).status_code == status


def test_wrong_methods_get_405(api: Api, merchant: Connection) -> None:
    responses = [
        api.delete(LIST),
        api.get(f"{LIST}test/"),
        api.put(url(merchant, "test/")),
        api.post(url(merchant)),
        api.post(url(merchant, "events/")),
    ]

    assert [r.status_code for r in responses] == [405] * 5
    assert "not allowed" in responses[0].json()["detail"]


# --- Authentication, tokens, throttling -------------------------------------------------


def test_tokens_are_stored_only_as_hashes(admin: User) -> None:
    token, text = api_token_create(user=admin, name="CI")

    row = AuthToken.objects.values().get()
    assert text.startswith("okc_")
    assert len(text) == 68
    assert [
        column for column, value in row.items() if isinstance(value, str) and text in value
    ] == []
    assert row["digest"] == hashlib.sha512(text.encode()).hexdigest()
    assert row["token_key"] == text[:15]
    assert ApiTokenInfo.objects.get(token=token).name == "CI"
    assert Api(text).get(LIST).status_code == 200


@pytest.mark.parametrize(
    "header",
    ["Bearer okc_wrong", "Bearer", "Bearer a b", "Bearer okc_\x01abc", "Bearer okc_\xe9\xe9"],
)
def test_bad_tokens_get_401(admin: User, header: str) -> None:
    response = Client().get(LIST, headers={"Authorization": header})

    assert response.status_code == 401
    assert set(response.json()) == {"detail", "errors"}


def test_expired_and_revoked_tokens_are_refused(admin: User) -> None:
    expired, expired_text = api_token_create(user=admin, days=1)
    AuthToken.objects.filter(pk=expired.pk).update(expiry=timezone.now() - timedelta(seconds=1))
    revoked, revoked_text = api_token_create(user=admin)
    assert Api(revoked_text).get(LIST).status_code == 200
    revoked.delete()

    assert Api(expired_text).get(LIST).status_code == 401
    assert Api(revoked_text).get(LIST).status_code == 401
    assert AuthToken.objects.filter(pk=expired.pk).exists()  # still listed, as expired


def test_a_deactivated_users_token_is_refused(admin: User) -> None:
    _, text = api_token_create(user=admin)
    User.objects.filter(pk=admin.pk).update(is_active=False)

    assert Api(text).get(LIST).status_code == 401


def test_last_used_is_recorded_at_most_once_a_minute(admin: User) -> None:
    token, text = api_token_create(user=admin)
    api = Api(text)

    api.get(LIST)
    first = ApiTokenInfo.objects.get(pk=token.pk).last_used_at
    api.get(LIST)
    second = ApiTokenInfo.objects.get(pk=token.pk).last_used_at
    ApiTokenInfo.objects.filter(pk=token.pk).update(
        last_used_at=timezone.now() - timedelta(minutes=2)
    )
    api.get(LIST)
    third = ApiTokenInfo.objects.get(pk=token.pk).last_used_at

    assert first is not None
    assert first == second
    assert third is not None
    assert third > first


def test_session_authentication_works_and_needs_csrf_for_writes(admin: User) -> None:
    browser = Api(client=client_for(admin, enforce_csrf_checks=True))

    read = browser.get(LIST)
    write = browser.post(LIST, merchant_body())

    assert read.status_code == 200
    assert write.status_code == 403
    assert "CSRF" in write.json()["detail"]
    assert not Connection.objects.exists()


def test_throttling_answers_429_with_retry_after_per_token(admin: User, settings) -> None:
    settings.CONNECTIONS_API_THROTTLE_RATE = "2/minute"
    api, other = api_for(admin), api_for(admin)

    answers = [api.get(LIST).status_code for _ in range(3)]
    refused = api.get(LIST)

    assert answers == [200, 200, 429]
    assert refused.status_code == 429
    assert 0 < int(refused["Retry-After"]) <= 60
    assert "throttled" in refused.json()["detail"]
    assert other.get(LIST).status_code == 200  # another token has its own budget


@pytest.mark.parametrize("rate", ["600", "ten/minute", "5/fortnight", "0/minute"])
def test_production_refuses_a_malformed_throttle_rate(rate: str) -> None:
    from tests.test_settings import GOOD_ENCRYPTION_KEY, GOOD_SECRET_KEY, run_settings

    result = run_settings(
        {
            "DJANGO_DEBUG": "0",
            "DJANGO_SECRET_KEY": GOOD_SECRET_KEY,
            "CONNECTIONS_ENCRYPTION_KEY": GOOD_ENCRYPTION_KEY,
            "CONNECTIONS_API_THROTTLE_RATE": rate,
        }
    )

    assert result.returncode == 2
    assert "CONNECTIONS_API_THROTTLE_RATE must be a number of requests per" in result.stderr
    assert "Traceback" not in result.stderr
