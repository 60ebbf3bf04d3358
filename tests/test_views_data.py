"""The detail page's Data section: preview (htmx and plain GET) and Download, behind read_data."""

from __future__ import annotations

import csv
import io
import json
import re
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.urls import reverse

from connections.models import Connection, ConnectionEvent
from tests.factories import client_for, make_user, okendo_connection
from tests.fake_okendo import GROUP_ID, PRODUCT_BASE

pytestmark = pytest.mark.django_db

HTMX: dict[str, Any] = {"HTTP_HX_REQUEST": "true"}


def reader_user(username="reader"):
    user = make_user(username, "view")
    user.user_permissions.add(Permission.objects.get(codename="read_data"))
    return User.objects.get(pk=user.pk)


@pytest.fixture
def reader():
    return client_for(reader_user())


def data_url(connection, **params):
    url = reverse("connections:data", args=[connection.pk])
    return url, params


def get_data(client, connection, htmx=False, **params):
    url = reverse("connections:data", args=[connection.pk])
    return client.get(url, params, **(HTMX if htmx else {}))


def download(client, connection, **params):
    url = reverse("connections:data_download", args=[connection.pk])
    return client.get(url, params)


def streamed(response) -> str:
    return b"".join(response.streaming_content).decode()


# --- Permission ------------------------------------------------------------------------


def test_without_read_data_the_page_shows_nothing_of_the_data_section(okendo):
    staff = make_user("staff", "view", "add", "change", "delete", is_staff=True)
    connection = okendo_connection(okendo)

    page = client_for(staff).get(reverse("connections:detail", args=[connection.pk]))

    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="data"' not in html
    assert reverse("connections:data", args=[connection.pk]) not in html


@pytest.mark.parametrize("view", ["connections:data", "connections:data_download"])
def test_without_read_data_the_data_urls_answer_403_before_any_request(okendo, view):
    staff = client_for(make_user("staff", "view", "add", "change", "delete", is_staff=True))
    connection = okendo_connection(okendo)
    url = reverse(view, args=[connection.pk])

    for params in ({}, {"resource": "reviews", "format": "jsonl"}):
        assert staff.get(url, params).status_code == 403
        assert staff.get(url, params, **HTMX).status_code == 403
    assert okendo.requests == []
    assert not ConnectionEvent.objects.exists()


def test_read_data_without_view_is_refused_too(okendo):
    user = make_user("nosy")
    user.user_permissions.add(Permission.objects.get(codename="read_data"))
    connection = okendo_connection(okendo)

    assert get_data(client_for(user), connection, resource="reviews").status_code == 403
    assert okendo.requests == []


def test_with_read_data_the_detail_page_offers_the_merchant_resources(okendo, reader):
    connection = okendo_connection(okendo)

    html = reader.get(reverse("connections:detail", args=[connection.pk])).content.decode()

    assert 'id="data"' in html
    for value in ("reviews", "customer", "loyalty_customer"):
        assert f'<option value="{value}"' in html
    assert 'value="product_reviews"' not in html
    assert "Download JSONL" in html
    assert "Download CSV" in html


# --- Fields follow the resource ------------------------------------------------------------


@pytest.mark.parametrize(
    ("api_type", "resource", "names"),
    [
        ("merchant", "reviews", {"limit", "orderBy", "status"}),
        ("merchant", "customer", {"email"}),
        ("merchant", "loyalty_customer", {"email"}),
        ("storefront", "reviews", {"limit", "orderBy"}),
        ("storefront", "product_reviews", {"product_id", "limit", "orderBy"}),
        ("storefront", "group_reviews", {"group_id", "limit", "orderBy"}),
        ("storefront", "review_aggregate", set()),
        ("storefront", "product_review_aggregate", {"product_id"}),
        ("storefront", "group_review_aggregate", {"group_id"}),
    ],
)
def test_changing_the_resource_shows_its_fields_as_a_partial_or_a_page(
    okendo, reader, api_type, resource, names
):
    connection = okendo_connection(okendo, api_type=api_type)
    every = {"limit", "orderBy", "status", "product_id", "group_id", "email"}

    for htmx in (True, False):
        response = get_data(reader, connection, htmx=htmx, resource=resource, change="1")
        html = response.content.decode()
        assert response.status_code == 200
        assert ("<html" in html) is not htmx
        for name in every:
            assert (f'name="{name}"' in html) is (name in names), name
        assert f'<option value="{resource}" selected>' in html
    assert okendo.requests == []


