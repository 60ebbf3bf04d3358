"""The Okendo client against the loopback fake Okendo: headers, outcomes, retries, limits."""

from __future__ import annotations

import base64
import email.utils
import html
import re
import time
import tracemalloc
from importlib import metadata
from urllib.parse import quote, quote_plus

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connections import okendo as client
from connections.okendo import Outcome
from connections.sensitive import Secret
from tests.fake_okendo import FakeOkendo, closed_port_url


def check(okendo, *, api_type="merchant", account_id=None, secret=None, **overrides):
    if account_id is None:
        account_id = okendo.user_id if api_type == "merchant" else okendo.store_id
    if secret is None:
        secret = okendo.api_key if api_type == "merchant" else okendo.password
    arguments = {
        "api_type": api_type,
        "account_id": account_id,
        "secret": Secret(secret),
        "base_url": okendo.base_url,
        "connect_timeout": 1.0,
        "read_timeout": 2.0,
        "clock": okendo.clock,
        **overrides,
    }
    return client.check_credentials(**arguments)


def assert_secret_only_in_authorization(recorded, secret):
    token = recorded.headers["authorization"].removeprefix("Basic ")
    assert secret not in recorded.raw_head
    assert secret.encode() not in recorded.body
    assert secret not in recorded.path
    assert all(secret not in value for values in recorded.query.values() for value in values)
    others = [v for k, v in recorded.headers.items() if k != "authorization"]
    assert all(secret not in value and token not in value for value in others)


# --- What is sent --------------------------------------------------------------


def test_merchant_check_sends_okendo_headers_and_the_key_only_in_authorization(okendo):
    result = check(okendo)

    assert result.outcome is Outcome.OK
    assert result.http_status == 200
    assert result.retries == 0
    [sent] = okendo.requests
    assert sent.method == "GET"
    assert sent.path == "/enterprise/reviews"
    assert sent.query == {"limit": ["1"]}
    assert sent.headers["okendo-api-version"] == "2025-02-01"
    assert sent.headers["accept"] == "application/json"
    assert sent.headers["user-agent"] == (
        f"okendo-connections/{metadata.version('okendo-connections')} (+python-requests)"
    )
    assert sent.basic_auth() == (okendo.user_id, okendo.api_key)
    assert sent.body == b""
    assert_secret_only_in_authorization(sent, okendo.api_key)


def test_storefront_check_puts_the_store_id_in_the_path_and_says_the_password_is_unverified(
    okendo,
):
    result = check(okendo, api_type="storefront", account_id=okendo.store_id.upper())

    assert result.outcome is Outcome.OK
    assert "Storefront API is public and does not verify the password" in result.message
    [sent] = okendo.requests
    assert sent.path == f"/v1/stores/{okendo.store_id}/reviews"
    assert sent.query == {"limit": ["1"]}
    assert sent.basic_auth() == (okendo.store_id, okendo.password)
    assert_secret_only_in_authorization(sent, okendo.password)


def test_storefront_store_with_no_reviews_is_ok_but_says_an_unknown_store_looks_the_same(okendo):
    result = check(okendo, api_type="storefront", account_id="00000000-0000-0000-0000-000000000000")

    assert result.outcome is Outcome.OK
    assert "unknown store" in result.message
    assert "Settings › Integrations › Credentials" in result.message  # noqa: RUF001


def test_storefront_password_outside_latin1_travels_as_utf8(okendo):
    password = "pässwörd-NOT-REAL-€"

    result = check(okendo, api_type="storefront", secret=password)

    assert result.ok
    assert okendo.requests[0].basic_auth() == (okendo.store_id, password)


def test_secret_never_appears_in_results_errors_or_auth_repr(okendo):
    auth = client._BasicAuth(okendo.user_id, Secret(okendo.api_key))
    results = [check(okendo), check(okendo, secret="sk_test_NOT_A_REAL_KEY_wrong000001")]

    assert okendo.api_key not in repr(auth)
    for result in results:
        assert okendo.api_key not in repr(result)
        assert "sk_test_NOT_A_REAL_KEY_wrong000001" not in repr(result)
        assert "Basic " not in result.message


# --- Outcomes --------------------------------------------------------------------


def test_wrong_api_key_is_auth_failed_and_says_where_to_copy_the_credentials(okendo):
    result = check(okendo, secret="sk_test_NOT_A_REAL_KEY_wrong000001")

    assert result.outcome is Outcome.AUTH_FAILED
    assert result.http_status == 401
    assert result.message == (
        "Okendo rejected this User ID and API key (HTTP 401). Copy both again from "
        "Okendo → Settings › Integrations › Credentials."  # noqa: RUF001
    )


