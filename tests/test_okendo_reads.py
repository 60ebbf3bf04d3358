"""The Okendo client's reads against the loopback fake: resources, parameters, pages, refusals."""

from __future__ import annotations

import base64
import json

import pytest

from connections import okendo as client
from connections.okendo import (
    OkendoReader,
    Outcome,
    Resource,
    ReviewQuery,
    ReviewScope,
)
from connections.sensitive import Secret
from tests.fake_okendo import GROUP_COLLECTION_ID, GROUP_ID, PRODUCT_BASE, ReviewStore


def reader(okendo, api_type="merchant", *, throttle=None, secret=None):
    merchant = api_type == "merchant"
    return OkendoReader(
        api_type=api_type,
        account_id=okendo.user_id if merchant else okendo.store_id,
        secret=Secret(secret or (okendo.api_key if merchant else okendo.password)),
        base_url=okendo.base_url,
        connect_timeout=1.0,
        read_timeout=2.0,
        throttle=throttle,
        clock=okendo.clock,
    )


def all_reviews(okendo, api_type="merchant", **kwargs):
    with reader(okendo, api_type) as r:
        return [review for page in r.review_pages(**kwargs) for review in page.reviews]


def ids(reviews):
    return [int(review["reviewId"].rsplit("-", 1)[1]) for review in reviews]


# --- Merchant reviews ------------------------------------------------------------------


def test_merchant_reviews_follow_next_url_page_by_page_until_it_is_absent(okendo):
    okendo.serve_reviews(okendo.user_id, 230)

    with reader(okendo) as r:
        pages = list(r.review_pages(query=ReviewQuery(limit=100)))

    assert [len(p.reviews) for p in pages] == [100, 100, 30]
    assert ids([rv for p in pages for rv in p.reviews]) == list(range(230))
    assert pages[0].cursor is None
    assert pages[1].cursor == pages[0].next_cursor
    assert pages[-1].next_cursor is None
    sent = okendo.review_requests()
    assert [r.path for r in sent] == ["/enterprise/reviews"] * 3
    assert "lastEvaluated" not in sent[0].query
    # The cursor is Okendo's lastEvaluated, sent back on the original request.
    assert json.loads(sent[1].query["lastEvaluated"][0])["reviewId"].endswith("000000000099")
    assert all(r.query["limit"] == ["100"] for r in sent)
    assert all(r.basic_auth() == (okendo.user_id, okendo.api_key) for r in sent)


@pytest.mark.parametrize(
    ("order_by", "key"),
    [
        ("date desc", lambda i: i),
        ("date asc", lambda i: -i),
        ("rating desc", lambda i: (-ReviewStore(0).rating(i), i)),
        ("rating asc", lambda i: (ReviewStore(0).rating(i), -i)),
    ],
)
def test_merchant_reviews_are_ordered_as_asked(okendo, order_by, key):
    okendo.serve_reviews(okendo.user_id, 60)

    got = ids(all_reviews(okendo, query=ReviewQuery(limit=25, order_by=order_by)))

    assert got == sorted(range(60), key=key)
    assert {r.query["orderBy"][0] for r in okendo.review_requests()} == {order_by}


@pytest.mark.parametrize("status", ["approved", "pending", "rejected"])
def test_merchant_reviews_filter_by_status(okendo, status):
    okendo.serve_reviews(okendo.user_id, 120)

    got = all_reviews(okendo, query=ReviewQuery(limit=10, status=status))

    assert got
    assert {review["status"] for review in got} == {status}
    assert len(got) == sum(ReviewStore(0).status(i) == status for i in range(120))
    assert {r.query["status"][0] for r in okendo.review_requests()} == {status}


def test_one_page_from_a_cursor_continues_where_the_previous_page_ended(okendo):
    okendo.serve_reviews(okendo.user_id, 30)

    with reader(okendo) as r:
        first = r.reviews(query=ReviewQuery(limit=10))
        second = r.reviews(query=ReviewQuery(limit=10), cursor=first.next_cursor)

    assert ids(first.reviews) == list(range(10))
    assert ids(second.reviews) == list(range(10, 20))


def test_reads_go_through_the_limiter_once_per_request_and_sleep_its_wait(okendo):
    okendo.serve_reviews(okendo.user_id, 50)
    asked = []

    def throttle(account_id, max_wait):
        asked.append((account_id, max_wait))
        return 0.5

    with reader(okendo, throttle=throttle) as r:
        list(r.review_pages(query=ReviewQuery(limit=10)))

    assert len(asked) == len(okendo.requests) == 5
    assert {a for a, _ in asked} == {okendo.user_id}
    assert okendo.clock.sleeps == [0.5] * 5