def test_a_resource_the_type_does_not_allow_is_refused_beside_its_field(okendo, reader):
    connection = okendo_connection(okendo, api_type="storefront")

    response = get_data(reader, connection, htmx=True, resource="customer", email="a@example.com")

    assert response["HX-Retarget"] == "#data-fields"
    assert "Select a valid choice" in response.content.decode()
    assert okendo.requests == []


# --- Fetch and next page ---------------------------------------------------------------------


def test_fetch_shows_the_first_page_as_a_table_and_next_page_follows_the_cursor(okendo, reader):
    okendo.serve_reviews(okendo.user_id, 7)
    connection = okendo_connection(okendo, status=Connection.Status.ONLINE)

    first = get_data(
        reader, connection, htmx=True, resource="reviews", limit="3", orderBy="date desc"
    )
    html = first.content.decode()

    assert first.status_code == 200
    assert "<html" not in html
    assert "<table" in html
    first_titles = re.findall(r'<td data-label="Title">(Review \d{6})</td>', html)
    assert len(first_titles) == 3
    assert "Reviewer 000000" in html
    assert "Linen shirt, size 0" in html
    assert html.count("<details") == 3
    assert "&quot;reviewId&quot;" in html  # the row's full JSON, escaped
    assert 'hx-get="/connections/' in html
    assert "cursor=" in html
    next_link = html.split('hx-get="', 2)[1].split('"')[0].replace("&amp;", "&")

    second = reader.get(next_link, **HTMX).content.decode()

    second_titles = re.findall(r'<td data-label="Title">(Review \d{6})</td>', second)
    assert second_titles
    assert not set(second_titles) & set(first_titles)
    assert sorted(first_titles + second_titles) == first_titles + second_titles  # newest first
    assert "Page 2" in second
    assert not ConnectionEvent.objects.exists()  # previews are not stored
    sent = okendo.review_requests()
    assert [r.query.get("limit") for r in sent] == [["3"], ["3"]]
    assert sent[0].query["orderBy"] == ["date desc"]


def test_without_javascript_fetch_renders_the_whole_page_with_the_table(okendo, reader):
    okendo.serve_reviews(okendo.user_id, 2)
    connection = okendo_connection(okendo)

    html = get_data(reader, connection, resource="reviews", status="approved").content.decode()

    assert "<html" in html
    assert 'id="history"' in html
    assert "<table" in html
    assert okendo.review_requests()[0].query["status"] == ["approved"]


@pytest.mark.parametrize(
    ("resource", "params", "expected_path"),
    [
        ("reviews", {"limit": "25", "orderBy": "rating asc"}, "/stores/{store}/reviews"),
        (
            "product_reviews",
            {"product_id": str(PRODUCT_BASE + 1), "limit": "5"},
            f"/stores/{{store}}/products/shopify-{PRODUCT_BASE + 1}/reviews",
        ),
        (
            "group_reviews",
            {"group_id": GROUP_ID},
            f"/stores/{{store}}/collections/{GROUP_ID}/reviews",
        ),
        ("review_aggregate", {}, "/stores/{store}/review_aggregate"),
        (
            "product_review_aggregate",
            {"product_id": str(PRODUCT_BASE)},
            f"/stores/{{store}}/products/shopify-{PRODUCT_BASE}/review_aggregate",
        ),
        (
            "group_review_aggregate",
            {"group_id": GROUP_ID},
            f"/stores/{{store}}/collections/{GROUP_ID}/review_aggregate",
        ),
    ],
)
def test_every_storefront_resource_reads_its_own_path(
    okendo, reader, resource, params, expected_path
):
    okendo.serve_reviews(okendo.store_id, 30)
    connection = okendo_connection(okendo, api_type="storefront")

    response = get_data(reader, connection, htmx=True, resource=resource, **params)

    html = response.content.decode()
    assert response.status_code == 200
    assert 'data-outcome="' not in html, html
    [request] = okendo.requests
    assert request.path.endswith(expected_path.format(store=okendo.store_id)), request.path
    for name, value in params.items():
        if name in ("limit", "orderBy"):
            assert request.query[name] == [value]
    if "aggregate" in resource:
        assert "reviewCount" in html


