"""The leak scan: one scenario through everything, then a search for every secret it typed.

The scenario creates both API types, fails saves, edits (including a type
change), tests with every outcome (and answers that echo the credentials),
walks every admin page, provokes a 500 with DEBUG off, deletes, and runs the
management commands — all with distinctive secret values. The scan then looks
for each secret, plain and encoded (base64 standard and URL-safe, with and
without padding, alone or inside "user:secret" as in Basic auth; URL-encoded,
HTML-escaped, JSON-escaped, hex; and any distinctive run of 8 of its
characters, which a cut echo would show), in:

* every HTTP response body and header (the test client records each one, and
  the messages cookie is decoded: it is signed and compressed);
* every log record of every logger at DEBUG, and the process's stdout/stderr;
* every column of every table, read with SQL after *every* response (so a
  secret that lives in the database only between two requests is caught),
  with sessions decoded; and the cache;
* the history events, the admin's LogEntry, the error reports (Django's
  ExceptionReporter text and HTML, and the mail AdminEmailHandler sends) and
  the commands' output.

Findings name the place and the encoding, never the secret, so a failure does
not print what it protects. ``test_leak_scan_finds_a_planted_secret_in_every_sink``
proves each of those captures would see a leak.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import traceback
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from html import escape as html_escape
from io import StringIO
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission, User
from django.contrib.messages.storage.cookie import CookieStorage
from django.contrib.sessions.models import Session
from django.core import mail
from django.core.cache.backends import locmem
from django.core.management import CommandError, call_command
from django.core.signals import got_request_exception
from django.db import OperationalError, connection
from django.http import HttpRequest
from django.test import Client
from django.utils.log import AdminEmailHandler
from django.views.debug import ExceptionReporter

from connections.models import Connection, ConnectionEvent
from connections.ratelimit import connection_test_lock
from tests.fake_okendo import closed_port_url

pytestmark = pytest.mark.django_db

# The secrets: distinctive, and some with characters that every encoding changes.
SECRETS = {
    "API key 1": "LEAKCANARYapikey0000000000000001",
    "password 1": "LEAKCANARYpassword00000000000002",
    "API key 2": "LEAKCANARY+apikey/after=change&03",
    "password 2": "LEAKCANARY%password<after>'change'04",
    "refused API key": "LEAKCANARYapikey:refused-colon-05",
    "typed-only password": "LEAKCANARYpasswordTypedOnly000006",
    "admin API key": "LEAKCANARYapikeyViaAdmin000000007",
    "admin password": "LEAKCANARYpasswordViaAdmin00000008",
    "crash API key": "LEAKCANARYapikeyCrash00000000009",
}
OTHER_ENCRYPTION_KEY = "leak2:" + base64.b64encode(b"leak-scan-key-2-NOT-A-REAL-ONE!!").decode()


# --- Needles: every form a secret could take ------------------------------------------------


def _b64_forms(raw: bytes) -> dict[str, str]:
    """Return base64 forms of ``raw``: whole (padded or not), and cores found inside any blob.

    A secret inside a longer value ("user:secret") is encoded at one of three
    alignments; the core of each alignment is the part that depends on the
    secret's bytes alone, so it appears whatever surrounds it.
    """
    forms = {}
    for name, encode in (
        ("base64", base64.b64encode),
        ("base64-urlsafe", base64.urlsafe_b64encode),
    ):
        whole = encode(raw).decode()
        forms[name] = whole
        forms[f"{name} unpadded"] = whole.rstrip("=")
        for offset in range(3):
            encoded = encode(b"\0" * offset + raw).decode()
            core = encoded[4 if offset else 0 : -4]
            forms[f"{name} embedded at +{offset}"] = core
    return forms


RUN = 8
CANARY = "LEAKCANARY"


def needles(secret: str, *, accounts: Iterable[str] = ()) -> dict[str, str]:
    """Return {encoding name: text} for every form of ``secret`` the scan looks for.

    Besides the whole secret in every encoding, every distinctive run of
    ``RUN`` consecutive characters of it (one that overlaps the ``LEAKCANARY``
    prefix, or mixes letters and digits; "password" or "00000000" occur by
    chance): a cut echo of the secret leaks it piece by piece.
    """
    raw = secret.encode()
    runs = {
        f"run of {RUN} at {start}": run
        for start in range(len(secret) - RUN + 1)
        if (run := secret[start : start + RUN])
        and (
            (secret.startswith(CANARY) and start < len(CANARY))
            or (any(c.isalpha() for c in run) and any(c.isdigit() for c in run))
        )
    }
    forms = {
        **runs,
        "plain": secret,
        "URL-encoded": quote(secret, safe=""),
        "URL-encoded (path)": quote(secret),
        "form-encoded": quote_plus(secret),
        "HTML-escaped": html_escape(secret),
        "JSON-escaped": json.dumps(secret)[1:-1],
        "hex": binascii.hexlify(raw).decode(),
        "HEX": binascii.hexlify(raw).decode().upper(),
        **_b64_forms(raw),
    }
    for account in accounts:
        for name, text in _b64_forms(f"{account}:{secret}".encode()).items():
            if "embedded" not in name:
                forms[f"Basic auth {name}"] = text
    return forms


# --- The capture -------------------------------------------------------------------------


class LeakScan:
    """Collect every place a secret could land, and search them for the needles."""

    def __init__(self, secrets: dict[str, str]) -> None:
        self.secrets = secrets
        self.accounts: set[str] = set()
        self.texts: list[tuple[str, str]] = []
        self.responses = 0
        self.reports = 0
        # Whether each page or output that showed an echoing answer showed "[redacted]"
        # (booleans, so a failure never prints the page).
        self.redactions_shown: list[bool] = []
        self._needles: dict[str, dict[str, str]] | None = None

    def add(self, where: str, content: Any) -> None:
        if isinstance(content, bytes | bytearray | memoryview):
            content = bytes(content).decode("latin-1")
        self.texts.append((where, str(content)))

    # Places ------------------------------------------------------------------------

    def record_response(self, request: dict[str, Any], response: Any) -> None:
        self.responses += 1
        where = f"HTTP response {self.responses} ({request.get('REQUEST_METHOD')} "
        where += f"{request.get('PATH_INFO')}?{request.get('QUERY_STRING', '')})"
        if response.streaming:
            body = b"".join(response.streaming_content)
            response.streaming_content = [body]
        else:
            body = response.content
        self.add(f"{where} body", body)
        self.add(f"{where} headers", "\n".join(f"{k}: {v}" for k, v in response.items()))
        self.add(f"{where} cookies", response.cookies.output())
        self.add(f"{where} messages", self._decoded_messages(response))
        self.scan_database(f"database after {where}")
        self.scan_cache(f"cache after {where}")

    @staticmethod
    def _decoded_messages(response: Any) -> str:
        morsel = response.cookies.get(CookieStorage.cookie_name)
        if morsel is None or not morsel.value:
            return ""
        decoded = CookieStorage(HttpRequest())._decode(morsel.value)  # type: ignore[attr-defined]
        return repr([(m.level, str(m.message), m.extra_tags) for m in decoded or []])

    def scan_database(self, where: str) -> None:
        """Read every column of every table with SQL, and the sessions decoded."""
        with connection.cursor() as cursor:
            for table in connection.introspection.table_names(cursor):
                # Table names come from the database itself, quoted by the backend.
                cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608
                columns = [column[0] for column in cursor.description]
                for row in cursor.fetchall():
                    for column, value in zip(columns, row, strict=True):
                        if value is not None:
                            self.add(f"{where}: {table}.{column}", _text(value))
        for session in Session.objects.all():
            decoded = json.dumps(session.get_decoded(), default=str)
            self.add(f"{where}: session {session.session_key[:6]}… decoded", decoded)

    def scan_cache(self, where: str) -> None:
        for name, entries in locmem._caches.items():  # type: ignore[attr-defined]
            for key, pickled in list(entries.items()):
                self.add(f"{where}: {name} {key}", key.encode() + b" " + pickled)

    def scan_history(self) -> None:
        for event in ConnectionEvent.objects.all():
            self.add(f"history event {event.pk} summary", event.summary)
            self.add(f"history event {event.pk} details", json.dumps(event.details))
            self.add(f"history event {event.pk} str", str(event))
        for entry in LogEntry.objects.all():
            self.add(f"admin LogEntry {entry.pk}", f"{entry.object_repr} {entry.change_message}")
            self.add(f"admin LogEntry {entry.pk} message", entry.get_change_message())

    def record_exception_report(self, request: Any, exc_info: Any) -> None:
        """Render what Django would mail or show for this exception, as an operator sees it."""
        self.reports += 1
        reporter = ExceptionReporter(request, *exc_info)
        where = f"error report {self.reports}"
        self.add(f"{where} (ExceptionReporter text)", reporter.get_traceback_text())
        self.add(f"{where} (ExceptionReporter HTML)", reporter.get_traceback_html())
        self.add(f"{where} (traceback)", "".join(traceback.format_exception(*exc_info)))
        self.add(f"{where} (exception)", f"{exc_info[1]!s} {exc_info[1]!r}")

    def scan_mail(self) -> None:
        for number, message in enumerate(mail.outbox, 1):
            self.add(f"mail {number} subject", message.subject)
            self.add(f"mail {number} body", message.body)
            for content, _mimetype in getattr(message, "alternatives", []):
                self.add(f"mail {number} alternative", content)
            self.add(f"mail {number} as sent", message.message().as_string())

    # The search --------------------------------------------------------------------

    def findings(self) -> list[str]:
        """Return "where: which secret (which encoding)" for every hit; never the secret."""
        if self._needles is None:
            self._needles = {
                label: needles(secret, accounts=self.accounts)
                for label, secret in self.secrets.items()
            }
        found = set()
        for where, text in self.texts:
            for label, forms in self._needles.items():
                for encoding, needle in forms.items():
                    if needle in text:
                        found.add(f"{where}: {label} ({encoding})")
        return sorted(found)


def _text(value: Any) -> str:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("latin-1")
    return str(value)


class RecordingClient(Client):
    """A test client that hands every response (redirects followed too) to the scan."""

    def __init__(self, scan: LeakScan, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scan = scan

    def request(self, **request: Any) -> Any:
        response = super().request(**request)
        self.scan.record_response(request, response)
        return response


class _Records(logging.Handler):
    def __init__(self, scan: LeakScan) -> None:
        super().__init__(level=logging.DEBUG)
        self.scan = scan
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        # Formatted (with any traceback) and raw: arguments and extras the format drops.
        self.scan.add(f"log {record.name} {record.levelname}", self.format(record))
        self.scan.add(f"log {record.name} {record.levelname} record", repr(record.__dict__))


@contextmanager
def capture_logs(scan: LeakScan, caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Capture every logger at DEBUG, including those that do not propagate to the root."""
    caplog.set_level(logging.DEBUG)
    handler = _Records(scan)
    loggers = [logging.getLogger()]
    every_logger = [logging.getLogger()]
    for name, logger in list(logging.root.manager.loggerDict.items()):
        if isinstance(logger, logging.Logger):
            every_logger.append(logger)
            caplog.set_level(logging.DEBUG, logger=name)
            if not logger.propagate:
                loggers.append(logger)
    # The site's console handlers write to the stderr pytest held when Django started,
    # which no fixture reads: take their output here, exactly as the server prints it.
    console = StringIO()
    redirected = {}
    for logger in every_logger:
        for existing in logger.handlers:
            if type(existing) is logging.StreamHandler and existing not in redirected:
                redirected[existing] = existing.setStream(console)
    # Django's mail handler, as production would attach it, sending to the test outbox.
    mailer = AdminEmailHandler(include_html=True)
    mailer.setLevel(logging.ERROR)
    request_logger = logging.getLogger("django.request")
    for logger in loggers:
        logger.addHandler(handler)
    request_logger.addHandler(mailer)
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeHandler(handler)
        request_logger.removeHandler(mailer)
        for existing, stream in redirected.items():
            if stream is not None:
                existing.setStream(stream)
        scan.add("console log (the server's stderr)", console.getvalue())
        scan.add("caplog text", caplog.text)
        for record in caplog.records:
            scan.add(f"caplog {record.name}", f"{record.getMessage()} {record.__dict__!r}")


