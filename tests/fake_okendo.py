"""A fake Okendo: a real HTTP server on 127.0.0.1 that answers like api.okendo.io.

Registered for the whole suite by ``pytest_plugins = ["tests.fake_okendo"]`` in
tests/conftest.py. The fixtures:

``okendo``
    A running :class:`FakeOkendo`; ``settings.OKENDO_API_BASE_URL`` points at
    it, timeouts are short (connect 1 s, read 2 s; ``respond_slowly`` drops
    the read timeout to 0.3 s so the slow case costs little) and retry /
    rate-limit waits are recorded in ``okendo.clock.sleeps`` instead of slept.
    It knows one Merchant account and one store, fresh for every test::

        okendo.user_id, okendo.api_key     # Merchant credentials it accepts
        okendo.store_id, okendo.password   # a Storefront store it knows

``okendo_down``
    Like ``okendo`` but nothing listens at the base URL (a closed port).

Without a script the server behaves like Okendo: it rejects a missing or
unknown ``okendo-api-version`` (400), serves ``GET /enterprise/reviews`` to
the Merchant accounts it knows (Basic auth; 401 with no body otherwise) and
``GET /v1/stores/{id}/reviews`` to anyone (the Storefront API is public; an
unknown store gets an empty list), checks ``limit``, and answers any other
route with 403 as api.okendo.io does. Script the next answers, in order::

    okendo.respond(401)                                  # any status; sensible default bodies
    okendo.respond(429, headers={"Retry-After": "2"}, times=3)
    okendo.respond(503)                                  # 5xx come with an HTML body
    okendo.respond(200, text="<html>not json</html>")
    okendo.respond(403, json_body={"error": {"description": "key={secret}"}}, echo=True)
    okendo.respond_large(2 * 1024 * 1024, declare_length=False)
    okendo.respond_slowly()                               # slower than the read timeout
    okendo.reset_connection()                             # TCP reset instead of an answer

With ``echo=True`` the body echoes the credentials the request carried, as
some APIs do in their errors: ``{user}``, ``{secret}``, ``{secret_url}`` (URL-
encoded) and ``{basic}`` (the Basic token) are replaced (JSON-escaped in a JSON body).

Every request is recorded in ``okendo.requests`` (method, path, query,
headers with lower-case names, body, and the raw head as received), so tests
can assert the exact headers and that a secret travelled only in
``Authorization``. Outside pytest (benchmarks) use ``with FakeOkendo() as fake:``.
"""

from __future__ import annotations

import base64
import binascii
import json
import socket
import struct
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest

API_VERSION = "2025-02-01"
_HTML_ERROR = (
    "<html><head><title>{status} Service Unavailable</title></head>"
    "<body><center><h1>{status} Service Unavailable</h1></center></body></html>"
)
_DESCRIPTIONS = {
    400: "Invalid request parameters.",
    403: "Access to this resource is not permitted for this account.",
    404: "The requested resource could not be found.",
    429: "Too many requests.",
}


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the fake received it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    raw_head: str

    def basic_auth(self) -> tuple[str, str] | None:
        """Return the decoded (username, password) of the Authorization header, if Basic."""
        return _decode_basic(self.headers.get("authorization", ""))


@dataclass
class _Scripted:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    delay: float = 0.0
    reset: bool = False
    large: int = 0
    declare_length: bool = True
    echo: bool = False