@pytest.mark.parametrize("api_type", ["merchant", "storefront"])
@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (400, Outcome.UNEXPECTED),
        (401, Outcome.AUTH_FAILED),
        (403, Outcome.FORBIDDEN),
        (404, Outcome.NOT_FOUND),
        (500, Outcome.UNAVAILABLE),
        (503, Outcome.UNAVAILABLE),
        (302, Outcome.UNEXPECTED),
        (204, Outcome.UNEXPECTED),
        (418, Outcome.UNEXPECTED),
    ],
)
def test_each_status_maps_to_one_outcome_with_status_in_the_sentence(
    okendo, api_type, status, outcome
):
    okendo.respond(status)

    result = check(okendo, api_type=api_type)

    assert result.outcome is outcome
    assert result.http_status == status
    assert f"HTTP {status}" in result.message
    assert result.elapsed_ms >= 0
    assert len(okendo.requests) == 1


def test_server_error_with_html_body_is_unavailable_and_says_nothing_about_credentials(okendo):
    okendo.respond(503)

    result = check(okendo)

    assert result.outcome is Outcome.UNAVAILABLE
    assert "This says nothing about the User ID and API key" in result.message
    assert "<html>" not in result.message


def test_okendo_error_description_is_quoted_in_the_sentence(okendo):
    okendo.respond(403, json_body={"error": {"description": "Loyalty is not enabled."}})

    result = check(okendo)

    assert result.outcome is Outcome.FORBIDDEN
    assert result.message.endswith("Okendo said: “Loyalty is not enabled.”")


# --- Echoed credentials: scrubbed before the text is cut, kept or shown ----------

# Okendo documents its API keys as 32 characters.
ECHOED_KEY = "NOTrealKEY0123456789abcdefGHIJKL"
# Ordinary text before the echo, as long as in issue 12's case: cut at 200
# characters, the old code showed "api key=" and the key's first 19 characters.
FILLER = (
    "This request could not be authorised for the reviews resource because the account "
    "does not allow the enterprise API for the credentials given in the request made to Okendo"
)


def runs_of(secret, text, *, length=8):
    """Return the runs of ``length`` characters of ``secret`` found in ``text``, any case."""
    folded = text.casefold()
    return {
        secret[i : i + length]
        for i in range(len(secret) - length + 1)
        if secret[i : i + length].casefold() in folded
    }


def test_key_echoed_after_180_characters_is_redacted_before_the_text_is_cut(okendo):
    assert len(ECHOED_KEY) == 32
    assert len(FILLER) == 171
    okendo.respond(
        403, json_body={"error": {"description": f"{FILLER} api key={{secret}} end"}}, echo=True
    )

    result = check(okendo, secret=ECHOED_KEY)

    assert result.outcome is Outcome.FORBIDDEN
    assert runs_of(ECHOED_KEY, result.message) == set()
    assert "api key=[redacted]" in result.message
    assert FILLER[:60] in result.message  # the rest of what Okendo said is still shown


@pytest.mark.parametrize(
    ("echo", "shown"),
    [
        ("key {secret} here", "key [redacted] here"),
        ("key {SECRET} here", "key [redacted] here"),  # any letter case
        ("header Basic {basic} here", "header Basic [redacted] here"),
        ("user {user} here", "user [redacted] here"),
        ("url key%3D{quoted} here", "url key%3D[redacted] here"),
        ("form key={plus} here", "form key=[redacted] here"),
        ("b64 {b64} here", "b64 [redacted] here"),
        ("html {html} here", "html [redacted] here"),
        ("first part {head} and {tail} here", "first part [redacted] and [redacted] here"),
        ("cut at the end {cut}", "cut at the end [redacted]"),
        ("split by a\nnewline {split}", "split by a newline [redacted] [redacted]"),
    ],
)
def test_every_form_of_an_echoed_credential_is_redacted(okendo, echo, shown):
    secret = "NOT+real/key=0123&456789<abc>xyz"
    user = okendo.user_id
    forms = {
        "{secret}": secret,
        "{SECRET}": secret.upper(),
        "{basic}": base64.b64encode(f"{user}:{secret}".encode()).decode(),
        "{user}": user.upper(),
        "{quoted}": quote(secret, safe=""),
        "{plus}": quote_plus(secret),
        "{b64}": base64.urlsafe_b64encode(secret.encode()).decode().rstrip("="),
        "{html}": html.escape(secret),
        "{head}": secret[:8],
        "{tail}": secret[-9:],
        "{cut}": secret[:20],
        "{split}": secret[:12] + "\n" + secret[12:],
    }
    description = echo
    for placeholder, value in forms.items():
        description = description.replace(placeholder, value)
    okendo.respond(403, json_body={"error": {"description": description}})

    result = check(okendo, secret=secret)

    said = result.message.split("Okendo said: ")[1]
    assert said == f"“{shown}”"
    assert runs_of(secret, result.message) == set()


