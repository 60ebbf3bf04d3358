"""The API's data endpoints: pass-through reads and the streamed export, against the fake Okendo.

Every endpoint and parameter, the read_data permission, the signed cursor, injection
refused before any request, a 401 marking the connection Offline, no secret in any answer,
and an export that yields every review exactly once in both formats.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth.models import Permission, User
from django.core import signing
from django.test import Client

from connections.api import data
from connections.api.tokens import api_token_create
from connections.models import Connection, ConnectionEvent
from tests.factories import make_user, okendo_connection
from tests.fake_okendo import GROUP_ID, PRODUCT_BASE, ReviewStore

pytestmark = pytest.mark.django_db

PRODUCT_ID = str(PRODUCT_BASE + 3)


class DataApi:
    """A bearer-token client that checks every answer for the fake's secrets and the error shape."""

    def __init__(self, token: str, secrets: tuple[str, ...]) -> None:
        self.client = Client()
        self.headers = {"Authorization": f"Bearer {token}"}
        self.secrets = secrets

    def get(self, path: str, params: dict[str, Any] | None = None, **headers: str) -> Any:
        response: Any = self.client.get(path, params or {}, headers={**self.headers, **headers})
        if response.streaming:
            response.body_text = b"".join(response.streaming_content).decode()
        else:
            response.body_text = response.content.decode("utf-8", "replace")
        seen = response.body_text + repr(dict(response.items()))
        assert [s for s in self.secrets if s in seen] == []
        if response.status_code >= 400:
            body = json.loads(response.body_text)
            assert set(body) - {"outcome"} == {"detail", "errors"}, body
            assert body["detail"]
        return response


def reader(username: str = "reader", *actions: str) -> User:
    user = make_user(username, "view", *actions)
    user.user_permissions.add(Permission.objects.get(codename="read_data"))
    return User.objects.get(pk=user.pk)


def api(okendo: Any, user: User) -> DataApi:
    _, token = api_token_create(user=user, name="tests")
    return DataApi(token, (okendo.api_key, okendo.password))


@pytest.fixture
def merchant(okendo) -> Connection:
    okendo.serve_reviews(okendo.user_id, 60)
    return okendo_connection(okendo)


@pytest.fixture
def storefront(okendo) -> Connection:
    okendo.serve_reviews(okendo.store_id, 60)
    return okendo_connection(okendo, api_type="storefront", name="Storefront")


@pytest.fixture
def client(okendo) -> DataApi:
    return api(okendo, reader())


def url(connection: Connection, tail: str) -> str:
    return f"/api/v1/connections/{connection.pk}/{tail}"


def read_events(connection: Connection) -> list[ConnectionEvent]:
    return list(
        ConnectionEvent.objects.filter(
            connection_uid=connection.uid, action=ConnectionEvent.Action.READ
        ).order_by("id")
    )


# --- Reviews and the cursor ------------------------------------------------------------------


def test_merchant_reviews_page_through_every_review_with_the_next_url(okendo, merchant, client):
    seen: list[str] = []
    path: str | None = url(merchant, "reviews/?limit=25&status=approved&orderBy=date%20asc")
    pages = 0
    while path:
        response = client.get(path)
        assert response.status_code == 200, response.body_text
        body = response.json()
        seen += [review["reviewId"] for review in body["reviews"]]
        assert all(review["status"] == "approved" for review in body["reviews"])
        path = body["next"]
        if path:
            query = parse_qs(urlsplit(path).query)
            assert query["cursor"] == [body["next_cursor"]]
            assert query["limit"] == ["25"]
            assert query["status"] == ["approved"]
            # Opaque: Okendo's own cursor is not readable in ours.
            assert "reviewId" not in body["next_cursor"]
        pages += 1

    store = ReviewStore(60)
    expected = [store.review_id(i) for i in reversed(range(60)) if store.status(i) == "approved"]
    assert seen == expected
    assert pages == 2
    sent = okendo.review_requests()
    assert [r.query.get("orderBy") for r in sent] == [["date asc"]] * 2
    assert "lastEvaluated" in sent[1].query
    # Each API read session is one history event: who, what, how many; never the data.
    events = read_events(merchant)
    assert [e.details["records"] for e in events] == [25, len(expected) - 25]
    assert events[0].actor_name == "reader"
    assert "reviewer" not in json.dumps([e.details for e in events])


