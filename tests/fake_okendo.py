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

Data reads: ``okendo.serve_reviews(account_id, n)`` gives a Merchant account
or a store N generated reviews (made from their index, so 50,000 cost
nothing) with real pagination: ``limit``, ``orderBy``, ``status``, and a
``lastEvaluated`` cursor in ``nextUrl`` (relative to ``/enterprise`` or
``/v1``, absent on the last page). The Storefront product
(``/products/shopify-{id}/reviews``), group (``/collections/{GROUP_ID}/…``)
and ``review_aggregate`` routes answer from the same reviews. Merchant
``customer_lookup`` / ``customers/{id}`` answer what ``add_customer`` added;
``loyalty/customers`` answers 403 until ``enable_loyalty`` (and after
``disable_loyalty``). Faults land after N normal answers::

    okendo.burst_429(3, after=2, retry_after="1")   # the third request on gets 429s
    okendo.fail_halfway(after=1)                    # half a page, then the connection closes
    okendo.repeat_cursor(after=2)                   # a nextUrl that repeats its own cursor
    okendo.next_url("//elsewhere/reviews?lastEvaluated=x")
    okendo.call_before_answering(action, after=2)   # e.g. send this process SIGINT

Every request is recorded in ``okendo.requests`` (method, path, query,
headers with lower-case names, body, and the raw head as received), so tests
can assert the exact headers and that a secret travelled only in
``Authorization``. Outside pytest (benchmarks) use ``with FakeOkendo() as fake:``
or run it in its own process: ``python -m tests.fake_okendo --merchant USER_ID
API_KEY REVIEWS`` prints its base URL and serves until its stdin closes.
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
from array import array
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit

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
    # Answer as Okendo would, then: cut the body half-way, or replace the page's nextUrl.
    like_okendo: bool = False
    halfway: bool = False
    next_url: str | None = None
    repeat_cursor: bool = False
    before: Callable[[], None] | None = None
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
        self.review_stores: dict[str, ReviewStore] = {}
        self.customers: dict[str, dict[str, dict[str, Any]]] = {}
        self.loyalty: dict[str, dict[str, dict[str, Any]] | None] = {}
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

    def serve_reviews(self, account_id: str, count: int) -> ReviewStore:
        """Serve ``count`` generated reviews for ``account_id`` (a Merchant user or a store).

        With it, the account's review listings paginate for real (``limit``,
        ``orderBy``, ``status``, ``lastEvaluated`` / ``nextUrl``) and the
        Storefront product, group and aggregate routes answer from the same reviews.
        """
        store = ReviewStore(count)
        self.review_stores[account_id.lower()] = store
        return store

    def add_customer(self, user_id: str, email: str, customer_id: str | None = None) -> str:
        """Let the Merchant ``user_id`` find a customer by ``email``; return its customerId."""
        customer_id = customer_id or str(uuid.uuid4())
        self.customers.setdefault(user_id.lower(), {})[email.lower()] = {
            "customerId": customer_id,
            "email": email,
            "firstName": "Sam",
            "lastName": "Taylor",
            "dateCreated": "2024-11-02T10:00:00.000Z",
        }
        return customer_id

    def enable_loyalty(self, user_id: str, *emails: str) -> None:
        """Turn Okendo Loyalty on for ``user_id``, with one loyalty customer per email."""
        members = self.loyalty.setdefault(user_id.lower(), {}) or {}
        for email in emails:
            members[email.lower()] = {
                "loyaltyCustomerId": str(uuid.uuid4()),
                "points": {"balance": 120},
                "status": "active",
                "vipTierName": "Gold",
                "minimumVipTierName": "Silver",
            }
        self.loyalty[user_id.lower()] = members

    def disable_loyalty(self, user_id: str) -> None:
        """Make loyalty reads of ``user_id`` answer 403, as Okendo does for a store without it."""
        self.loyalty[user_id.lower()] = None

    def answer_normally(self, times: int) -> None:
        """Answer the next ``times`` requests as Okendo would (to place a fault later)."""
        self._push(_Scripted(like_okendo=True), times)

    def fail_halfway(self, *, after: int = 0) -> None:
        """After ``after`` normal answers, cut the next answer's body off half-way and hang up."""
        self.answer_normally(after)
        self._push(_Scripted(like_okendo=True, halfway=True), 1)

    def repeat_cursor(self, *, after: int = 0) -> None:
        """After ``after`` normal answers, answer a page whose nextUrl repeats its own cursor."""
        self.answer_normally(after)
        self._push(_Scripted(like_okendo=True, repeat_cursor=True), 1)

    def next_url(self, url: str, *, after: int = 0) -> None:
        """After ``after`` normal answers, answer a page whose nextUrl is ``url``."""
        self.answer_normally(after)
        self._push(_Scripted(like_okendo=True, next_url=url), 1)

    def call_before_answering(self, action: Callable[[], None], *, after: int = 0) -> None:
        """After ``after`` normal answers, run ``action`` on receiving the next request, then
        answer it normally (tests interrupt a client mid-request this way)."""
        self.answer_normally(after)
        self._push(_Scripted(like_okendo=True, before=action), 1)

    def burst_429(self, times: int, *, after: int = 0, retry_after: str | None = None) -> None:
        """After ``after`` normal answers, answer 429 ``times`` times (with ``Retry-After``)."""
        self.answer_normally(after)
        self.respond(
            429, headers={"Retry-After": retry_after} if retry_after else None, times=times
        )

    def review_requests(self) -> list[RecordedRequest]:
        """Return the recorded requests for review listings."""
        return [r for r in self.requests if r.path.endswith("/reviews")]

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
        if scripted is not None and scripted.before is not None:
            scripted.before()
        if scripted is None or scripted.like_okendo:
            self._answer_like_okendo(parts.path, parse_qs(parts.query), body, scripted)
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

    def _answer_like_okendo(
        self,
        path: str,
        query: dict[str, list[str]],
        body: bytes = b"",
        fault: _Scripted | None = None,
    ) -> None:
        fake = self.server.fake
        segments = path.strip("/").split("/")
        route = _route(self.command, segments)
        if route is None:
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
        account = segments[2].lower() if not merchant else ""
        if merchant:
            credentials = _decode_basic(self.headers.get("Authorization", ""))
            if credentials is None or fake.merchants.get(credentials[0].lower()) != credentials[1]:
                return self._send(401, b"", {})
            account = credentials[0].lower()
            if route != "reviews":
                return self._answer_merchant(route, account, segments, query, body)
        store = fake.review_stores.get(account)
        if store is not None or route != "reviews":
            return self._answer_from_store(route, store, segments, query, fault)
        if merchant:
            return self._send_json(
                200,
                {
                    "reviews": [_review(account)],
                    "nextUrl": "/reviews?limit=1&lastEvaluated=%7B%22reviewId%22%3A%221%22%7D",
                },
            )
        store_id = segments[2].lower()
        reviews = [_review(store_id)] if store_id in fake.stores else []
        return self._send_json(200, {"reviews": reviews})

    def _answer_merchant(
        self,
        route: str,
        account: str,
        segments: list[str],
        query: dict[str, list[str]],
        body: bytes,
    ) -> None:
        fake = self.server.fake
        not_found = {"error": {"description": "The requested resource could not be found."}}
        customers = fake.customers.get(account, {})
        if route == "customer_lookup":
            try:
                email = json.loads(body)["email"]
            except (ValueError, KeyError, TypeError):
                return self._send_json(400, {"error": {"description": "email is required."}})
            found = customers.get(str(email).lower())
            if found is None:
                return self._send_json(404, not_found)
            return self._send_json(200, {"customerId": found["customerId"]})
        if route == "customer":
            for customer in customers.values():
                if customer["customerId"] == segments[2]:
                    return self._send_json(200, customer)
            return self._send_json(404, not_found)
        # loyalty_customers
        if account not in fake.loyalty or fake.loyalty[account] is None:
            return self._send_json(
                403, {"error": {"description": "Loyalty is not enabled for this subscriber."}}
            )
        emails = query.get("email") or []
        member = (fake.loyalty[account] or {}).get(emails[0].lower()) if emails else None
        if member is None:
            return self._send_json(404, not_found)
        return self._send_json(200, {"loyaltyCustomer": member})

    def _answer_from_store(
        self,
        route: str,
        store: ReviewStore | None,
        segments: list[str],
        query: dict[str, list[str]],
        fault: _Scripted | None,
    ) -> None:
        merchant = segments[0] == "enterprise"
        product = group = None
        if len(segments) >= 6 and segments[3] == "products":
            if not segments[4].startswith("shopify-") or not segments[4][8:].isdigit():
                return self._send_json(404, {"error": {"description": "Unknown product."}})
            product = segments[4][8:]
        elif len(segments) >= 6 and segments[3] == "collections":
            group = segments[4]
        if route == "review_aggregate":
            aggregate = (
                store.aggregate(product=product, group=group)
                if store
                else ReviewStore(0).aggregate()
            )
            return self._send_json(200, {"reviewAggregate": aggregate})
        order = (query.get("orderBy") or ["date desc"])[0]
        orders = _MERCHANT_ORDERS if merchant else _STOREFRONT_ORDERS
        status = query["status"][0] if query.get("status") else None
        if order not in orders or (
            status is not None and (not merchant or status not in _STATUSES)
        ):
            return self._send_json(400, {"error": {"description": "Invalid request parameters."}})
        after = query["lastEvaluated"][0] if query.get("lastEvaluated") else None
        limit = int((query.get("limit") or ["25"])[0])
        try:
            reviews, last = (store or ReviewStore(0)).page(
                order=order,
                status=status if merchant else "approved",
                product=product,
                group=group,
                limit=limit,
                after=after,
            )
        except ValueError:
            return self._send_json(400, {"error": {"description": "Invalid lastEvaluated."}})
        data: dict[str, Any] = {"reviews": reviews}
        cursor = json.dumps(last, separators=(",", ":")) if last is not None else None
        if fault is not None and fault.repeat_cursor and after is not None:
            cursor = after
        if cursor is not None:
            params = {k: v[0] for k, v in query.items() if k != "lastEvaluated"}
            params["lastEvaluated"] = cursor
            # Relative to the API's base path: /enterprise or /v1, as Okendo writes it.
            data["nextUrl"] = (
                "/" + "/".join(segments[1:]) + "?" + urlencode(params, quote_via=quote)
            )
        if fault is not None and fault.next_url is not None:
            data["nextUrl"] = fault.next_url
        encoded = json.dumps(data).encode()
        if fault is not None and fault.halfway:
            return self._send_halfway(encoded)
        return self._send(200, encoded, {"Content-Type": "application/json"})

    def _send_halfway(self, body: bytes) -> None:
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
        except OSError:
            pass
        self.close_connection = True

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