def test_long_answer_is_cut_after_scrubbing_and_never_through_a_marker(okendo):
    okendo.respond(
        403, json_body={"error": {"description": "x" * 190 + " {secret} " + "y" * 50}}, echo=True
    )

    said = check(okendo).message.split("Okendo said: ")[1]

    assert said == "“" + "x" * 190 + "…”"


def test_scrub_merges_overlapping_echoes_and_keeps_other_text():
    secret = Secret("NOTrealKEY0123456789abcdefGHIJKL")
    account = "5b0a9c1e-3f4d-4e2a-9b7c-2d1e0f3a4b5c"
    text = f"a {ECHOED_KEY[:10]}{ECHOED_KEY[6:20]} b {account.upper()} c 0123456 d"

    assert client.scrub(text, account_id=account, secret=secret) == (
        "a [redacted] b [redacted] c 0123456 d"  # 7 characters of the key are not a run
    )


def test_scrub_leaves_text_without_the_credentials_unchanged():
    text = "Okendo → Access to this resource is not permitted."

    assert client.scrub(text, account_id="acct", secret=Secret("NOT-A-REAL-KEY-1")) == text


def test_secret_echoed_in_other_fields_or_in_html_is_never_shown(okendo):
    okendo.respond(
        404,
        json_body={"message": "{secret}", "error": {"description": "No store.", "key": "{basic}"}},
        echo=True,
    )
    okendo.respond(400, text="<html><body>key={secret}</body></html>", echo=True)

    results = [check(okendo), check(okendo)]

    assert results[0].message.endswith("Okendo said: “No store.”")
    for result in results:
        assert runs_of(okendo.api_key, result.message) == set()


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"text": "<html><body>Welcome to nginx</body></html>"}, "not JSON"),
        ({"json_body": {"items": []}}, "does not list reviews"),
        ({"json_body": [1, 2, 3]}, "does not list reviews"),
        ({"text": "[" * 100_000}, "not JSON"),
    ],
)
def test_200_that_is_not_the_expected_json_is_unexpected(okendo, kwargs, reason):
    okendo.respond(200, **kwargs)

    result = check(okendo)

    assert result.outcome is Outcome.UNEXPECTED
    assert result.http_status == 200
    assert reason in result.message


@pytest.mark.parametrize("declare_length", [True, False])
def test_body_over_one_mebibyte_is_unexpected_and_never_read_whole(okendo, declare_length):
    okendo.respond_large(16 * 1024 * 1024, declare_length=declare_length)

    tracemalloc.start()
    try:
        result = check(okendo)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert result.outcome is Outcome.UNEXPECTED
    assert "larger than 1 MiB" in result.message
    assert peak < 4 * 1024 * 1024


def test_answer_slower_than_the_read_timeout_is_unavailable(okendo):
    okendo.respond_slowly(10)
    started = time.monotonic()

    result = check(okendo, read_timeout=0.2)

    assert result.outcome is Outcome.UNAVAILABLE
    assert result.http_status is None
    assert "did not answer within 0.2 seconds" in result.message
    assert time.monotonic() - started < 2


def test_closed_port_is_unavailable(okendo):
    result = check(okendo, base_url=closed_port_url())

    assert result.outcome is Outcome.UNAVAILABLE
    assert "could not be reached at 127.0.0.1" in result.message


def test_reset_connection_is_unavailable(okendo):
    okendo.reset_connection()

    result = check(okendo)

    assert result.outcome is Outcome.UNAVAILABLE
    assert result.http_status is None
    assert len(okendo.requests) == 1


def test_redirect_is_not_followed_so_credentials_stay_with_okendo(okendo):
    with FakeOkendo() as elsewhere:
        okendo.respond(302, headers={"Location": f"{elsewhere.base_url}/enterprise/reviews"})

        result = check(okendo)

        assert result.outcome is Outcome.UNEXPECTED
        assert "redirected" in result.message
        assert elsewhere.requests == []


@pytest.mark.parametrize(
    "account_id", ["../../admin", "not-a-uuid", "00000000-0000-0000-0000-000000000000/x", ""]
)
def test_account_id_that_is_not_a_uuid_is_refused_before_anything_is_sent(okendo, account_id):
    result = check(okendo, api_type="storefront", account_id=account_id)

    assert result.outcome is Outcome.MISCONFIGURED
    assert "must be a UUID" in result.message
    assert okendo.requests == []