def test_storefront_reviews_of_the_store_a_product_and_a_group(okendo, storefront, client):
    store = client.get(url(storefront, "reviews/"), {"limit": "5", "orderBy": "rating desc"})
    product = client.get(url(storefront, f"products/{PRODUCT_ID}/reviews/"))
    group = client.get(url(storefront, f"groups/{GROUP_ID.upper()}/reviews/"))

    assert [r.status_code for r in (store, product, group)] == [200, 200, 200]
    assert len(store.json()["reviews"]) == 5
    ratings = [r["rating"] for r in store.json()["reviews"]]
    assert ratings == sorted(ratings, reverse=True)
    assert {r["productId"] for r in product.json()["reviews"]} == {f"shopify-{PRODUCT_ID}"}
    paths = [r.path for r in okendo.review_requests()]
    assert paths[1].endswith(f"/products/shopify-{PRODUCT_ID}/reviews")
    assert paths[2].endswith(f"/collections/{GROUP_ID}/reviews")


def test_storefront_aggregates_of_the_store_a_product_and_a_group(okendo, storefront, client):
    answers = [
        client.get(url(storefront, "review-aggregate/")),
        client.get(url(storefront, f"products/{PRODUCT_ID}/review-aggregate/")),
        client.get(url(storefront, f"groups/{GROUP_ID}/review-aggregate/")),
    ]

    assert [a.status_code for a in answers] == [200, 200, 200]
    store = ReviewStore(60)
    assert answers[0].json() == store.aggregate()
    assert answers[1].json() == store.aggregate(product=PRODUCT_ID)
    assert answers[2].json() == store.aggregate(group=GROUP_ID)
    assert [e.details["resource"] for e in read_events(storefront)] == [
        "review_aggregate",
        "product_review_aggregate",
        "group_review_aggregate",
    ]


def test_a_cursor_cannot_be_forged_or_moved_to_another_listing(okendo, storefront, client):
    first = client.get(url(storefront, "reviews/"), {"limit": "10"}).json()
    cursor = first["next_cursor"]
    other = okendo_connection(okendo, api_type="storefront", name="Other store")
    before = len(okendo.requests)
    forged = signing.dumps({"c": '{"reviewId":"x"}', "l": {"id": storefront.pk}}, salt="other")
    own_but_other_listing = data.cursor_sign(
        '{"reviewId":"x"}', {"id": storefront.pk, "r": "reviews", "limit": 25}
    )

    refused = [
        client.get(url(storefront, "reviews/"), {"limit": "10", "cursor": cursor + "x"}),
        client.get(url(storefront, "reviews/"), {"limit": "10", "cursor": forged}),
        client.get(url(storefront, "reviews/"), {"limit": "10", "cursor": own_but_other_listing}),
        client.get(url(other, "reviews/"), {"limit": "10", "cursor": cursor}),
        client.get(url(storefront, "reviews/"), {"limit": "5", "cursor": cursor}),
        client.get(url(storefront, f"products/{PRODUCT_ID}/reviews/"), {"cursor": cursor}),
        client.get(url(storefront, "reviews/"), {"limit": "10", "cursor": '{"reviewId":"x"}'}),
    ]

    assert [r.status_code for r in refused] == [400] * len(refused)
    assert "cursor" in refused[0].json()["errors"]["non_field_errors"][0]
    assert len(okendo.requests) == before
    again = client.get(url(storefront, "reviews/"), {"limit": "10", "cursor": cursor})
    assert again.status_code == 200
    store = ReviewStore(60)
    published = [store.review_id(i) for i in range(60) if store.status(i) == "approved"]
    assert [r["reviewId"] for r in first["reviews"]] == published[:10]
    assert [r["reviewId"] for r in again.json()["reviews"]] == published[10:20]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"limit": "0"}, "page size"),
        ({"limit": "101"}, "page size"),
        ({"limit": "１０"}, "page size"),  # noqa: RUF001 - full-width digits, on purpose
        ({"orderBy": "date; drop"}, "order"),
        ({"status": "deleted"}, "status"),
        ({"lastEvaluated": "x"}, "Unknown parameter"),
        ({"path": "/enterprise/customers"}, "Unknown parameter"),
    ],
)
def test_bad_review_parameters_are_refused_before_any_request(
    okendo, merchant, client, params, message
):
    response = client.get(url(merchant, "reviews/"), params)

    assert response.status_code == 400
    assert message in response.json()["errors"]["non_field_errors"][0]
    assert okendo.requests == []
    assert read_events(merchant) == []