def test_a_full_limiter_refuses_without_sending(okendo):
    with (
        reader(okendo, throttle=lambda account_id, max_wait: None) as r,
        pytest.raises(client.LimiterBusy) as caught,
    ):
        r.reviews()

    assert caught.value.outcome is Outcome.RATE_LIMITED
    assert okendo.requests == []


def test_a_429_burst_is_waited_out_honouring_retry_after(okendo):
    okendo.serve_reviews(okendo.user_id, 30)
    okendo.burst_429(3, after=1, retry_after="2")

    got = ids(all_reviews(okendo, query=ReviewQuery(limit=10)))

    assert got == list(range(30))
    assert okendo.clock.sleeps == [2.0, 2.0, 2.0]
    assert len(okendo.requests) == 3 + 3


def test_a_429_without_retry_after_backs_off_a_second(okendo):
    okendo.serve_reviews(okendo.user_id, 5)
    okendo.burst_429(1)

    assert len(all_reviews(okendo)) == 5
    assert okendo.clock.sleeps == [client.DEFAULT_BACKOFF_SECONDS]


def test_a_429_that_never_ends_is_rate_limited_after_the_retries(okendo):
    okendo.respond(429, times=client.READ_MAX_RETRIES + 5)

    with reader(okendo) as r, pytest.raises(client.RateLimited) as caught:
        r.reviews()

    assert caught.value.outcome is Outcome.RATE_LIMITED
    assert len(okendo.requests) == client.READ_MAX_RETRIES + 1


def test_a_retry_after_longer_than_a_reader_waits_gives_up_at_once(okendo):
    okendo.respond(429, headers={"Retry-After": "3600"}, times=3)

    with reader(okendo) as r, pytest.raises(client.RateLimited):
        r.reviews()

    assert len(okendo.requests) == 1
    assert okendo.clock.sleeps == []


def test_a_page_cut_off_half_way_is_unavailable(okendo):
    okendo.serve_reviews(okendo.user_id, 300)
    okendo.fail_halfway(after=1)

    with reader(okendo) as r:
        pages = r.review_pages(query=ReviewQuery(limit=100))
        assert len(next(pages).reviews) == 100
        with pytest.raises(client.OkendoUnavailable) as caught:
            next(pages)

    assert caught.value.outcome is Outcome.UNAVAILABLE


def test_an_oversized_page_is_never_read_whole(okendo):
    okendo.respond_large(2 * client.MAX_BODY_BYTES, declare_length=False)

    with reader(okendo) as r, pytest.raises(client.ResponseTooLarge) as caught:
        r.reviews()

    assert caught.value.outcome is Outcome.UNEXPECTED


def test_a_cursor_that_repeats_is_refused(okendo):
    okendo.serve_reviews(okendo.user_id, 100)
    okendo.repeat_cursor(after=2)

    with reader(okendo) as r, pytest.raises(client.UnexpectedResponse, match="repeats"):
        list(r.review_pages(query=ReviewQuery(limit=10)))

    assert len(okendo.requests) == 3  # the repeated page is not asked for again


@pytest.mark.parametrize(
    "next_url",
    [
        "https://attacker.example/enterprise/reviews?lastEvaluated=x",
        "//attacker.example/reviews?lastEvaluated=x",
        "/customers?lastEvaluated=x",
        "/reviews/../customers?lastEvaluated=x",
        "/reviews%2F..%2Fcustomers?lastEvaluated=x",
        "/reviews?lastEvaluated=x#frag",
        "/reviews?limit=1",
        "/reviews?lastEvaluated=a&lastEvaluated=b",
        "/reviews?lastEvaluated=%0Abad",
    ],
)
def test_a_next_url_that_leaves_the_listing_or_lacks_a_cursor_is_refused(okendo, next_url):
    okendo.serve_reviews(okendo.user_id, 100)
    okendo.next_url(next_url)

    with reader(okendo) as r, pytest.raises(client.UnexpectedResponse):
        list(r.review_pages(query=ReviewQuery(limit=10)))

    assert len(okendo.requests) == 1


def test_a_next_url_with_the_base_path_is_followed_too(okendo):
    okendo.serve_reviews(okendo.user_id, 20)
    okendo.next_url('/enterprise/reviews?lastEvaluated={"reviewId":"0-0-0-0-000000000009"}')

    got = ids(all_reviews(okendo, query=ReviewQuery(limit=10)))

    assert got == list(range(20))