def test_a_customer_and_a_loyalty_customer_are_shown_as_json(okendo, reader):
    okendo.add_customer(okendo.user_id, "sam@example.com")
    okendo.enable_loyalty(okendo.user_id, "sam@example.com")
    connection = okendo_connection(okendo, status=Connection.Status.ONLINE)

    for resource in ("customer", "loyalty_customer"):
        html = get_data(
            reader, connection, htmx=True, resource=resource, email="sam@example.com"
        ).content.decode()
        assert 'class="data-json"' in html
        assert 'data-outcome="' not in html
    assert not ConnectionEvent.objects.exists()


def test_loyalty_off_shows_the_outcome_word_and_sentence(okendo, reader):
    okendo.disable_loyalty(okendo.user_id)
    connection = okendo_connection(okendo, status=Connection.Status.ONLINE)

    html = get_data(
        reader, connection, htmx=True, resource="loyalty_customer", email="sam@example.com"
    ).content.decode()

    assert 'data-outcome="forbidden"' in html
    assert "Loyalty is not enabled for this store" in html
    assert Connection.objects.get(pk=connection.pk).status == Connection.Status.ONLINE


def test_a_401_during_a_preview_marks_the_connection_offline_and_updates_the_history(
    okendo, reader
):
    connection = okendo_connection(okendo, status=Connection.Status.ONLINE)
    okendo.respond(401)

    html = get_data(reader, connection, htmx=True, resource="reviews").content.decode()

    assert 'data-outcome="auth_failed"' in html
    assert Connection.objects.get(pk=connection.pk).status == Connection.Status.OFFLINE
    assert 'id="history"' in html
    assert 'hx-swap-oob="true"' in html
    assert "Marked Offline" in html


# --- Injection is refused before any request ---------------------------------------------------


@pytest.mark.parametrize(
    ("api_type", "params", "field"),
    [
        ("storefront", {"resource": "product_reviews", "product_id": "../../admin"}, "product_id"),
        ("storefront", {"resource": "product_reviews", "product_id": "12%2F34"}, "product_id"),
        ("storefront", {"resource": "product_reviews", "product_id": "12?x=1"}, "product_id"),
        ("storefront", {"resource": "product_reviews", "product_id": "12#x"}, "product_id"),
        (
            "storefront",
            {"resource": "product_reviews", "product_id": "\uff11\uff12\uff13"},
            "product_id",
        ),
        ("storefront", {"resource": "group_reviews", "group_id": "../reviews"}, "group_id"),
        ("storefront", {"resource": "reviews", "limit": "\uff12\uff15"}, "limit"),
        ("storefront", {"resource": "reviews", "limit": "26"}, "limit"),
        ("merchant", {"resource": "reviews", "limit": "101"}, "limit"),
        ("merchant", {"resource": "reviews", "orderBy": "date desc&x=1"}, "orderBy"),
        ("merchant", {"resource": "reviews", "status": "all"}, "status"),
        ("merchant", {"resource": "customer", "email": "a@b.com?x=1"}, "email"),
        ("merchant", {"resource": "customer", "email": "a@b.com#/../x"}, "email"),
        ("merchant", {"resource": "loyalty_customer", "email": ""}, "email"),
    ],
)
def test_injection_is_refused_beside_its_field_before_any_request(
    okendo, reader, api_type, params, field
):
    connection = okendo_connection(okendo, api_type=api_type)

    for htmx in (True, False):
        response = get_data(reader, connection, htmx=htmx, **params)
        html = response.content.decode()
        assert response.status_code == 200
        assert f'id="id_{field}_error"' in html, html
    response = download(reader, connection, format="jsonl", **params)
    assert response.status_code == 400
    assert okendo.requests == []