@contextmanager
def capture_exceptions(scan: LeakScan) -> Iterator[None]:
    def on_exception(sender: Any, request: Any = None, **kwargs: Any) -> None:
        import sys

        scan.record_exception_report(request, sys.exc_info())

    got_request_exception.connect(on_exception)
    try:
        yield
    finally:
        got_request_exception.disconnect(on_exception)


@pytest.fixture
def scan(caplog, capfd, settings) -> Iterator[LeakScan]:
    """A running capture of logs, error reports and mail for the scenario."""
    settings.ADMINS = [("Operations", "ops@example.com")]
    leak_scan = LeakScan(SECRETS)
    with capture_logs(leak_scan, caplog), capture_exceptions(leak_scan):
        yield leak_scan


@contextmanager
def quiet_on_failure(capfd: pytest.CaptureFixture[str], caplog) -> Iterator[None]:
    """Drop the captured logs and output when the scenario fails before its scan.

    pytest prints them with a failure, and they may hold the very secret the scan
    looks for; the traceback still says where the scenario stopped.
    """
    try:
        yield
    except BaseException:
        forget_captured_output(capfd, caplog)
        raise


def forget_captured_output(capfd: pytest.CaptureFixture[str], caplog) -> None:
    """Empty what pytest would print with a failure: its log capture and the output."""
    caplog.clear()
    # The "Captured log" section comes from pytest's own handler on the root logger.
    for handler in logging.getLogger().handlers:
        if type(handler).__name__ == "LogCaptureHandler":
            handler.reset()  # type: ignore[attr-defined]
    capfd.readouterr()