def test_storefront_refuses_status_and_a_merchant_limit(okendo, storefront, client):
    assert client.get(url(storefront, "reviews/"), {"status": "approved"}).status_code == 400
    assert client.get(url(storefront, "reviews/"), {"limit": "26"}).status_code == 400
    assert okendo.requests == []


@pytest.mark.parametrize(
    "product_id",
    [
        "..",
        "1%2F..%2F..%2Fenterprise",
        "1/../2",
        "1%3Fx=1",
        "1%23frag",
        "７０１２",  # noqa: RUF001 - full-width digits
        "shopify-1",
        "1%00",
        "1%0A2",
        "-1",
    ],
)
def test_injected_product_ids_are_refused_before_any_request(
    okendo, storefront, client, product_id
):
    for tail in ("reviews/", "review-aggregate/"):
        response = client.get(url(storefront, f"products/{product_id}/{tail}"))
        assert response.status_code == 400, (product_id, response.body_text)
        assert "product ID" in response.json()["errors"]["non_field_errors"][0]
    assert okendo.requests == []


@pytest.mark.parametrize(
    "group_id",
    [
        "..",
        "a%2F..",
        f"{GROUP_ID}%3F",
        f"{GROUP_ID}%23",
        "１２",  # noqa: RUF001 - full-width digits
        "g r",
        "x" * 40,
    ],
)
def test_injected_group_ids_are_refused_before_any_request(okendo, storefront, client, group_id):
    response = client.get(url(storefront, f"groups/{group_id}/reviews/"))

    assert response.status_code == 400, response.body_text
    assert okendo.requests == []


def test_client_headers_are_not_passed_on(okendo, merchant, client):
    response = client.get(
        url(merchant, "reviews/"),
        **{"X-Forwarded-For": "10.0.0.1", "Okendo-Api-Version": "1999-01-01", "X-Custom": "on"},
    )

    assert response.status_code == 200
    [sent] = okendo.requests
    assert "x-custom" not in sent.headers
    assert "x-forwarded-for" not in sent.headers
    assert sent.headers["okendo-api-version"] == "2025-02-01"
    assert sent.basic_auth() == (okendo.user_id, okendo.api_key)


# --- Types, customers, loyalty ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("fixture", "tail"),
    [
        ("merchant", f"products/{PRODUCT_ID}/reviews/"),
        ("merchant", f"groups/{GROUP_ID}/reviews/"),
        ("merchant", "review-aggregate/"),
        ("merchant", f"products/{PRODUCT_ID}/review-aggregate/"),
        ("storefront", "customers/?email=sam@example.com"),
        ("storefront", "loyalty-customers/?email=sam@example.com"),
    ],
)
def test_a_resource_the_type_lacks_is_a_400_before_any_request(
    request, okendo, client, fixture, tail
):
    connection = request.getfixturevalue(fixture)

    response = client.get(url(connection, tail))

    assert response.status_code == 400
    assert "connection cannot read" in response.json()["errors"]["non_field_errors"][0]
    assert okendo.requests == []