def test_an_answer_that_echoes_the_secret_is_refused_and_not_returned(okendo):
    okendo.respond(200, json_body={"reviews": [{"title": f"key {okendo.api_key}"}]})

    with reader(okendo) as r, pytest.raises(client.UnexpectedResponse) as caught:
        r.reviews()

    assert okendo.api_key not in str(caught.value)


def test_reviews_that_are_not_a_list_of_objects_are_unexpected(okendo):
    okendo.respond(200, json_body={"reviews": ["not an object"]})

    with reader(okendo) as r, pytest.raises(client.UnexpectedResponse):
        r.reviews()


# --- Merchant customers and loyalty ------------------------------------------------------


def test_customer_by_email_looks_up_the_id_then_reads_the_customer(okendo):
    customer_id = okendo.add_customer(okendo.user_id, "sam@example.com")

    with reader(okendo) as r:
        customer = r.customer(email="sam@example.com")

    assert customer["customerId"] == customer_id
    lookup, read = okendo.requests
    assert (lookup.method, lookup.path) == ("POST", "/enterprise/customer_lookup")
    assert json.loads(lookup.body) == {"email": "sam@example.com"}
    assert lookup.headers["content-type"] == "application/json"
    assert (read.method, read.path) == ("GET", f"/enterprise/customers/{customer_id}")


def test_an_unknown_customer_is_not_found(okendo):
    with reader(okendo) as r, pytest.raises(client.NotFound) as caught:
        r.customer(email="nobody@example.com")

    message = client.read_error_sentence(
        caught.value, api_type="merchant", resource=Resource.CUSTOMER, secret=Secret("x" * 32)
    )
    assert "knows no customer with this email" in message
    assert len(okendo.requests) == 1


@pytest.mark.parametrize("customer_id", ["../reviews", "a/b", "a?b", "x" * 101, "", None])
def test_a_customer_id_from_okendo_that_is_not_an_id_never_reaches_a_path(okendo, customer_id):
    okendo.respond(200, json_body={"customerId": customer_id})

    with reader(okendo) as r, pytest.raises(client.UnexpectedResponse):
        r.customer(email="sam@example.com")

    assert len(okendo.requests) == 1


def test_loyalty_customer_by_email(okendo):
    okendo.enable_loyalty(okendo.user_id, "sam@example.com")

    with reader(okendo) as r:
        member = r.loyalty_customer(email="sam@example.com")

    assert member["points"] == {"balance": 120}
    [sent] = okendo.requests
    assert sent.path == "/enterprise/loyalty/customers"
    assert sent.query == {"email": ["sam@example.com"]}


def test_loyalty_off_is_its_own_sentence_not_wrong_credentials(okendo):
    okendo.disable_loyalty(okendo.user_id)

    with reader(okendo) as r, pytest.raises(client.LoyaltyNotEnabled) as caught:
        r.loyalty_customer(email="sam@example.com")

    assert caught.value.outcome is Outcome.FORBIDDEN
    message = client.read_error_sentence(
        caught.value,
        api_type="merchant",
        resource=Resource.LOYALTY_CUSTOMER,
        secret=Secret(okendo.api_key),
    )
    assert message.startswith("Loyalty is not enabled for this store")
    assert "rejected" not in message
    assert "credentials" in message  # "says nothing about the credentials"


def test_an_unknown_loyalty_customer_is_not_found(okendo):
    okendo.enable_loyalty(okendo.user_id)

    with reader(okendo) as r, pytest.raises(client.NotFound):
        r.loyalty_customer(email="nobody@example.com")


def test_wrong_credentials_are_auth_failed_on_every_read(okendo):
    with (
        reader(okendo, secret="sk_test_NOT_A_REAL_KEY_wrong000001") as r,
        pytest.raises(client.AuthenticationFailed) as caught,
    ):
        r.reviews()

    message = client.read_error_sentence(
        caught.value, api_type="merchant", resource=Resource.REVIEWS, secret=Secret("x" * 32)
    )
    assert "rejected this connection's User ID and API key (HTTP 401)" in message


# --- Storefront ---------------------------------------------------------------------


def test_storefront_store_reviews_follow_next_url_relative_to_v1(okendo):
    okendo.serve_reviews(okendo.store_id, 80)

    got = all_reviews(okendo, "storefront", query=ReviewQuery(limit=25))

    assert {review["status"] for review in got} == {"approved"}  # public: published only
    assert len(got) == sum(ReviewStore(0).status(i) == "approved" for i in range(80)) == 64
    sent = okendo.review_requests()
    assert len(sent) == 3
    assert {r.path for r in sent} == {f"/v1/stores/{okendo.store_id}/reviews"}