def finish(scan: LeakScan, capfd: pytest.CaptureFixture[str], caplog) -> list[str]:
    """Add the output, history and mail to the scan; return the findings.

    Clears what pytest would print on failure (captured logs and output), so a
    failing scan reports where a secret was, never the secret.
    """
    out, err = capfd.readouterr()
    scan.add("stdout", out)
    scan.add("stderr", err)
    scan.scan_history()
    scan.scan_mail()
    scan.scan_database("database at the end")
    scan.scan_cache("cache at the end")
    forget_captured_output(capfd, caplog)
    return scan.findings()


# --- The scenario ------------------------------------------------------------------------

HTMX: dict[str, Any] = {"HTTP_HX_REQUEST": "true"}


def merchant_post(name: str, user_id: str, api_key: str, **extra: str) -> dict[str, str]:
    return {"name": name, "api_type": "merchant", "user_id": user_id, "api_key": api_key, **extra}


def storefront_post(name: str, username: str, password: str, **extra: str) -> dict[str, str]:
    return {
        "name": name,
        "api_type": "storefront",
        "username": username,
        "password": password,
        **extra,
    }


# Issue 12's case: about 180 characters, then the key, then a little more.
ECHO_AFTER_180 = (
    "This request could not be authorised for the reviews resource because the account "
    "does not allow the enterprise API for the credentials given in the request made to "
    "Okendo api key={secret} end"
)