def test_a_customer_and_a_loyalty_customer_by_email(okendo, merchant, client):
    customer_id = okendo.add_customer(okendo.user_id, "sam@example.com")
    okendo.enable_loyalty(okendo.user_id, "sam@example.com")

    found = client.get(url(merchant, "customers/"), {"email": "sam@example.com"})
    loyal = client.get(url(merchant, "loyalty-customers/"), {"email": "sam@example.com"})
    unknown = client.get(url(merchant, "customers/"), {"email": "nobody@example.com"})

    assert found.status_code == 200
    assert found.json()["customerId"] == customer_id
    assert loyal.status_code == 200
    assert loyal.json()["points"] == {"balance": 120}
    assert unknown.status_code == 404
    assert unknown.json()["outcome"] == "not_found"
    # The address asked for is never kept.
    assert "sam@example.com" not in json.dumps([e.details for e in read_events(merchant)])
    assert len(read_events(merchant)) == 3


def test_loyalty_off_is_a_502_with_its_own_sentence_and_the_connection_stays(
    okendo, merchant, client
):
    okendo.disable_loyalty(okendo.user_id)

    response = client.get(url(merchant, "loyalty-customers/"), {"email": "sam@example.com"})

    assert response.status_code == 502
    assert response.json()["outcome"] == "forbidden"
    assert "Loyalty is not enabled for this store" in response.json()["detail"]
    assert Connection.objects.get(pk=merchant.pk).status != Connection.Status.OFFLINE


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"email": "not an address"},
        {"email": "a@b.c\r\nX-Evil: 1"},
        {"email": "sam@example.com", "limit": "1"},
        {"email": ["a@example.com", "b@example.com"]},
    ],
)
def test_bad_customer_parameters_are_refused_before_any_request(okendo, merchant, client, params):
    for tail in ("customers/", "loyalty-customers/"):
        assert client.get(url(merchant, tail), params).status_code == 400
    assert okendo.requests == []


# --- Permission, status, errors -------------------------------------------------------------------


@pytest.mark.parametrize(
    "tail",
    [
        "reviews/",
        "reviews/export/?format=csv",
        "customers/?email=sam@example.com",
        "loyalty-customers/?email=sam@example.com",
        f"products/{PRODUCT_ID}/reviews/",
        "review-aggregate/",
    ],
)
def test_read_data_is_required_even_with_view_add_change_delete_and_staff(okendo, merchant, tail):
    staff = make_user("staff", "view", "add", "change", "delete", is_staff=True)
    no_view = make_user("noview")
    no_view.user_permissions.add(Permission.objects.get(codename="read_data"))

    for user in (staff, User.objects.get(pk=no_view.pk)):
        response = api(okendo, user).get(url(merchant, tail))
        assert response.status_code == 403, response.body_text
    assert Client().get(url(merchant, tail)).status_code == 401
    assert okendo.requests == []
    assert not ConnectionEvent.objects.filter(action__in=["read", "exported"]).exists()


def test_an_unknown_format_is_a_400_not_a_missing_connection(okendo, merchant, client):
    response = client.get(url(merchant, "reviews/"), {"format": "csv"})

    assert response.status_code == 400
    assert response.json()["errors"]["non_field_errors"] == ["The format must be json."]
    assert okendo.requests == []


def test_an_unknown_connection_is_a_404(okendo, client):
    for pk in ("999", "１"):  # noqa: RUF001 - a full-width one
        assert client.get(f"/api/v1/connections/{pk}/reviews/").status_code == 404
    assert okendo.requests == []


def test_a_401_from_okendo_marks_the_connection_offline_and_answers_502(okendo, client):
    connection = okendo_connection(okendo, status=Connection.Status.ONLINE)
    okendo.respond(401)

    response = client.get(url(connection, "reviews/"))

    assert response.status_code == 502
    assert response.json()["outcome"] == "auth_failed"
    assert "marked Offline" in response.json()["detail"]
    assert Connection.objects.get(pk=connection.pk).status == Connection.Status.OFFLINE
    [event] = read_events(connection)
    assert event.details["outcome"] == "auth_failed"