def test_base_url_that_is_not_http_is_misconfigured(okendo):
    result = check(okendo, base_url="ftp://api.okendo.io")

    assert result.outcome is Outcome.MISCONFIGURED
    assert "OKENDO_API_BASE_URL" in result.message


def test_plain_http_base_url_is_refused_before_the_key_is_sent(okendo):
    # Issue 12's case: with DEBUG off the key would have crossed the network in clear.
    result = check(okendo, base_url="http://api.okendo.io")

    assert result.outcome is Outcome.MISCONFIGURED
    assert result.this_side is True
    assert result.http_status is None
    assert "OKENDO_API_BASE_URL" in result.message
    assert "plain http://" in result.message
    assert "Nothing was sent" in result.message


@pytest.mark.parametrize(
    ("shape", "problem"),
    [
        ("http://user:NOT-A-REAL-PASSWORD@{host}", "user name or password"),
        ("http://{host}/enterprise", "has a path"),
        ("http://{host}?key=1", "query or fragment"),
        ("http://{host}#x", "query or fragment"),
    ],
)
def test_malformed_base_url_is_refused_and_nothing_is_sent(okendo, shape, problem):
    host = okendo.base_url.removeprefix("http://")

    result = check(okendo, base_url=shape.format(host=host))

    assert result.outcome is Outcome.MISCONFIGURED
    assert result.this_side is True
    assert problem in result.message
    assert "NOT-A-REAL-PASSWORD" not in result.message
    assert okendo.requests == []


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_plain_http_to_a_loopback_host_is_allowed(okendo, host):
    port = okendo.base_url.rsplit(":", 1)[1]

    result = check(okendo, base_url=f"http://{host}:{port}/")

    assert result.outcome is Outcome.OK
    assert len(okendo.requests) == 1


def test_plain_http_to_another_host_is_allowed_only_when_asked(okendo):
    refused = check(okendo, base_url="http://192.0.2.1", connect_timeout=0.2)
    allowed = check(okendo, base_url="http://192.0.2.1", connect_timeout=0.2, allow_http=True)

    assert refused.outcome is Outcome.MISCONFIGURED
    assert allowed.outcome is Outcome.UNAVAILABLE  # it tried: TEST-NET-1 does not answer


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(status=st.integers(min_value=200, max_value=599).filter(lambda s: s != 429))
def test_every_status_gives_exactly_one_known_outcome_and_a_sentence(okendo, status):
    okendo.respond(status, text="Okendo says no")

    result = check(okendo)

    expected = {
        200: Outcome.UNEXPECTED,  # "Okendo says no" is not JSON
        401: Outcome.AUTH_FAILED,
        403: Outcome.FORBIDDEN,
        404: Outcome.NOT_FOUND,
    }.get(status, Outcome.UNAVAILABLE if status >= 500 else Outcome.UNEXPECTED)
    assert result.outcome is expected
    assert result.message.startswith("Okendo ")
    assert okendo.api_key not in result.message


# --- 429 and the budget ---------------------------------------------------------


def test_429_with_retry_after_seconds_waits_that_long_then_succeeds(okendo):
    okendo.respond(429, headers={"Retry-After": "3"})

    result = check(okendo)

    assert result.outcome is Outcome.OK
    assert result.retries == 1
    assert okendo.clock.sleeps == [3.0]
    assert result.elapsed_ms >= 3000
    assert len(okendo.requests) == 2


def test_429_with_retry_after_http_date_waits_until_then(okendo):
    okendo.respond(
        429, headers={"Retry-After": email.utils.formatdate(time.time() + 3, usegmt=True)}
    )

    result = check(okendo)

    assert result.outcome is Outcome.OK
    assert len(okendo.clock.sleeps) == 1
    assert 1.5 < okendo.clock.sleeps[0] <= 3.0


def test_429_without_retry_after_backs_off_a_second_and_gives_up_after_two_retries(okendo):
    okendo.respond(429, times=5)

    result = check(okendo)

    assert result.outcome is Outcome.RATE_LIMITED
    assert result.http_status == 429
    assert result.retries == 2
    assert okendo.clock.sleeps == [1.0, 1.0]
    assert len(okendo.requests) == 3
    assert "says nothing about the credentials" in result.message


def test_429_never_waits_beyond_the_fifteen_second_budget(okendo):
    okendo.respond(429, headers={"Retry-After": "8"}, times=3)

    result = check(okendo)

    assert result.outcome is Outcome.RATE_LIMITED
    assert okendo.clock.sleeps == [8.0]
    assert len(okendo.requests) == 2