# How to make the fake Okendo produce each outcome of a test.
OUTCOMES: dict[str, Callable[[Any], None]] = {
    "ok": lambda okendo: None,
    "auth_failed": lambda okendo: okendo.respond(401),
    "forbidden": lambda okendo: okendo.respond(403),
    "not_found": lambda okendo: okendo.respond(404),
    "rate_limited": lambda okendo: okendo.respond(429, times=3),
    "unavailable": lambda okendo: okendo.respond(503),
    "unavailable (reset)": lambda okendo: okendo.reset_connection(),
    "unexpected": lambda okendo: okendo.respond(200, text="<html>maintenance</html>"),
    "unexpected (400)": lambda okendo: okendo.respond(400),
    # Answers that echo the credentials (issue 12): cut after about 180 characters,
    # in other fields, as the Basic token, URL-encoded, and in HTML.
    "forbidden (echo)": lambda okendo: okendo.respond(
        403, json_body={"error": {"description": ECHO_AFTER_180}}, echo=True
    ),
    "not_found (echo)": lambda okendo: okendo.respond(
        404,
        json_body={"message": "{secret}", "error": {"description": "{basic} for {user}"}},
        echo=True,
    ),
    "unexpected (echo)": lambda okendo: okendo.respond(
        400, json_body={"error": {"description": "key%3D{secret_url} x {secret}"}}, echo=True
    ),
    "unexpected (HTML echo)": lambda okendo: okendo.respond(
        418, text="<p>api key={secret}</p>", echo=True
    ),
}


def shown_outcome(response: Any) -> str:
    html = response.content.decode()
    marker = 'data-outcome="'
    start = html.index(marker) + len(marker)
    return html[start : html.index('"', start)]


def test_no_secret_leaks_anywhere_in_a_full_scenario(
    scan: LeakScan, okendo, settings, capfd, caplog
) -> None:
    with quiet_on_failure(capfd, caplog):
        run_scenario(scan, okendo, settings)
        findings = finish(scan, capfd, caplog)

    assert findings == []
    assert scan.redactions_shown == [True, True, True]
    assert scan.responses > 50
    # The secrets were real: Okendo received the saved ones, in the Authorization header.
    # (Compared by label, so a failure does not print a secret.)
    sent = {request.basic_auth() for request in okendo.requests}
    expected = {
        "API key 1": (okendo.user_id, SECRETS["API key 1"]),
        "API key 2": (okendo.user_id, SECRETS["API key 2"]),
        "password 1": (okendo.store_id, SECRETS["password 1"]),
    }
    assert [label for label, pair in expected.items() if pair not in sent] == []