def test_okendo_down_is_a_502_and_a_secret_echo_never_reaches_the_caller(okendo, merchant, client):
    okendo.respond(503)
    down = client.get(url(merchant, "reviews/"))
    okendo.respond(403, json_body={"error": {"description": "bad key {secret}"}}, echo=True)
    echoed = client.get(url(merchant, "reviews/"))

    assert (down.status_code, down.json()["outcome"]) == (502, "unavailable")
    assert (echoed.status_code, echoed.json()["outcome"]) == (502, "forbidden")
    # DataApi.get asserted that neither answer carries the secret.


def test_okendo_limiting_is_a_503_with_its_outcome(okendo, merchant, client):
    okendo.respond(429, headers={"Retry-After": "1"}, times=10)

    response = client.get(url(merchant, "reviews/"))

    assert response.status_code == 503
    assert response.json()["outcome"] == "rate_limited"


def test_a_connection_without_its_secret_is_a_409(okendo, client):
    connection = okendo_connection(okendo)
    Connection.objects.filter(pk=connection.pk).update(api_key_encrypted="")

    response = client.get(url(connection, "reviews/"))

    assert response.status_code == 409
    assert response.json()["outcome"] == "misconfigured"
    assert okendo.requests == []


# --- Export ---------------------------------------------------------------------------------


def test_the_export_streams_every_review_once_as_jsonl(okendo, client):
    okendo.serve_reviews(okendo.user_id, 230)
    connection = okendo_connection(okendo)

    response = client.get(url(connection, "reviews/export/"), {"format": "jsonl", "limit": "100"})

    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "application/x-ndjson; charset=utf-8"
    assert response["Content-Disposition"] == (
        f'attachment; filename="connection-{connection.pk}-reviews.jsonl"'
    )
    ids = [json.loads(line)["reviewId"] for line in response.body_text.splitlines()]
    assert ids == [ReviewStore.review_id(i) for i in range(230)]
    assert len(okendo.review_requests()) == 3
    [event] = ConnectionEvent.objects.filter(
        connection_uid=connection.uid, action=ConnectionEvent.Action.EXPORTED
    )
    assert (event.details["records"], event.details["pages"], event.details["format"]) == (
        230,
        3,
        "jsonl",
    )


def test_the_export_streams_every_review_once_as_csv_with_filters(okendo, client):
    okendo.serve_reviews(okendo.user_id, 120)
    connection = okendo_connection(okendo)

    response = client.get(
        url(connection, "reviews/export/"), {"format": "csv", "status": "pending", "limit": "5"}
    )

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].endswith('reviews.csv"')
    rows = list(csv.DictReader(io.StringIO(response.body_text)))
    store = ReviewStore(120)
    assert [row["reviewId"] for row in rows] == [
        store.review_id(i) for i in range(120) if store.status(i) == "pending"
    ]
    assert {row["status"] for row in rows} == {"pending"}


def test_the_export_format_follows_drf_negotiation(okendo, merchant, client):
    by_accept = client.get(url(merchant, "reviews/export/"), Accept="text/csv")
    by_default = client.get(url(merchant, "reviews/export/"))
    unknown = client.get(url(merchant, "reviews/export/"), {"format": "xml"})
    bad_status = client.get(url(merchant, "reviews/export/"), {"status": "x", "format": "csv"})
    with_cursor = client.get(url(merchant, "reviews/export/"), {"cursor": "x"})

    assert by_accept["Content-Type"].startswith("text/csv")
    assert by_default["Content-Type"].startswith("application/x-ndjson")
    assert unknown.status_code == 400
    assert unknown["Content-Type"] == "application/json"
    assert "jsonl or csv" in unknown.json()["errors"]["non_field_errors"][0]
    assert bad_status.status_code == 400
    assert bad_status["Content-Type"] == "application/json"
    assert with_cursor.status_code == 400


def test_okendo_refusing_is_logged_with_its_outcome(okendo, merchant, client, caplog):
    okendo.respond(503)

    with caplog.at_level(logging.WARNING):
        assert client.get(url(merchant, "reviews/")).status_code == 502

    # Ours says what Okendo answered; Django's django.request logs the 5xx as it does.
    assert "answered 502: unavailable" in caplog.text
    assert [r.levelname for r in caplog.records if r.name == "django.request"] == ["ERROR"]
    assert okendo.api_key not in caplog.text
