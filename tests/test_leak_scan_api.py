"""The leak scan over the REST API: every endpoint and error, with distinctive secrets.

Uses the capture of tests/test_leak_scan.py (responses, logs, every table after
every response, cache, error reports, mail, output). The API token is a secret
too: it may appear in exactly one place, the page that created it, which the
scan does not record.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core import mail
from django.db import OperationalError, connection
from knox.settings import CONSTANTS

from connections.models import Connection
from connections.ratelimit import connection_test_lock
from tests.factories import client_for
from tests.test_leak_scan import (
    LeakScan,
    RecordingClient,
    capture_exceptions,
    capture_logs,
    finish,
    quiet_on_failure,
)

pytestmark = pytest.mark.django_db

SECRETS = {
    "API key 1": "LEAKCANARYapiKeyViaApi0000000011",
    "API key 2": "LEAKCANARY+apiKey/viaApi=rotd&12",
    "password 1": "LEAKCANARY%passwordViaApi<13>'x'",
    "refused API key": "LEAKCANARYapiKeyRefused:colon-14",
    "typed-only API key": "LEAKCANARYapiKeyTypedOnly0000015",
    "crash API key": "LEAKCANARYapiKeyCrashViaApi00016",
    "form-encoded API key": "LEAKCANARYapiKeyFormEncoded00017",
    "broken-JSON API key": "LEAKCANARYapiKeyBrokenJson000018",
}
LIST = "/api/v1/connections/"


class ApiScanClient(RecordingClient):
    """The recording client, sending JSON with a bearer token."""

    def __init__(self, scan: LeakScan, token: str, **kwargs: Any) -> None:
        super().__init__(scan, **kwargs)
        self.token = token

    def send(self, method: str, path: str, body: Any = None, **extra: Any) -> Any:
        kwargs: dict[str, Any] = {"headers": {"Authorization": f"Bearer {self.token}"}}
        if body is not None:
            kwargs.update(data=json.dumps(body), content_type="application/json")
        kwargs.update(extra)
        return getattr(self, method)(path, **kwargs)


@pytest.fixture
def scan(caplog, settings) -> Any:
    settings.ADMINS = [("Operations", "ops@example.com")]
    leak_scan = LeakScan(dict(SECRETS))
    with capture_logs(leak_scan, caplog), capture_exceptions(leak_scan):
        yield leak_scan


def test_no_secret_leaks_through_the_api(scan: LeakScan, okendo, settings, capfd, caplog) -> None:
    with quiet_on_failure(capfd, caplog):
        run_api_scenario(scan, okendo, settings)
        findings = finish(scan, capfd, caplog)

    assert findings == []
    assert scan.responses > 30
    sent = {request.basic_auth() for request in okendo.requests}
    expected = {
        "API key 1": (okendo.user_id, SECRETS["API key 1"]),
        "API key 2": (okendo.user_id, SECRETS["API key 2"]),
        "typed-only API key": (okendo.user_id, SECRETS["typed-only API key"]),
    }
    assert [label for label, pair in expected.items() if pair not in sent] == []


def merchant(name: str, user_id: str, api_key: str, **extra: str) -> dict[str, str]:
    return {"name": name, "api_type": "merchant", "user_id": user_id, "api_key": api_key, **extra}


def run_api_scenario(scan: LeakScan, okendo, settings) -> None:
    s = SECRETS
    user_id, store_id = okendo.user_id, okendo.store_id
    scan.accounts |= {user_id, store_id}
    okendo.add_merchant(user_id, s["API key 1"])
    root = User.objects.create_superuser("root", "root@example.com", password=None)
    # The token page shows the new token once; that page is the one place it may be.
    created = client_for(root).post("/accounts/api-tokens/", {"name": "leak scan", "days": "7"})
    token = re.search(r"okc_[0-9a-f]{64}", created.content.decode()).group()  # type: ignore[union-attr]
    # The first TOKEN_KEY_LENGTH characters are the token's public name (the token page
    # lists them, knox stores them in clear); everything after them is the secret.
    scan.secrets["API token"] = token[CONSTANTS.TOKEN_KEY_LENGTH :]
    api = ApiScanClient(scan, token)
    browser = RecordingClient(scan, enforce_csrf_checks=True)
    browser.force_login(root)

    # Refused writes carrying secrets: every kind of 4xx.
    refused = [
        api.send("post", LIST, merchant("Bad id", "not-a-uuid", s["API key 1"])),
        api.send("post", LIST, merchant("Colon", user_id, s["refused API key"])),
        api.send("post", LIST, merchant("", user_id, s["API key 1"])),
        api.send(
            "post",
            LIST,
            {**merchant("Other", user_id, s["API key 1"]), "password": s["password 1"]},
        ),
        api.send("post", LIST, merchant("Mask", user_id, "********")),
        api.send("post", LIST, data=merchant("Form", user_id, s["form-encoded API key"])),
        api.send(
            "post",
            LIST,
            data='{"api_key": "' + s["broken-JSON API key"] + '", ',
            content_type="application/json",
        ),
        api.send("post", f"{LIST}test/", merchant("", "nope", s["typed-only API key"])),
    ]
    assert [r.status_code for r in refused] == [400, 400, 400, 400, 400, 415, 400, 400]

    # Creates, reads and typed-value tests.
    made = api.send("post", LIST, merchant("Leak merchant", user_id, s["API key 1"]))
    assert made.status_code == 201
    pk = made.json()["id"]
    sf = api.send(
        "post",
        LIST,
        {
            "name": "Leak storefront",
            "api_type": "storefront",
            "username": store_id,
            "password": s["password 1"],
        },
    ).json()["id"]
    typed = api.send("post", f"{LIST}test/", merchant("", user_id, s["typed-only API key"]))
    assert typed.json()["outcome"] == "auth_failed"
    assert (
        api.send("post", f"{LIST}test/", merchant("", user_id, s["API key 1"])).json()["outcome"]
        == "ok"
    )

    # Saved tests with several outcomes, and a busy one.
    outcomes = []
    for script in (None, 401, 403, 503, 429):
        if script == 429:
            okendo.respond(429, times=3)
        elif script:
            okendo.respond(script)
        outcomes.append(api.send("post", f"{LIST}{pk}/test/").json()["outcome"])
    with connection_test_lock(str(Connection.objects.get(pk=pk).uid)):
        assert api.send("post", f"{LIST}{pk}/test/").status_code == 409
    assert outcomes == ["ok", "auth_failed", "forbidden", "unavailable", "rate_limited"]
    assert api.send("post", f"{LIST}{sf}/test/").json()["outcome"] == "ok"

    # Edits: refused PUT, rotation by PUT, PATCHes, a type change and back.
    detail = f"{LIST}{pk}/"
    assert api.send("put", detail, merchant("Leak merchant", user_id, "")).status_code == 400
    fingerprint = api.send("get", detail).json()["secret"]["fingerprint"]
    assert (
        api.send("put", detail, merchant("Leak merchant", user_id, fingerprint)).status_code == 400
    )
    assert api.send("patch", detail, {"api_key": s["API key 2"]}).status_code == 400
    rotated = api.send("put", detail, merchant("Leak merchant", user_id, s["API key 2"]))
    assert rotated.status_code == 200
    okendo.add_merchant(user_id, s["API key 2"])
    assert api.send("post", f"{detail}test/").json()["outcome"] == "ok"
    assert api.send("patch", detail, {"name": "Leak merchant 2"}).status_code == 200
    api.send(
        "put",
        detail,
        {
            "name": "Leak merchant 2",
            "api_type": "storefront",
            "username": store_id,
            "password": s["password 1"],
        },
    )
    api.send(
        "patch", detail, {"api_type": "merchant", "user_id": user_id, "api_key": s["API key 2"]}
    )
    for path in (LIST, f"{LIST}?search=Leak&ordering=-updated_at", detail, f"{detail}events/"):
        assert api.send("get", path).status_code == 200
    assert browser.get(detail).status_code == 200  # the session, too

    # Reads through the connections (pages, export, customer, aggregate), a refused id,
    # and a 401 whose body echoes the secret.
    okendo.serve_reviews(user_id, 30)
    okendo.serve_reviews(store_id, 30)
    okendo.add_customer(user_id, "sam@example.com")
    reads = [
        api.send("get", f"{detail}reviews/?limit=10"),
        api.send("get", f"{detail}reviews/export/?format=csv"),
        api.send("get", f"{detail}reviews/export/?format=jsonl"),
        api.send("get", f"{detail}customers/?email=sam@example.com"),
        api.send("get", f"{LIST}{sf}/review-aggregate/"),
        api.send("get", f"{LIST}{sf}/products/..%2F/reviews/"),
    ]
    assert [r.status_code for r in reads] == [200, 200, 200, 200, 200, 400]
    okendo.respond(401, json_body={"error": {"description": "key {secret}"}}, echo=True)
    assert api.send("get", f"{detail}reviews/").status_code == 502
    no_csrf = browser.post(
        LIST, json.dumps(merchant("CSRF", user_id, s["API key 1"])), content_type="application/json"
    )
    assert no_csrf.status_code == 403

    # A 500 with DEBUG off: the database fails while a secret is in the JSON body.
    assert settings.DEBUG is False

    def database_down(execute, sql, params, many, context):
        if sql.lstrip().upper().startswith("INSERT") and "connections_connection" in sql:
            raise OperationalError("server closed the connection unexpectedly")
        return execute(sql, params, many, context)

    crashing = ApiScanClient(scan, token, raise_request_exception=False)
    with connection.execute_wrapper(database_down):
        crash = crashing.send(
            "post", LIST, merchant("Crash", str(uuid.uuid4()), s["crash API key"])
        )
    assert crash.status_code == 500
    assert scan.reports == 1
    # One mail for the crash (the data reads' 502s, Okendo refusing, mail their own).
    assert sum("Internal Server Error" in message.subject for message in mail.outbox) == 1

    # Deletion, and the token page listing.
    assert api.send("delete", f"{LIST}{sf}/").status_code == 204
    assert browser.get("/accounts/api-tokens/").status_code == 200