def run_scenario(scan: LeakScan, okendo, settings) -> None:
    """Drive every page, test outcome, admin page, error page and command with the secrets."""
    s = SECRETS
    merchant_id, store_id = okendo.user_id, okendo.store_id
    other_merchant_id = str(uuid.uuid4())
    scan.accounts |= {merchant_id, store_id, other_merchant_id}
    okendo.add_merchant(merchant_id, s["API key 1"])
    root = User.objects.create_superuser("root", "root@example.com", password=None)
    client = RecordingClient(scan)
    client.force_login(root)

    # Create pages, field switching, and failed saves carrying secrets.
    client.get("/connections/new/")
    client.get("/connections/new/?api_type=storefront", **HTMX)
    failed = [
        client.post("/connections/new/", merchant_post("Bad id", "not-a-uuid", s["API key 1"])),
        client.post("/connections/new/", merchant_post("Colon", merchant_id, s["refused API key"])),
        client.post("/connections/new/", storefront_post("", store_id, s["password 1"]), **HTMX),
        client.post(
            "/connections/new/",
            merchant_post("Switch", merchant_id, s["API key 1"], api_type="storefront"),
        ),
        client.post(
            "/connections/new/",
            {**merchant_post("Switch", merchant_id, s["API key 1"]), "change_type": "1"},
        ),
    ]
    assert [response.status_code for response in failed] == [200] * 5

    # Both API types created.
    created = client.post(
        "/connections/new/",
        merchant_post("Leak merchant", merchant_id, s["API key 1"]),
        follow=True,
    )
    assert created.status_code == 200
    client.post(
        "/connections/new/",
        storefront_post("Leak storefront", store_id, s["password 1"]),
        follow=True,
    )
    merchant = Connection.objects.get(name="Leak merchant")
    storefront = Connection.objects.get(name="Leak storefront")

    # Tests of typed values: with htmx, without JavaScript, invalid, and from the edit page.
    typed = client.post(
        "/connections/test/", merchant_post("Typed", merchant_id, s["API key 1"]), **HTMX
    )
    assert shown_outcome(typed) == "ok"
    client.post(
        "/connections/test/",
        storefront_post("Typed", store_id, s["typed-only password"]),
        follow=True,
    )
    client.post("/connections/test/", merchant_post("", merchant_id, s["refused API key"]), **HTMX)
    OUTCOMES["forbidden (echo)"](okendo)
    echoed = client.post(
        "/connections/test/", merchant_post("Typed", merchant_id, s["API key 1"]), **HTMX
    )
    scan.redactions_shown.append("[redacted]" in echoed.content.decode())
    client.post(
        f"/connections/test/?connection={merchant.pk}",
        merchant_post("Leak merchant", merchant_id, s["API key 2"]),
        follow=True,
    )

    # Tests of a saved connection with every outcome, with and without htmx.
    seen = []
    for script in OUTCOMES.values():
        script(okendo)
        seen.append(shown_outcome(client.post(f"/connections/{merchant.pk}/test/", **HTMX)))
    okendo.respond(401)
    client.post(f"/connections/{merchant.pk}/test/", follow=True)
    seen.append(shown_outcome(client.post(f"/connections/{storefront.pk}/test/", **HTMX)))
    with connection_test_lock(str(merchant.uid)):
        seen.append(shown_outcome(client.post(f"/connections/{merchant.pk}/test/", **HTMX)))
    settings.OKENDO_API_BASE_URL = closed_port_url()
    seen.append(shown_outcome(client.post(f"/connections/{merchant.pk}/test/", **HTMX)))
    settings.OKENDO_API_BASE_URL = okendo.base_url
    current_key = settings.CONNECTIONS_ENCRYPTION_KEY
    settings.CONNECTIONS_ENCRYPTION_KEY = OTHER_ENCRYPTION_KEY  # the saved key cannot be read
    seen.append(shown_outcome(client.post(f"/connections/{merchant.pk}/test/", **HTMX)))
    settings.CONNECTIONS_ENCRYPTION_KEY = current_key
    assert seen == [
        "ok",
        "auth_failed",
        "forbidden",
        "not_found",
        "rate_limited",
        "unavailable",
        "unavailable",
        "unexpected",
        "unexpected",
        "forbidden",
        "not_found",
        "unexpected",
        "unexpected",
        "ok",
        "busy",
        "unavailable",
        "misconfigured",
    ]

    # Edits: refused, a new key, a type change and back, a new password.
    edit = f"/connections/{merchant.pk}/edit/"
    client.get(edit)
    client.get(f"{edit}?api_type=storefront", **HTMX)
    client.post(edit, merchant_post("Leak merchant", merchant_id, ""))
    client.post(edit, merchant_post("Leak merchant", merchant_id, s["refused API key"]))
    client.post(edit, merchant_post("Leak merchant 2", merchant_id, s["API key 2"]), follow=True)
    okendo.add_merchant(merchant_id, s["API key 2"])
    assert shown_outcome(client.post(f"/connections/{merchant.pk}/test/", **HTMX)) == "ok"
    client.post(edit, storefront_post("Leak merchant 2", store_id, s["password 2"]), follow=True)
    client.post(edit, merchant_post("Leak merchant 2", merchant_id, s["API key 2"]), follow=True)
    client.post(
        f"/connections/{storefront.pk}/edit/",
        storefront_post("Leak storefront", store_id, s["password 2"]),
        follow=True,
    )
    merchant.refresh_from_db()
    assert merchant.get_api_key().reveal() == s["API key 2"]
    client.get("/connections/")
    client.get("/connections/?q=Leak&sort=-updated")
    client.get(f"/connections/{merchant.pk}/")
    client.get(f"/connections/{storefront.pk}/")

    # Every admin page: list, add, change, history, delete confirmation, action results.
    run_admin(client, okendo, merchant=merchant)

    # A 500 with DEBUG off: the database fails while a secret is in the POST.
    assert settings.DEBUG is False

    def database_down(execute, sql, params, many, context):
        if sql.lstrip().upper().startswith("INSERT") and "connections_connection" in sql:
            raise OperationalError("server closed the connection unexpectedly")
        return execute(sql, params, many, context)

    crashing = RecordingClient(scan, raise_request_exception=False)
    crashing.force_login(root)
    with connection.execute_wrapper(database_down):
        crash = crashing.post(
            "/connections/new/", merchant_post("Crash", other_merchant_id, s["crash API key"])
        )
    assert crash.status_code == 500
    assert "Something went wrong" in crash.content.decode()
    assert scan.reports == 1
    report = next(text for where, text in scan.texts if "ExceptionReporter text" in where)
    assert "api_key = '********************'" in report  # the reporter ran, and masked
    assert len(mail.outbox) == 1  # and mailed the operators

    # Deletion from the app.
    client.get(f"/connections/{storefront.pk}/delete/")
    client.post(f"/connections/{storefront.pk}/delete/", follow=True)

    # The management commands, their output captured, over both types.
    okendo.add_merchant(merchant_id, s["API key 2"])
    again = client.post(
        "/connections/new/", storefront_post("Leak storefront 2", store_id, s["password 2"])
    )
    assert again.status_code == 302
    outputs = run_commands(settings, okendo, scan.redactions_shown)

    for where, text in outputs:
        scan.add(where, text)