_MERCHANT_ORDERS = ("date asc", "date desc", "rating asc", "rating desc")
_STOREFRONT_ORDERS = (
    *_MERCHANT_ORDERS,
    "helpful desc",
    "helpful asc",
    "has_media desc",
)
_STATUSES = ("approved", "pending", "rejected")
# The group every generated store has: products 0, 1 and 2 of the seven.
GROUP_ID = "8f6c2a1e-7b3d-4c5e-9a0f-1d2e3f4a5b6c"
GROUP_COLLECTION_ID = "424242"
PRODUCT_BASE = 7012345678900
_GROUP_PRODUCTS = {0, 1, 2}
_EPOCH = 1_748_736_000  # 2025-06-01T00:00:00Z; review i is i minutes older


def _route(method: str, segments: list[str]) -> str | None:
    """Name the Okendo route of a request, or ``None`` for one api.okendo.io does not serve."""
    if segments[:1] == ["enterprise"]:
        rest = segments[1:]
        if method == "GET" and rest == ["reviews"]:
            return "reviews"
        if method == "POST" and rest == ["customer_lookup"]:
            return "customer_lookup"
        if method == "GET" and len(rest) == 2 and rest[0] == "customers" and rest[1]:
            return "customer"
        if method == "GET" and rest == ["loyalty", "customers"]:
            return "loyalty_customers"
        return None
    if method != "GET" or segments[:2] != ["v1", "stores"] or len(segments) < 4:
        return None
    rest = segments[3:]
    if len(rest) == 3 and rest[0] in ("products", "collections") and rest[1]:
        rest = rest[2:]
    if rest in (["reviews"], ["review_aggregate"]):
        return rest[0]
    return None