def _decode_basic(value: str) -> tuple[str, str] | None:
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "basic" or not token:
        return None
    try:
        decoded = base64.b64decode(token, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    username, sep, password = decoded.partition(":")
    return (username, password) if sep else None


def _review(store_id: str) -> dict[str, Any]:
    return {
        "reviewId": "5b0a9c1e-3f4d-4e2a-9b7c-2d1e0f3a4b5c",
        "productId": "shopify-7012345678901",
        "subscriberId": store_id,
        "rating": 5,
        "title": "Great fit",
        "body": "Comfortable and true to size.",
        "status": "approved",
        "dateCreated": "2025-01-15T09:30:00.000Z",
        "reviewer": {"displayName": "Sam T.", "isVerified": True},
        "isRecommended": True,
        "helpfulCount": 2,
        "unhelpfulCount": 0,
    }


class FakeOkendo:
    """The server, its accounts, its script of answers and the requests it received."""

    def __init__(self) -> None:
        self.merchants: dict[str, str] = {}
        self.stores: set[str] = set()
        self.requests: list[RecordedRequest] = []
        self._script: deque[_Scripted] = deque()
        self._lock = threading.Lock()
        self._release = threading.Event()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.fake = self
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FakeOkendo:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._release.set()  # let slow answers finish now
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeOkendo:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- Accounts -------------------------------------------------------------

    def add_merchant(self, user_id: str, api_key: str) -> None:
        """Accept ``user_id`` / ``api_key`` on the Merchant API."""
        self.merchants[user_id.lower()] = api_key

    def add_store(self, store_id: str) -> None:
        """Serve reviews for ``store_id`` on the Storefront API."""
        self.stores.add(store_id.lower())

    # --- Script ---------------------------------------------------------------

    def respond(
        self,
        status: int,
        *,
        json_body: Any = None,
        text: str | None = None,
        headers: dict[str, str] | None = None,
        times: int = 1,
        echo: bool = False,
    ) -> None:
        """Answer the next ``times`` requests with ``status`` (a typical body unless given).

        With ``echo``, ``{user}``, ``{secret}`` and ``{basic}`` in the body become
        the request's Basic credentials and token.
        """
        content_type = "application/json"
        if text is not None:
            body = text.encode()
            content_type = "text/html; charset=utf-8"
        elif json_body is not None:
            body = json.dumps(json_body).encode()
        elif status == 200:
            body = json.dumps({"reviews": [_review("store")]}).encode()
        elif status >= 500:
            body = _HTML_ERROR.format(status=status).encode()
            content_type = "text/html"
        elif status in _DESCRIPTIONS:
            body = json.dumps({"error": {"description": _DESCRIPTIONS[status]}}).encode()
        else:
            body = b""
        all_headers = {"Content-Type": content_type} if body else {}
        all_headers.update(headers or {})
        self._push(_Scripted(status=status, headers=all_headers, body=body, echo=echo), times)

    def respond_large(self, size: int, *, declare_length: bool = True) -> None:
        """Answer 200 with a JSON-looking body of ``size`` bytes, streamed in chunks."""
        self._push(_Scripted(large=size, declare_length=declare_length), 1)

    def respond_slowly(self, seconds: float) -> None:
        """Answer 200 only after ``seconds`` (cut short when the fake stops)."""
        self._push(_Scripted(delay=seconds, body=json.dumps({"reviews": []}).encode()), 1)

    def reset_connection(self) -> None:
        """Reset the TCP connection (RST) instead of answering the next request."""
        self._push(_Scripted(reset=True), 1)

    def _push(self, answer: _Scripted, times: int) -> None:
        with self._lock:
            self._script.extend(answer for _ in range(times))

    def _next_scripted(self) -> _Scripted | None:
        with self._lock:
            return self._script.popleft() if self._script else None

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeOkendo

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that hang up (the 1 MiB cut-off, timeouts) are expected; stay quiet.
        pass


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "awselb/2.0"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def _serve(self) -> None:
        fake = self.server.fake
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        fake._record(
            RecordedRequest(
                method=self.command,
                path=parts.path,
                query=parse_qs(parts.query, keep_blank_values=True),
                headers={name.lower(): value for name, value in self.headers.items()},
                body=body,
                raw_head=self.requestline + "\r\n" + str(self.headers),
            )
        )
        scripted = fake._next_scripted()
        if scripted is None:
            self._answer_like_okendo(parts.path, parse_qs(parts.query))
        elif scripted.reset:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True
        elif scripted.large:
            self._send_large(scripted.large, declare_length=scripted.declare_length)
        else:
            if scripted.delay and fake._release.wait(scripted.delay):
                return  # the fake is stopping; the client gave up long ago
            body = self._echoed(scripted) if scripted.echo else scripted.body
            self._send(scripted.status, body, scripted.headers)

    def _echoed(self, scripted: _Scripted) -> bytes:
        authorization = self.headers.get("Authorization", "")
        user, secret = _decode_basic(authorization) or ("", "")
        is_json = scripted.headers.get("Content-Type", "").startswith("application/json")
        text = scripted.body.decode()
        for placeholder, value in (
            ("{user}", user),
            ("{secret}", secret),
            ("{basic}", authorization.partition(" ")[2]),
            ("{secret_url}", quote(secret, safe="")),
        ):
            text = text.replace(placeholder, json.dumps(value)[1:-1] if is_json else value)
        return text.encode()

    def _answer_like_okendo(self, path: str, query: dict[str, list[str]]) -> None:
        fake = self.server.fake
        segments = path.strip("/").split("/")
        if self.command != "GET" or not (
            segments == ["enterprise", "reviews"]
            or (
                len(segments) == 4 and segments[:2] == ["v1", "stores"] and segments[3] == "reviews"
            )
        ):
            # API Gateway in front of api.okendo.io answers unknown routes like this.
            return self._send_json(403, {"message": "Missing Authentication Token"})
        version = self.headers.get("okendo-api-version")
        if version != API_VERSION:
            return self._send_json(
                400,
                {"error": {"description": "Missing or unsupported okendo-api-version header."}},
            )
        merchant = segments[0] == "enterprise"
        limit = (query.get("limit") or ["25"])[0]
        if not limit.isdigit() or not 1 <= int(limit) <= (100 if merchant else 25):
            return self._send_json(400, {"error": {"description": "Invalid value for limit."}})
        if merchant:
            credentials = _decode_basic(self.headers.get("Authorization", ""))
            if credentials is None or fake.merchants.get(credentials[0].lower()) != credentials[1]:
                return self._send(401, b"", {})
            return self._send_json(
                200,
                {
                    "reviews": [_review(credentials[0].lower())],
                    "nextUrl": "/reviews?limit=1&lastEvaluated=%7B%22reviewId%22%3A%221%22%7D",
                },
            )
        store_id = segments[2].lower()
        reviews = [_review(store_id)] if store_id in fake.stores else []
        return self._send_json(200, {"reviews": reviews})

    def _send_json(self, status: int, data: Any) -> None:
        self._send(status, json.dumps(data).encode(), {"Content-Type": "application/json"})

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        try:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            pass  # the client hung up

    def _send_large(self, size: int, *, declare_length: bool) -> None:
        chunk = b" " * (64 * 1024)
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            if declare_length:
                self.send_header("Content-Length", str(size))
            self.end_headers()
            self.wfile.write(b'{"reviews": [')
            sent = 13
            while sent < size:
                piece = chunk[: size - sent]
                self.wfile.write(piece)
                sent += len(piece)
        except OSError:
            pass  # the client stopped reading, as it should
        self.close_connection = True


class FastClock:
    """Real time, except that sleeping is recorded in ``sleeps`` and time jumps ahead instead."""

    def __init__(self) -> None:
        self.sleeps: list[float] = []
        self._offset = 0.0
        self._lock = threading.Lock()

    def monotonic(self) -> float:
        return time.monotonic() + self._offset

    def time(self) -> float:
        return time.time() + self._offset

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self._offset += seconds


def closed_port_url() -> str:
    """Return a loopback URL on which nothing listens."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


SLOW_CASE_READ_TIMEOUT = 0.3


class RunningFake(FakeOkendo):
    """The ``okendo`` fixture's value: a started fake with one account of each type."""

    user_id: str
    api_key: str
    store_id: str
    password: str
    clock: FastClock
    settings: Any

    def respond_slowly(self, seconds: float = 10.0) -> None:
        """Answer after ``seconds``, and make the app's read timeout short enough to give up."""
        self.settings.OKENDO_READ_TIMEOUT = SLOW_CASE_READ_TIMEOUT
        super().respond_slowly(seconds)


def _running_fake(settings: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningFake]:
    from connections import services

    fake = RunningFake()
    # Fresh ids per test, so the per-account rate limiter never links two tests.
    fake.user_id = str(uuid.uuid4())
    fake.api_key = "sk_test_NOT_A_REAL_KEY_000000001"
    fake.store_id = str(uuid.uuid4())
    fake.password = "NOT-A-REAL-STOREFRONT-PASSWORD-01"
    fake.add_merchant(fake.user_id, fake.api_key)
    fake.add_store(fake.store_id)
    fake.clock = FastClock()
    fake.settings = settings
    monkeypatch.setattr(services, "clock", fake.clock)
    # Generous for a loaded CI machine; the slow case lowers it (see respond_slowly).
    settings.OKENDO_CONNECT_TIMEOUT = 1.0
    settings.OKENDO_READ_TIMEOUT = 2.0
    with fake:
        settings.OKENDO_API_BASE_URL = fake.base_url
        yield fake


@pytest.fixture
def okendo(settings: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningFake]:
    """Run a fake Okendo and point the settings at it (see the module docstring)."""
    yield from _running_fake(settings, monkeypatch)


@pytest.fixture
def okendo_down(settings: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningFake]:
    """Like ``okendo``, but the settings point at a closed port: Okendo cannot be reached."""
    for fake in _running_fake(settings, monkeypatch):
        settings.OKENDO_API_BASE_URL = closed_port_url()
        yield fake