def test_a_cursor_this_app_did_not_hand_out_is_refused_before_any_request(okendo, reader):
    connection = okendo_connection(okendo)

    html = get_data(
        reader, connection, htmx=True, resource="reviews", cursor="x\n\x00y"
    ).content.decode()

    assert 'data-outcome="misconfigured"' in html
    assert okendo.requests == []


# --- Download ----------------------------------------------------------------------------------


def test_download_streams_every_review_as_jsonl_and_records_one_export(okendo, reader):
    okendo.serve_reviews(okendo.user_id, 120)
    connection = okendo_connection(okendo)

    response = download(reader, connection, resource="reviews", format="jsonl", limit="50")

    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"].startswith("application/x-ndjson")
    assert response["Content-Disposition"].startswith('attachment; filename="okendo-reviews-')
    assert response["Content-Disposition"].endswith('.jsonl"')
    lines = streamed(response).splitlines()
    assert len(lines) == 120
    assert len({json.loads(line)["reviewId"] for line in lines}) == 120
    [event] = ConnectionEvent.objects.filter(action=ConnectionEvent.Action.EXPORTED)
    assert event.actor_name == "reader"
    assert event.details["records"] == 120
    assert event.details["format"] == "jsonl"


def test_download_csv_of_a_products_reviews(okendo, reader):
    okendo.serve_reviews(okendo.store_id, 40)
    connection = okendo_connection(okendo, api_type="storefront")

    response = download(
        reader, connection, resource="product_reviews", product_id=str(PRODUCT_BASE), format="csv"
    )

    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(streamed(response))))
    assert rows
    assert {row["productId"] for row in rows} == {f"shopify-{PRODUCT_BASE}"}
    assert "/products/shopify-" in okendo.review_requests()[0].path


@pytest.mark.parametrize(
    "params",
    [
        {"resource": "customer", "email": "sam@example.com", "format": "csv"},
        {"resource": "reviews", "format": "xlsx"},
        {"resource": "reviews"},
    ],
)
def test_download_refuses_what_it_cannot_export_before_any_request(okendo, reader, params):
    connection = okendo_connection(okendo)

    response = download(reader, connection, **params)

    assert response.status_code == 400
    assert 'data-outcome="misconfigured"' in response.content.decode()
    assert okendo.requests == []
    assert not ConnectionEvent.objects.exists()


# --- No secret anywhere --------------------------------------------------------------------------


def test_no_secret_in_any_page_or_download_even_when_okendo_echoes_it(okendo, reader):
    okendo.serve_reviews(okendo.user_id, 3)
    connection = okendo_connection(okendo)
    detail = reader.get(reverse("connections:detail", args=[connection.pk])).content.decode()
    page = get_data(reader, connection, resource="reviews").content.decode()
    fragment = get_data(reader, connection, htmx=True, resource="reviews").content.decode()
    file = streamed(download(reader, connection, resource="reviews", format="csv"))
    okendo.respond(
        200, json_body={"reviews": [{"title": "{user} {secret_url}", "reviewer": {}}]}, echo=True
    )
    echoed = get_data(reader, connection, htmx=True, resource="reviews").content.decode()
    okendo.respond(200, json_body={"reviews": [{"title": "{user}", "reviewer": {}}]}, echo=True)
    echoed_id = get_data(reader, connection, htmx=True, resource="reviews").content.decode()
    okendo.respond(403, json_body={"error": {"description": "key={secret}"}}, echo=True)
    refused = get_data(reader, connection, htmx=True, resource="reviews").content.decode()

    # The client refuses an answer holding the secret; the preview scrubs the account id.
    assert 'data-outcome="unexpected"' in echoed
    assert "[redacted]" in echoed_id
    assert okendo.user_id not in echoed_id
    for text in (detail, page, fragment, file, echoed, echoed_id, refused):
        assert okendo.api_key not in text
        assert okendo.api_key[:12] not in text
