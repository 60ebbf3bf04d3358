"""Reading through a saved connection: the read_data permission, status, history, export rows."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.core.exceptions import PermissionDenied

from connections import reads
from connections.models import Connection, ConnectionEvent
from connections.okendo import Outcome, ReviewQuery, ReviewScope
from tests.factories import make_user, okendo_connection
from tests.fake_okendo import GROUP_ID, PRODUCT_BASE

pytestmark = pytest.mark.django_db


def reader_user(username="reader", *actions):
    user = make_user(username, *actions)
    user.user_permissions.add(Permission.objects.get(codename="read_data"))
    return User.objects.get(pk=user.pk)  # a fresh row: permissions are cached per instance


@pytest.fixture
def reader():
    return reader_user()


def everything_recorded(connection):
    events = ConnectionEvent.objects.filter(connection_uid=connection.uid)
    return " ".join(f"{e.summary} {json.dumps(e.details)} {e.actor_name}" for e in events)


# --- The permission ------------------------------------------------------------------


def test_read_data_is_its_own_permission_with_a_plain_name():
    permission = Permission.objects.get(content_type__app_label="connections", codename="read_data")

    assert permission.name == "Can read Okendo data through a connection"


@pytest.mark.parametrize(
    "call",
    [
        lambda c, u: reads.reviews_page(connection=c, actor=u),
        lambda c, u: reads.customer(connection=c, actor=u, email="sam@example.com"),
        lambda c, u: reads.loyalty_customer(connection=c, actor=u, email="sam@example.com"),
        lambda c, u: reads.review_export(connection=c, actor=u, fmt="jsonl"),
        lambda c, u: reads.review_export_stream(connection=c, actor=u, fmt="csv"),
    ],
)
def test_staff_with_view_and_change_but_not_read_data_is_refused_before_any_request(okendo, call):
    staff = make_user("staff", "view", "add", "change", "delete", is_staff=True)
    connection = okendo_connection(okendo)

    with pytest.raises(PermissionDenied):
        call(connection, staff)

    assert okendo.requests == []
    assert not ConnectionEvent.objects.exists()


def test_anonymous_and_inactive_users_are_refused(okendo):
    from django.contrib.auth.models import AnonymousUser

    inactive = reader_user("gone")
    inactive.is_active = False
    inactive.save()
    connection = okendo_connection(okendo)

    for actor in (AnonymousUser(), User.objects.get(pk=inactive.pk)):
        with pytest.raises(PermissionDenied):
            reads.reviews_page(connection=connection, actor=actor)
    assert okendo.requests == []


def test_a_user_with_read_data_reads_and_a_superuser_too(okendo, reader):
    okendo.serve_reviews(okendo.user_id, 3)
    connection = okendo_connection(okendo)
    boss = User.objects.create_superuser("boss")

    assert len(reads.reviews_page(connection=connection, actor=reader).reviews) == 3
    assert len(reads.reviews_page(connection=connection, actor=boss).reviews) == 3


# --- Status follows every use ---------------------------------------------------------------


def test_a_401_during_a_read_marks_the_connection_offline(okendo, reader):
    connection = okendo_connection(okendo, status=Connection.Status.ONLINE)
    okendo.respond(401)

    with pytest.raises(reads.ReadFailed) as caught:
        reads.reviews_page(connection=connection, actor=reader)

    assert caught.value.outcome is Outcome.AUTH_FAILED
    assert "marked Offline" in caught.value.message
    assert Connection.objects.get(pk=connection.pk).status == Connection.Status.OFFLINE
    # A preview is not kept, but the change of status is, without any data.
    [event] = ConnectionEvent.objects.filter(connection=connection)
    assert event.action == ConnectionEvent.Action.READ
    assert "Marked Offline" in event.summary
    assert event.details["outcome"] == "auth_failed"


def test_a_401_half_way_through_an_export_marks_it_offline_and_records_the_export(okendo, reader):
    okendo.serve_reviews(okendo.user_id, 300)
    connection = okendo_connection(okendo, status=Connection.Status.ONLINE)
    okendo.answer_normally(1)
    okendo.respond(401)

    pages = reads.review_export(
        connection=connection, actor=reader, fmt="jsonl", query=ReviewQuery(limit=100)
    )
    assert next(pages).records == 100
    with pytest.raises(reads.ReadFailed) as caught:
        next(pages)

    assert caught.value.outcome is Outcome.AUTH_FAILED
    assert Connection.objects.get(pk=connection.pk).status == Connection.Status.OFFLINE
    [event] = ConnectionEvent.objects.filter(action=ConnectionEvent.Action.EXPORTED)
    assert event.details["outcome"] == "auth_failed"
    assert event.details["records"] == 100


def test_an_answered_read_marks_an_untested_connection_online(okendo, reader):
    okendo.serve_reviews(okendo.user_id, 1)
    connection = okendo_connection(okendo)

    reads.reviews_page(connection=connection, actor=reader)

    assert Connection.objects.get(pk=connection.pk).status == Connection.Status.ONLINE


def test_loyalty_off_changes_nothing_about_the_connection(okendo, reader):
    okendo.disable_loyalty(okendo.user_id)
    connection = okendo_connection(okendo, status=Connection.Status.ONLINE)

    with pytest.raises(reads.ReadFailed) as caught:
        reads.loyalty_customer(connection=connection, actor=reader, email="sam@example.com")

    assert caught.value.outcome is Outcome.FORBIDDEN
    assert caught.value.message.startswith("Loyalty is not enabled for this store")
    assert Connection.objects.get(pk=connection.pk).status == Connection.Status.ONLINE


def test_a_read_does_not_overwrite_credentials_edited_meanwhile(okendo, reader):
    connection = okendo_connection(okendo, status=Connection.Status.ONLINE)
    Connection.objects.filter(pk=connection.pk).update(user_id=okendo.store_id)
    okendo.respond(401)

    with pytest.raises(reads.ReadFailed):
        reads.reviews_page(connection=connection, actor=reader)

    assert Connection.objects.get(pk=connection.pk).status == Connection.Status.ONLINE


# --- History: who, what, how many; never the data ----------------------------------------------


def test_a_preview_is_not_stored(okendo, reader):
    okendo.serve_reviews(okendo.user_id, 5)
    connection = okendo_connection(okendo, status=Connection.Status.ONLINE)

    reads.reviews_page(connection=connection, actor=reader)

    assert not ConnectionEvent.objects.exists()


def test_a_recorded_read_names_who_what_and_how_many_but_no_data(okendo, reader):
    okendo.serve_reviews(okendo.user_id, 40)
    okendo.add_customer(okendo.user_id, "sam@example.com")
    connection = okendo_connection(okendo, status=Connection.Status.ONLINE)

    page = reads.reviews_page(
        connection=connection,
        actor=reader,
        query=ReviewQuery(limit=10, status="approved"),
        record=True,
    )
    reads.customer(connection=connection, actor=reader, email="sam@example.com", record=True)

    review_event, customer_event = ConnectionEvent.objects.order_by("id")
    assert review_event.action == ConnectionEvent.Action.READ
    assert review_event.actor == reader
    assert review_event.details == {
        "resource": "reviews",
        "records": 10,
        "outcome": "ok",
        "limit": 10,
        "status": "approved",
        "cursor": False,
    }
    assert customer_event.details == {"resource": "customer", "records": 1, "outcome": "ok"}
    recorded = everything_recorded(connection)
    assert "sam@example.com" not in recorded
    for review in page.reviews:
        assert review["reviewer"]["email"] not in recorded
        assert review["title"] not in recorded
    assert okendo.api_key not in recorded


def test_an_export_is_one_history_event_with_counts_and_no_data(okendo, reader):
    okendo.serve_reviews(okendo.user_id, 250)
    connection = okendo_connection(okendo, status=Connection.Status.ONLINE)

    texts = [
        page.text
        for page in reads.review_export(
            connection=connection, actor=reader, fmt="csv", query=ReviewQuery(limit=100)
        )
    ]

    [event] = ConnectionEvent.objects.all()
    assert event.action == ConnectionEvent.Action.EXPORTED
    assert event.actor_name == "reader"
    assert event.summary == "Exported 250 reviews (3 pages) as CSV."
    assert event.details == {
        "resource": "reviews",
        "format": "csv",
        "records": 250,
        "pages": 3,
        "outcome": "ok",
        "resumed": False,
        "limit": 100,
    }
    assert "reviewer000001@example.com" in "".join(texts)
    assert "@example.com" not in everything_recorded(connection)


def test_an_export_stream_closed_early_is_recorded_as_stopped(okendo, reader):
    okendo.serve_reviews(okendo.user_id, 300)
    connection = okendo_connection(okendo, status=Connection.Status.ONLINE)

    stream = reads.review_export_stream(
        connection=connection, actor=reader, fmt="jsonl", query=ReviewQuery(limit=100)
    )
    next(stream)
    stream.close()  # what StreamingHttpResponse does when the client hangs up

    [event] = ConnectionEvent.objects.all()
    assert event.details["outcome"] == "stopped"
    assert event.details["records"] == 100
    assert len(okendo.requests) == 1


def test_an_export_checks_its_parameters_before_any_request(okendo, reader):
    connection = okendo_connection(okendo)

    for kwargs in (
        {"fmt": "xml"},
        {"fmt": "csv", "scope": ReviewScope(product_id="1")},
        {"fmt": "csv", "query": ReviewQuery(order_by="helpful desc")},
        {"fmt": "csv", "cursor": "bad\ncursor"},
    ):
        with pytest.raises(reads.ReadFailed) as caught:
            reads.review_export(connection=connection, actor=reader, **kwargs)
        assert caught.value.outcome is Outcome.MISCONFIGURED
    assert okendo.requests == []


def test_a_connection_whose_secret_cannot_be_read_is_misconfigured(okendo, reader):
    connection = okendo_connection(okendo)
    Connection.objects.filter(pk=connection.pk).update(api_key_encrypted="")
    connection.refresh_from_db()

    with pytest.raises(reads.ReadFailed) as caught:
        reads.reviews_page(connection=connection, actor=reader)

    assert caught.value.outcome is Outcome.MISCONFIGURED
    assert okendo.requests == []


# --- Storefront through the service -----------------------------------------------------------


def test_storefront_product_group_and_aggregate_reads(okendo, reader):
    okendo.serve_reviews(okendo.store_id, 50)
    connection = okendo_connection(okendo, api_type="storefront", status="online")

    product = reads.reviews_page(
        connection=connection, actor=reader, scope=ReviewScope(product_id=str(PRODUCT_BASE))
    )
    group = reads.review_aggregate(
        connection=connection, actor=reader, scope=ReviewScope(group_id=GROUP_ID), record=True
    )

    assert {r["productId"] for r in product.reviews} == {f"shopify-{PRODUCT_BASE}"}
    assert group["reviewCount"] > 0
    [event] = ConnectionEvent.objects.all()
    assert event.details == {
        "resource": "group_review_aggregate",
        "records": 1,
        "outcome": "ok",
        "group_id": GROUP_ID,
    }


# --- Export rows --------------------------------------------------------------------------


def test_csv_rows_cannot_start_a_formula_or_carry_control_characters():
    reviews: list[dict[str, Any]] = [
        {"title": "=HYPERLINK(1)", "body": "+1\x1b[2Jbell\x07", "rating": 5, "tags": ["a", "b"]},
        {"title": "-2", "body": "@SUM(A1)", "reviewer": {"isVerified": True}, "media": [{}, {}]},
    ]

    rows = list(
        csv.reader(io.StringIO(reads.export_header("csv") + reads.export_rows(reviews, "csv")))
    )

    header, first, second = rows
    cell = dict(zip(header, first, strict=True))
    assert cell["title"] == "'=HYPERLINK(1)"
    assert cell["body"] == "'+1 [2Jbell "
    assert cell["rating"] == "5"
    assert cell["tags"] == "a; b"
    cell = dict(zip(header, second, strict=True))
    assert (cell["title"], cell["body"]) == ("'-2", "'@SUM(A1)")
    assert (cell["reviewer.isVerified"], cell["mediaCount"]) == ("true", "2")


def test_jsonl_rows_are_one_ascii_json_object_a_line():
    reviews: list[dict[str, Any]] = [
        {"title": "Très bien\u009b2J", "body": "two\nlines"},
        {"rating": 4},
    ]

    text = reads.export_rows(reviews, "jsonl")

    assert text.isascii()
    assert [json.loads(line) for line in text.splitlines()] == reviews