ADMIN_LIST = "/admin/connections/connection/"
ADMIN_EVENTS = "/admin/connections/connectionevent/"


def run_admin(client: RecordingClient, okendo, *, merchant: Connection) -> None:
    """Walk the admin with the secrets: failed and good saves, tests, history, deletion."""
    s = SECRETS
    merchant_id, store_id = okendo.user_id, okendo.store_id
    okendo.add_merchant(merchant_id, s["admin API key"])
    add = f"{ADMIN_LIST}add/"
    pages = ["/admin/", "/admin/connections/", ADMIN_LIST, f"{ADMIN_LIST}?q=Leak", add]
    pages += [f"{add}?api_type=storefront", ADMIN_EVENTS, f"{ADMIN_EVENTS}?action__exact=tested"]
    for page in pages:
        assert client.get(page).status_code == 200, page
    client.get(f"{add}?api_type=storefront", **HTMX)

    # Add: refused (bad id, a colon in the key, the other type's fields), switched, saved.
    refused = [
        client.post(add, merchant_post("Admin bad", "nope", s["admin API key"], _save="Save")),
        client.post(add, merchant_post("Admin colon", merchant_id, s["refused API key"])),
        client.post(add, merchant_post("Admin", merchant_id, s["admin API key"], api_type="x")),
        client.post(
            add, {**storefront_post("Admin", store_id, s["admin password"])} | {"name": ""}
        ),
    ]
    assert [response.status_code for response in refused] == [200] * 4
    client.post(
        add, merchant_post("Admin switch", merchant_id, s["admin API key"], _change_type="1")
    )
    client.post(
        add,
        merchant_post("Admin merchant", merchant_id, s["admin API key"], _save="Save"),
        follow=True,
    )
    client.post(
        add,
        storefront_post("Admin storefront", store_id, s["admin password"], _save="Save"),
        follow=True,
    )
    admin_merchant = Connection.objects.get(name="Admin merchant")
    admin_storefront = Connection.objects.get(name="Admin storefront")

    # Change: refused without the secret, saved with it, a type change, and the Test button.
    change = f"{ADMIN_LIST}{admin_merchant.pk}/change/"
    client.get(change)
    client.get(f"{change}?api_type=storefront", **HTMX)
    client.post(change, merchant_post("Admin merchant", merchant_id, "", _save="Save"))
    client.post(
        change,
        merchant_post("Admin merchant 2", merchant_id, s["admin API key"], _save="Save"),
        follow=True,
    )
    client.post(f"{ADMIN_LIST}{admin_merchant.pk}/test/", follow=True)
    okendo.respond(401)
    client.post(f"{ADMIN_LIST}{admin_merchant.pk}/test/", follow=True)
    OUTCOMES["forbidden (echo)"](okendo)
    client.post(f"{ADMIN_LIST}{admin_merchant.pk}/test/", follow=True)
    page = client.get(f"{ADMIN_LIST}{admin_merchant.pk}/change/").content.decode()
    client.scan.redactions_shown.append("[redacted]" in page)
    client.post(
        f"{ADMIN_LIST}{admin_storefront.pk}/change/",
        merchant_post("Admin storefront", merchant_id, s["API key 2"], _save="Save"),
        follow=True,
    )
    client.post(
        f"{ADMIN_LIST}{admin_storefront.pk}/change/",
        storefront_post("Admin storefront", store_id, s["password 2"], _save="Save"),
        follow=True,
    )
    for shown in (admin_merchant, admin_storefront, merchant):
        assert client.get(f"{ADMIN_LIST}{shown.pk}/change/").status_code == 200
        assert client.get(f"{ADMIN_LIST}{shown.pk}/history/").status_code == 200
        assert client.get(f"{ADMIN_EVENTS}?connection_uid={shown.uid}").status_code == 200
    for event in ConnectionEvent.objects.all()[:5]:
        client.get(f"{ADMIN_EVENTS}{event.pk}/change/")
    # Staff who may only view get read-only pages.
    viewer = User.objects.create_user("viewer", is_staff=True)
    viewer.user_permissions.set(Permission.objects.filter(codename="view_connection"))
    read_only = RecordingClient(client.scan)
    read_only.force_login(viewer)
    for page in (ADMIN_LIST, f"{ADMIN_LIST}{admin_merchant.pk}/change/", ADMIN_EVENTS):
        assert read_only.get(page).status_code == 200, page
    read_only.post(
        f"{ADMIN_LIST}{admin_merchant.pk}/change/",
        merchant_post("Admin merchant 2", merchant_id, s["admin API key"], _save="Save"),
    )

    # The test action, over connections with different outcomes, and its result page.
    okendo.respond(200)
    okendo.respond(503)
    selected = [admin_merchant.pk, admin_storefront.pk, merchant.pk]
    action = client.post(
        ADMIN_LIST, {"action": "test_selected", "_selected_action": selected}, follow=True
    )
    assert action.status_code == 200
    assert [word in action.content.decode() for word in (": ok (", ": unavailable (")] == [
        True,
        True,
    ]

    # Deletion: one confirmation page and delete, then the bulk action's confirmation and delete.
    client.get(f"{ADMIN_LIST}{admin_storefront.pk}/delete/")
    client.post(f"{ADMIN_LIST}{admin_storefront.pk}/delete/", {"post": "yes"}, follow=True)
    bulk = {"action": "delete_selected", "_selected_action": [admin_merchant.pk]}
    client.post(ADMIN_LIST, bulk)
    client.post(ADMIN_LIST, {**bulk, "post": "yes"}, follow=True)
    assert not Connection.objects.filter(name__startswith="Admin").exists()
    assert client.get(ADMIN_EVENTS).status_code == 200