@pytest.mark.parametrize(
    "order_by",
    [*client.STOREFRONT_ORDERS],
)
def test_storefront_takes_every_documented_order(okendo, order_by):
    okendo.serve_reviews(okendo.store_id, 30)

    got = all_reviews(okendo, "storefront", query=ReviewQuery(limit=25, order_by=order_by))

    assert len(got) == sum(ReviewStore(0).status(i) == "approved" for i in range(30))
    assert {r.query["orderBy"][0] for r in okendo.requests} == {order_by}


def test_storefront_product_reviews(okendo):
    okendo.serve_reviews(okendo.store_id, 200)
    product = str(PRODUCT_BASE + 3)

    got = all_reviews(okendo, "storefront", scope=ReviewScope(product_id=product))

    assert got
    assert {review["productId"] for review in got} == {f"shopify-{product}"}
    assert {r.path for r in okendo.requests} == {
        f"/v1/stores/{okendo.store_id}/products/shopify-{product}/reviews"
    }


@pytest.mark.parametrize("group", [GROUP_ID, GROUP_ID.upper(), GROUP_COLLECTION_ID])
def test_storefront_group_reviews(okendo, group):
    okendo.serve_reviews(okendo.store_id, 100)

    got = all_reviews(okendo, "storefront", scope=ReviewScope(group_id=group))

    assert got
    assert {review["productId"] for review in got} == {
        f"shopify-{PRODUCT_BASE + n}" for n in (0, 1, 2)
    }
    assert {r.path for r in okendo.requests} == {
        f"/v1/stores/{okendo.store_id}/collections/{group.lower()}/reviews"
    }


@pytest.mark.parametrize(
    ("scope", "suffix"),
    [
        (ReviewScope(), "review_aggregate"),
        (ReviewScope(product_id=str(PRODUCT_BASE)), f"products/shopify-{PRODUCT_BASE}/"),
        (ReviewScope(group_id=GROUP_ID), f"collections/{GROUP_ID}/"),
    ],
)
def test_storefront_review_aggregate_of_store_product_and_group(okendo, scope, suffix):
    okendo.serve_reviews(okendo.store_id, 70)

    with reader(okendo, "storefront") as r:
        aggregate = r.review_aggregate(scope=scope)

    expected = ReviewStore(70).aggregate(product=scope.product_id, group=scope.group_id)
    assert aggregate == expected
    assert aggregate["reviewCount"] > 0
    [sent] = okendo.requests
    assert sent.path.startswith(f"/v1/stores/{okendo.store_id}/")
    assert sent.path.endswith("review_aggregate")
    assert suffix.rstrip("/") in sent.path


def test_an_aggregate_answer_without_an_aggregate_is_unexpected(okendo):
    okendo.respond(200, json_body={"reviews": []})

    with reader(okendo, "storefront") as r, pytest.raises(client.UnexpectedResponse):
        r.review_aggregate()


def test_a_storefront_next_url_to_another_store_is_refused(okendo):
    okendo.serve_reviews(okendo.store_id, 100)
    okendo.next_url("/stores/00000000-0000-0000-0000-000000000000/reviews?lastEvaluated=x")

    with reader(okendo, "storefront") as r, pytest.raises(client.UnexpectedResponse):
        list(r.review_pages())

    assert len(okendo.requests) == 1


@pytest.mark.parametrize(
    ("api_type", "call"),
    [
        ("merchant", lambda r: r.reviews(scope=ReviewScope(product_id="1"))),
        ("merchant", lambda r: r.reviews(scope=ReviewScope(group_id=GROUP_ID))),
        ("merchant", lambda r: r.review_aggregate()),
        ("storefront", lambda r: r.customer(email="sam@example.com")),
        ("storefront", lambda r: r.loyalty_customer(email="sam@example.com")),
        ("storefront", lambda r: r.reviews(query=ReviewQuery(status="approved"))),
        ("storefront", lambda r: r.reviews(query=ReviewQuery(limit=26))),
    ],
)
def test_a_read_the_api_type_does_not_offer_is_refused_before_any_request(okendo, api_type, call):
    with reader(okendo, api_type) as r, pytest.raises(client.InvalidRequest):
        call(r)

    assert okendo.requests == []


# --- Injection: refused before any request ------------------------------------------------

HOSTILE_IDS = [
    "../reviews",
    "..%2F..%2Fenterprise",
    "12%2F34",
    "12/34",
    "12?limit=100",
    "12#x",
    "\uff11\uff12\uff13",  # full-width 123: str.isdigit() says yes, a path must not
    "\u0661\u0662\u0663",  # Arabic-Indic 123
    " 123",
    "123\n",
    "",
    "shopify-123",
]