class ReviewStore:
    """N generated reviews, made on demand from their index (review 0 is the newest).

    Nothing per review is kept, so a store of 50,000 costs no memory; orders
    other than by date keep one array of indexes each.
    """

    def __init__(self, count: int) -> None:
        self.count = count
        self._orders: dict[str, array[int]] = {}

    @staticmethod
    def review_id(index: int) -> str:
        return f"00000000-0000-4000-8000-{index:012d}"

    def rating(self, index: int) -> int:
        return (index * 2654435761 >> 7) % 5 + 1

    def status(self, index: int) -> str:
        return {3: "pending", 7: "rejected"}.get(index % 10, "approved")

    def product(self, index: int) -> int:
        return index % 7

    def review(self, index: int) -> dict[str, Any]:
        """Return review ``index`` as Okendo's Merchant API shows it."""
        created = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(_EPOCH - 60 * index))
        product = self.product(index)
        # Numbers at a fixed width: every page of a store has the same size, so a
        # benchmark of 50,000 reviews and one of 1,000 compare like with like.
        number = f"{index:06d}"
        title = f"Review {number}"
        if index % 50 == 5:
            title = '=HYPERLINK("http://example.invalid")'  # a spreadsheet formula, as typed
        return {
            "reviewId": self.review_id(index),
            "subscriberId": "00000000-0000-0000-0000-000000000000",
            "productId": f"shopify-{PRODUCT_BASE + product}",
            "productName": f"Linen shirt, size {product}",
            "rating": self.rating(index),
            "title": title,
            "body": f'Comfortable, "true to size".\nWould buy again — review {number}.',
            "status": self.status(index),
            "dateCreated": created,
            "helpfulCount": index % 13,
            "unhelpfulCount": 0,
            "isRecommended": index % 4 != 0,
            "media": [{"type": "image", "url": f"https://example.invalid/{number}.jpg"}]
            if index % 9 == 0
            else [],
            "tags": ["fit"] if index % 3 == 0 else [],
            "reviewer": {
                "displayName": f"Reviewer {number}",
                "name": f"Reviewer Number {number}",
                "email": f"reviewer{number}@example.com",
                "isVerified": index % 2 == 0,
                "location": {"country": {"code": "NZ"}},
            },
        }

    def _matches(
        self, index: int, *, status: str | None, product: str | None, group: str | None
    ) -> bool:
        if status is not None and self.status(index) != status:
            return False
        if product is not None and str(PRODUCT_BASE + self.product(index)) != product:
            return False
        if group is not None:
            return (
                group in (GROUP_ID, GROUP_COLLECTION_ID) and self.product(index) in _GROUP_PRODUCTS
            )
        return True

    def _order(self, order: str) -> array[int]:
        if order not in self._orders:
            field, direction = order.split()
            key = {
                "date": lambda i: -i,
                "rating": lambda i: (self.rating(i), -i),
                "helpful": lambda i: (i % 13, -i),
                "has_media": lambda i: (i % 9 == 0, -i),
            }[field]
            self._orders[order] = array(
                "l", sorted(range(self.count), key=key, reverse=direction == "desc")
            )
        return self._orders[order]

    def page(
        self,
        *,
        order: str,
        status: str | None,
        product: str | None,
        group: str | None,
        limit: int,
        after: str | None,
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        """Return a page of matching reviews after the cursor ``after``, and the next cursor."""
        ordered = self._order(order)
        position = 0
        if after is not None:
            key = json.loads(after)
            index = int(str(key["reviewId"]).rsplit("-", 1)[1])
            if not 0 <= index < self.count:
                raise ValueError(after)
            position = ordered.index(index) + 1 if order != "date desc" else index + 1
        found: list[dict[str, Any]] = []
        last = None
        while position < len(ordered) and len(found) < limit:
            index = ordered[position]
            if self._matches(index, status=status, product=product, group=group):
                found.append(self.review(index))
                last = index
            position += 1
        more = position < len(ordered) and len(found) == limit
        if not more or last is None:
            return found, None
        review = found[-1]
        return found, {"reviewId": review["reviewId"], "dateCreated": review["dateCreated"]}

    def aggregate(self, *, product: str | None = None, group: str | None = None) -> dict[str, Any]:
        """Return the review aggregate of the store, a product or a group (approved reviews)."""
        by_level = {str(level): 0 for level in range(1, 6)}
        total = media = 0
        for index in range(self.count):
            if self._matches(index, status="approved", product=product, group=group):
                by_level[str(self.rating(index))] += 1
                total += self.rating(index)
                media += index % 9 == 0
        count = sum(by_level.values())
        return {
            "reviewCount": count,
            "ratingAndReviewCount": count,
            "ratingAndReviewValuesTotal": total,
            "reviewCountByLevel": by_level,
            "mediaCount": media,
        }


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


class StillClock(FastClock):
    """A clock that stands still except when slept on, which moves it ahead.

    With ``FastClock`` a loaded machine can spend a rate-limit slot's half second
    on its own, so how many waits a sequence needs depends on the machine's speed;
    here it never does.
    """

    def __init__(self) -> None:
        super().__init__()
        self._monotonic = time.monotonic()
        self._time = time.time()

    def monotonic(self) -> float:
        return self._monotonic + self._offset

    def time(self) -> float:
        return self._time + self._offset


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


def main() -> None:
    """Serve a fake Okendo in this process until stdin closes (for benchmarks)."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument(
        "--merchant",
        nargs=3,
        action="append",
        default=[],
        metavar=("USER_ID", "API_KEY", "REVIEWS"),
        help="a Merchant account and how many reviews it has",
    )
    args = parser.parse_args()
    with FakeOkendo() as fake:
        for user_id, api_key, count in args.merchant:
            fake.add_merchant(user_id, api_key)
            fake.serve_reviews(user_id, int(count))
        print(fake.base_url, flush=True)
        sys.stdin.read()


if __name__ == "__main__":
    main()