def run_commands(settings, okendo, redactions: list[bool]) -> list[tuple[str, str]]:
    """Run rotate_encryption_keys (a real rotation) and test_connections; return their output."""
    outputs = []

    def run(*args: str) -> None:
        out, err = StringIO(), StringIO()
        try:
            call_command(*args, stdout=out, stderr=err)
        except CommandError as exc:
            err.write(f"CommandError: {exc}")
        outputs.append((f"command {' '.join(args)} stdout", out.getvalue()))
        outputs.append((f"command {' '.join(args)} stderr", err.getvalue()))

    old_key = settings.CONNECTIONS_ENCRYPTION_KEY
    settings.CONNECTIONS_ENCRYPTION_KEY = OTHER_ENCRYPTION_KEY
    settings.CONNECTIONS_ENCRYPTION_KEY_FALLBACKS = [old_key]
    run("rotate_encryption_keys", "--check")
    run("rotate_encryption_keys", "--dry-run", "-v", "2")
    run("rotate_encryption_keys", "-v", "2")
    run("rotate_encryption_keys", "--check")
    run("test_connections", "--all", "-v", "2")
    run("test_connections", "--offline", "-v", "2")
    run("test_connections", *[str(pk) for pk in Connection.objects.values_list("pk", flat=True)])
    OUTCOMES["forbidden (echo)"](okendo)
    OUTCOMES["not_found (echo)"](okendo)
    pks = [str(pk) for pk in Connection.objects.values_list("pk", flat=True)]
    run("test_connections", *pks, "-v", "2")
    printed = dict(outputs)
    assert "Re-encrypted 2." in printed["command rotate_encryption_keys -v 2 stdout"]
    assert "OK: no stored secret" in printed["command rotate_encryption_keys --check stdout"]
    assert "All 2 connections are ok." in printed["command test_connections --all -v 2 stdout"]
    echoed = printed[f"command test_connections {' '.join(pks)} -v 2 stdout"]
    redactions.append(echoed.count("[redacted]") >= 2)
    return outputs