def test_429_asking_for_more_than_the_budget_gives_up_at_once(okendo):
    okendo.respond(429, headers={"Retry-After": "120"})

    result = check(okendo)

    assert result.outcome is Outcome.RATE_LIMITED
    assert okendo.clock.sleeps == []
    assert "wait 120 seconds" in result.message


def test_throttle_wait_is_slept_before_sending(okendo):
    asked = []

    def throttle(account_id, max_wait):
        asked.append((account_id, max_wait))
        return 0.5

    result = check(okendo, account_id=okendo.user_id.upper(), throttle=throttle)

    assert result.ok
    assert okendo.clock.sleeps == [0.5]
    assert asked[0][0] == okendo.user_id
    assert 14 < asked[0][1] <= 15


def test_throttle_without_a_free_slot_is_rate_limited_without_a_request(okendo):
    result = check(okendo, throttle=lambda account_id, max_wait: None)

    assert result.outcome is Outcome.RATE_LIMITED
    assert result.http_status is None
    assert result.message.startswith("Not tested")
    assert okendo.requests == []


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        ("0", 0.0),
        ("1.5", 1.5),
        ("Wed, 21 Oct 2015 07:28:10 GMT", 10.0),
        ("Wed, 21 Oct 2015 07:27:00 GMT", 0.0),
        ("Wed, 21 Oct 2015 07:28:10 -0000", 10.0),
        ("-1", None),
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_retry_after_reads_seconds_and_http_dates(value, expected):
    now = email.utils.parsedate_to_datetime("Wed, 21 Oct 2015 07:28:00 GMT").timestamp()

    assert client.parse_retry_after(value, now=now) == expected


# --- The session ----------------------------------------------------------------


def test_session_applies_its_timeout_when_the_caller_forgets_one(okendo):
    okendo.respond_slowly(10)
    session = client.OkendoSession(base_url=okendo.base_url, connect_timeout=1, read_timeout=0.2)
    started = time.monotonic()

    with session, pytest.raises(requests.ReadTimeout):
        session.get(okendo.base_url + "/enterprise/reviews", timeout=None)

    assert time.monotonic() - started < 2


def test_get_json_raises_typed_errors(okendo):
    auth = client._BasicAuth(okendo.user_id, Secret("sk_test_NOT_A_REAL_KEY_wrong000001"))
    with client.OkendoSession(
        base_url=okendo.base_url + "/", connect_timeout=1, read_timeout=1
    ) as session:
        with pytest.raises(client.AuthenticationFailed) as caught:
            session.get_json("/enterprise/reviews", params={"limit": "1"}, auth=auth)
        okendo.respond(429, headers={"Retry-After": "7"})
        with pytest.raises(client.RateLimited) as limited:
            session.get_json("/enterprise/reviews", params={"limit": "1"}, auth=auth)

    assert caught.value.outcome is Outcome.AUTH_FAILED
    assert caught.value.http_status == 401
    assert "NOT_A_REAL_KEY" not in str(caught.value)
    assert limited.value.retry_after == 7.0


# --- The fake behaves like Okendo --------------------------------------------------


def test_fake_answers_unknown_routes_with_403_like_okendo(okendo):
    response = requests.get(okendo.base_url + "/enterprise/nothing-here", timeout=2)

    assert response.status_code == 403
    assert response.json() == {"message": "Missing Authentication Token"}


def test_fake_rejects_requests_without_the_version_header(okendo):
    token = base64.b64encode(f"{okendo.user_id}:{okendo.api_key}".encode()).decode()
    response = requests.get(
        okendo.base_url + "/enterprise/reviews?limit=1",
        headers={"Authorization": f"Basic {token}"},
        timeout=2,
    )

    assert response.status_code == 400
    assert "okendo-api-version" in response.json()["error"]["description"]


def test_fake_answers_401_without_body_and_checks_limit(okendo):
    headers = {"okendo-api-version": "2025-02-01"}
    unauthorised = requests.get(okendo.base_url + "/enterprise/reviews", headers=headers, timeout=2)
    token = base64.b64encode(f"{okendo.user_id}:{okendo.api_key}".encode()).decode()
    too_many = requests.get(
        okendo.base_url + "/enterprise/reviews?limit=101",
        headers={**headers, "Authorization": f"Basic {token}"},
        timeout=2,
    )

    assert unauthorised.status_code == 401
    assert unauthorised.content == b""
    assert too_many.status_code == 400


def test_user_agent_names_the_project_and_its_version():
    assert re.fullmatch(r"okendo-connections/\S+ \(\+python-requests\)", client.USER_AGENT)