@pytest.mark.parametrize("product_id", HOSTILE_IDS)
def test_a_hostile_product_id_is_refused_before_any_request(okendo, product_id):
    with pytest.raises(client.InvalidRequest), reader(okendo, "storefront") as r:
        r.reviews(scope=ReviewScope(product_id=product_id))

    assert okendo.requests == []


@pytest.mark.parametrize("group_id", [*HOSTILE_IDS, GROUP_ID + "/../x", GROUP_ID[:-1] + "\uff26"])
def test_a_hostile_group_id_is_refused_before_any_request(okendo, group_id):
    with pytest.raises(client.InvalidRequest), reader(okendo, "storefront") as r:
        r.review_aggregate(scope=ReviewScope(group_id=group_id))

    assert okendo.requests == []


@pytest.mark.parametrize(
    "email",
    [
        "sam@example.com&loyaltyCustomerId=1",
        "sam@example.com?x",
        "sam@example.com#x",
        "sam@example.com/../x",
        "sam@exa%2Fmple.com",
        "sam@example.com\r\nX-Injected: 1",
        "\uff53\uff41\uff4d@example.com",
        "sam",
        "@example.com",
        "sam@example",
        "sam@@example.com",
        "s..am@example.com",
        "a" * 250 + "@example.com",
    ],
)
def test_a_hostile_email_is_refused_before_any_request(okendo, email):
    with reader(okendo) as r:
        with pytest.raises(client.InvalidRequest):
            r.customer(email=email)
        with pytest.raises(client.InvalidRequest):
            r.loyalty_customer(email=email)

    assert okendo.requests == []


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "0"},
        {"limit": "101"},
        {"limit": "\uff11\uff10"},
        {"limit": "10&status=pending"},
        {"limit": " 10"},
        {"orderBy": "date desc&limit=100"},
        {"orderBy": "date%20desc"},
        {"orderBy": "helpful desc"},  # Storefront only
        {"status": "approved#"},
        {"status": "all"},
        {"lastEvaluated": "x"},  # cursors come from nextUrl, never from a caller's params
        {"path": "../customers"},
    ],
)
def test_hostile_or_unknown_review_parameters_are_refused(okendo, params):
    with pytest.raises(client.InvalidRequest):
        ReviewQuery.from_params(params, api_type="merchant")


def test_review_parameters_parse_into_a_query():
    query = ReviewQuery.from_params(
        {"limit": "50", "orderBy": "rating asc", "status": "pending"}, api_type="merchant"
    )

    assert query == ReviewQuery(limit=50, order_by="rating asc", status="pending")
    with pytest.raises(client.InvalidRequest):
        ReviewQuery.from_params({"limit": "50"}, api_type="storefront")


@pytest.mark.parametrize("cursor", ["", "a\nb", "x" * (client.MAX_CURSOR_CHARS + 1), "\x1b[2J"])
def test_a_hostile_cursor_is_refused_before_any_request(okendo, cursor):
    with reader(okendo) as r, pytest.raises(client.InvalidRequest):
        r.reviews(cursor=cursor)

    assert okendo.requests == []


def test_a_reader_repr_and_errors_never_show_the_secret(okendo):
    r = reader(okendo, secret="sk_test_NOT_A_REAL_KEY_wrong000001")
    with r, pytest.raises(client.AuthenticationFailed) as caught:
        r.reviews()

    assert "NOT_A_REAL_KEY" not in repr(r)
    assert "NOT_A_REAL_KEY" not in str(caught.value)


def test_okendo_words_that_echo_the_basic_token_are_left_out_of_the_sentence(okendo):
    token = base64.b64encode(f"{okendo.user_id}:{okendo.api_key}".encode()).decode()
    okendo.respond(403, json_body={"error": {"description": f"Bad header Basic {token}"}})

    with reader(okendo) as r, pytest.raises(client.Forbidden) as caught:
        r.reviews()

    message = client.read_error_sentence(
        caught.value,
        api_type="merchant",
        resource=Resource.REVIEWS,
        secret=Secret(okendo.api_key),
        account_id=okendo.user_id,
    )
    assert token not in message
    assert "Okendo refused access to reviews (HTTP 403)" in message


def test_okendo_words_are_quoted_when_they_hold_no_secret(okendo):
    okendo.respond(403)

    with reader(okendo) as r, pytest.raises(client.Forbidden) as caught:
        r.reviews()

    message = client.read_error_sentence(
        caught.value, api_type="merchant", resource=Resource.REVIEWS, secret=Secret(okendo.api_key)
    )
    assert message.endswith(
        "Okendo said: “Access to this resource is not permitted for this account.”"
    )