# --- The scan itself can fail ------------------------------------------------------------

DECOY = "LEAKCANARYdecoyNotARealSecret00099"


def test_leak_scan_finds_a_planted_secret_in_every_sink(
    okendo, settings, capfd, caplog, django_user_model
) -> None:
    settings.ADMINS = [("Operations", "ops@example.com")]
    scan = LeakScan({"decoy": DECOY})
    scan.accounts.add("decoy-user")
    root = django_user_model.objects.create_superuser("root", password=None)
    with capture_logs(scan, caplog), capture_exceptions(scan):
        client = RecordingClient(scan, raise_request_exception=False)
        client.force_login(root)
        client.get("/connections/", {"q": DECOY})  # the search term is echoed in the page
        session = client.session
        session["planted"] = DECOY
        session.save()
        logging.getLogger("django.request").debug("planted %s", DECOY)  # does not propagate
        logging.getLogger("connections.services").info(
            "Authorization: Basic %s", base64.b64encode(f"decoy-user:{DECOY}".encode()).decode()
        )
        print(quote(DECOY, safe=""))  # the stdout capture is under test
        Connection.objects.create(name=DECOY[:30] + "x", api_type="merchant")
        # Every table after every response: put the decoy in one and make one more request.
        Connection.objects.filter(name=DECOY[:30] + "x").update(last_test_message=DECOY)
        client.get("/healthz")

        def broken(execute, sql, params, many, context):
            if sql.lstrip().upper().startswith("INSERT") and "connections_connection" in sql:
                raise OperationalError("planted failure")
            return execute(sql, params, many, context)

        with connection.execute_wrapper(broken):
            post = {"name": DECOY, "api_type": "merchant", "user_id": okendo.user_id}
            assert client.post("/connections/new/", {**post, "api_key": "k"}).status_code == 500
        out = StringIO()
        Connection.objects.filter(name=DECOY[:30] + "x").update(name=DECOY)
        with pytest.raises(CommandError):
            call_command("test_connections", "--all", stdout=out, stderr=StringIO())
        scan.add("command test_connections stdout", out.getvalue())
        from django.core.cache import cache

        cache.set("planted", DECOY)
        scan.scan_cache("cache")
    findings = finish(scan, capfd, caplog)

    def seen(place: str) -> bool:
        return any(place in finding for finding in findings)

    assert seen("body: decoy (plain)")  # HTTP body
    assert seen("decoded: decoy (plain)")  # a session, decoded
    assert seen("log django.request DEBUG: decoy (plain)")  # a logger that does not propagate
    assert seen("console log (the server's stderr): decoy (plain)")
    assert seen("log connections.services INFO: decoy (Basic auth base64)")  # Basic auth header
    assert seen("stdout: decoy (URL-encoded)")
    assert seen("connections_connection.last_test_message: decoy (plain)")  # SQL, every column
    assert seen("error report 1 (ExceptionReporter text): decoy (plain)")  # POST name shown
    assert seen("mail 1 body: decoy (plain)")
    assert seen("command test_connections stdout: decoy (plain)")
    assert seen(":1:planted: decoy (plain)")  # the cache
    assert not seen("decoy-user")  # findings name places and encodings, never values
