"""Okendo HTTP client: one session that always has a timeout, and the credentials check.

No Django here: callers pass the base URL, timeouts, an optional throttle and a
clock, so the module can be used (and tested) on its own.

Two layers:

* :class:`OkendoSession` sends one request (Basic auth, version header,
  User-Agent, timeout, no redirects), streams the body up to 1 MiB and either
  returns the JSON or raises an :class:`OkendoError` subclass that knows its
  outcome word.
* :func:`check_credentials` runs the cheap read each API type allows, retries
  429 answers within a budget, and turns the answer into a :class:`CheckResult`
  with a sentence a store operator understands.

Secrets arrive as :class:`~connections.sensitive.Secret` and are revealed only
inside :class:`_BasicAuth`, to build the Authorization header, and inside
:class:`Scrubber`. No message, exception or ``repr`` made here contains a
secret or that header, and Okendo's own words pass through :func:`scrub` as
soon as they are read, before they are cut short, kept or shown.
"""

from __future__ import annotations

import base64
import datetime
import email.utils
import functools
import hashlib
import html
import ipaddress
import json
import re
import time
from array import array
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from importlib import metadata
from typing import Any, ClassVar, Protocol
from urllib.parse import parse_qs, quote, quote_plus, urlsplit

import requests
from requests.auth import AuthBase

from connections.sensitive import Secret

API_VERSION = "2025-02-01"
MAX_BODY_BYTES = 1024 * 1024
MAX_RETRIES = 2
TEST_BUDGET_SECONDS = 15.0
DEFAULT_BACKOFF_SECONDS = 1.0
_CHUNK_BYTES = 64 * 1024
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
# The menu path as Okendo writes it, with its own separators.
_CREDENTIALS_PAGE = "Okendo → Settings › Integrations › Credentials"  # noqa: RUF001
_OKENDO_SAID_MAX = 200
REDACTED = "[redacted]"
# Any run of this many consecutive characters of the secret is redacted: a cut
# or partly quoted echo must not give the secret away piece by piece.
SECRET_RUN = 8
# Shorter secrets are redacted whole only from this length: below it, every
# chance occurrence of a letter or two in Okendo's words would vanish.
_MIN_WHOLE_SECRET = 4


def _package_version() -> str:
    try:
        return metadata.version("okendo-connections")
    except metadata.PackageNotFoundError:  # running from a checkout that was never installed
        return "0+unknown"


USER_AGENT = f"okendo-connections/{_package_version()} (+python-requests)"


class ApiType(StrEnum):
    """The two Okendo APIs a connection can use; values match ``Connection.ApiType``."""

    MERCHANT = "merchant"
    STOREFRONT = "storefront"


class Outcome(StrEnum):
    """One word per test result.

    The first seven describe Okendo's answer (or the lack of one);
    ``misconfigured`` means nothing was sent because the values on this side
    cannot be used (an account id that is not a UUID, a secret that cannot be
    decrypted, a base URL that may not receive credentials).
    """

    OK = "ok"
    AUTH_FAILED = "auth_failed"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    RATE_LIMITED = "rate_limited"
    UNAVAILABLE = "unavailable"
    UNEXPECTED = "unexpected"
    MISCONFIGURED = "misconfigured"


@dataclass(frozen=True)
class CheckResult:
    """What a credentials check found: outcome word, plain sentence and the numbers behind it."""

    outcome: Outcome
    message: str
    http_status: int | None
    elapsed_ms: int
    retries: int = 0
    # Nothing was tested because of this server's own configuration (the base
    # URL, the encryption keys): a fault here, not a verdict on the credentials.
    this_side: bool = False

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.OK

    def details(self) -> dict[str, Any]:
        """Return the facts worth keeping in a history entry (never a secret)."""
        return {
            "outcome": str(self.outcome),
            "http_status": self.http_status,
            "elapsed_ms": self.elapsed_ms,
        }


# --- Errors -------------------------------------------------------------------


class OkendoError(Exception):
    """Base class of this module's errors. Messages never carry secrets or headers."""

    outcome: ClassVar[Outcome] = Outcome.UNEXPECTED

    def __init__(self, reason: str, *, http_status: int | None = None) -> None:
        self.reason = reason
        self.http_status = http_status
        super().__init__(reason if http_status is None else f"HTTP {http_status}: {reason}")


class InvalidRequest(OkendoError):
    """The values on this side cannot make a request (bad account id, base URL, API type)."""

    outcome = Outcome.MISCONFIGURED


class BaseUrlRefused(InvalidRequest):
    """The configured base URL may not receive credentials: plain http, userinfo, a path…"""


class OkendoUnavailable(OkendoError):
    """Okendo could not be reached, did not answer in time, or answered with a 5xx."""

    outcome = Outcome.UNAVAILABLE


class ConnectFailed(OkendoUnavailable):
    """No connection: DNS, refused, reset, TLS, or the connect timeout."""


class AnswerTimedOut(OkendoUnavailable):
    """Connected, but the answer did not arrive within the read timeout or the budget."""


class ServerError(OkendoUnavailable):
    """Okendo answered with a 5xx status."""


class OkendoRefused(OkendoError):
    """Okendo answered with a 4xx status that names a problem with the credentials or path."""

    def __init__(self, reason: str, *, http_status: int, okendo_said: str = "") -> None:
        super().__init__(reason, http_status=http_status)
        self.okendo_said = okendo_said


class AuthenticationFailed(OkendoRefused):
    outcome = Outcome.AUTH_FAILED


class Forbidden(OkendoRefused):
    outcome = Outcome.FORBIDDEN


class NotFound(OkendoRefused):
    outcome = Outcome.NOT_FOUND


class RateLimited(OkendoRefused):
    """Okendo answered 429; ``retry_after`` is the wait it asked for, when it said."""

    outcome = Outcome.RATE_LIMITED

    def __init__(self, reason: str, *, http_status: int, retry_after: float | None) -> None:
        super().__init__(reason, http_status=http_status)
        self.retry_after = retry_after


class UnexpectedResponse(OkendoError):
    """An answer this client does not understand: other status, not JSON, wrong shape."""

    def __init__(self, reason: str, *, http_status: int | None, okendo_said: str = "") -> None:
        super().__init__(reason, http_status=http_status)
        self.okendo_said = okendo_said


class ResponseTooLarge(UnexpectedResponse):
    """The body passed ``MAX_BODY_BYTES``; reading stopped there."""


# --- Time ---------------------------------------------------------------------


class Clock(Protocol):
    """Where the client reads time and waits; tests pass one that skips the waiting."""

    def monotonic(self) -> float: ...

    def time(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


SYSTEM_CLOCK: Clock = SystemClock()

# Reserve a send slot for an Okendo account within ``max_wait`` seconds: return
# how long to wait before sending, or None when no slot is free in time.
Throttle = Callable[[str, float], float | None]


def parse_retry_after(value: str | None, *, now: float) -> float | None:
    """Return the seconds a ``Retry-After`` value asks for (delay or HTTP date), or ``None``."""
    if value is None:
        return None
    value = value.strip()
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # "-0000" parses naive; RFC 9110 dates are GMT anyway
        when = when.replace(tzinfo=datetime.UTC)
    return max(0.0, when.timestamp() - now)


# --- Scrubbing Okendo's words --------------------------------------------------


def _encodings(text: str) -> set[str]:
    """Return ``text`` and the forms an answer could echo it in: URL-, form- and HTML-encoded."""
    return {
        text,
        quote(text, safe=""),
        quote(text),
        quote_plus(text),
        html.escape(text),
        html.escape(text, quote=False),
    }


def _base64_forms(raw: bytes) -> set[str]:
    forms = set()
    for encoded in (base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode()):
        forms |= {encoded, encoded.rstrip("="), quote(encoded, safe=""), quote_plus(encoded)}
    return forms


class Scrubber:
    """Redact one pair of credentials from text, in every form an answer could echo them.

    Built once per check from the account id and the secret it sends; keeps
    compiled patterns, never the secret as an attribute of its own.
    """

    def __init__(self, *, account_id: str, secret: Secret) -> None:
        plain = secret.reveal()
        needles: set[str] = set()
        if len(plain) >= _MIN_WHOLE_SECRET:
            needles |= _encodings(plain)
            needles |= _base64_forms(plain.encode("utf-8", "surrogatepass"))
        if account_id:
            needles |= _encodings(account_id)
            token = f"{account_id}:{plain}".encode("utf-8", "surrogatepass")
            needles |= _base64_forms(token)
        needles |= {plain[i : i + SECRET_RUN] for i in range(len(plain) - SECRET_RUN + 1)}
        # One lookahead per needle finds every occurrence, overlapping ones too
        # (a match of a lookahead is empty, so the search moves on by one
        # character); scrub() merges the spans. Case-insensitive matching
        # keeps each match as long as its needle.
        ordered = sorted(needle for needle in needles if needle)
        self._patterns = [
            re.compile(f"(?={re.escape(needle)})", re.IGNORECASE) for needle in ordered
        ]
        self._lengths = [len(needle) for needle in ordered]

    def scrub(self, text: str) -> str:
        """Return ``text`` with every echo of the credentials replaced by ``[redacted]``."""
        spans: list[tuple[int, int]] = []
        for pattern, length in zip(self._patterns, self._lengths, strict=True):
            spans.extend(
                (match.start(), match.start() + length) for match in pattern.finditer(text)
            )
        if not spans:
            return text
        spans.sort()
        pieces: list[str] = []
        position = 0
        start, end = spans[0]
        for next_start, next_end in spans[1:]:
            if next_start <= end:  # overlapping or touching: one redaction
                end = max(end, next_end)
                continue
            pieces += [text[position:start], REDACTED]
            position = end
            start, end = next_start, next_end
        pieces += [text[position:start], REDACTED, text[end:]]
        return "".join(pieces)


def scrub(text: str, *, account_id: str, secret: Secret) -> str:
    """Return text that came from Okendo with the credentials it may echo replaced.

    Replaces with ``[redacted]``: the secret, the account id sent with it, the
    Basic token ``base64(account_id:secret)`` (standard and URL-safe, padded
    or not), each URL-, form- and HTML-encoded, and any run of ``SECRET_RUN``
    consecutive characters of the secret; letter case is ignored. Call it on
    Okendo's words before they are shortened, stored, logged or shown.
    """
    return Scrubber(account_id=account_id, secret=secret).scrub(text)


# --- Transport ----------------------------------------------------------------


class _BasicAuth(AuthBase):
    """HTTP Basic auth that keeps the secret wrapped until the header is built.

    requests' own ``HTTPBasicAuth`` encodes as latin-1 and holds the password
    as a plain attribute; this one encodes UTF-8 (RFC 7617) and reveals the
    secret only while building the header.
    """

    def __init__(self, username: str, secret: Secret) -> None:
        self.username = username
        self.secret = secret

    @functools.cached_property
    def scrubber(self) -> Scrubber:
        """Return the scrubber for these credentials, built when an answer first needs it."""
        return Scrubber(account_id=self.username, secret=self.secret)

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        token = f"{self.username}:{self.secret.reveal()}".encode()
        request.headers["Authorization"] = "Basic " + base64.b64encode(token).decode("ascii")
        return request

    def __repr__(self) -> str:
        return f"_BasicAuth(username={self.username!r}, secret={self.secret!r})"


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Mapping[str, str]
    body: bytes


def _is_loopback(host: str) -> bool:
    if host.rstrip(".").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def base_url_problem(base_url: str, *, allow_http: bool = False) -> str | None:
    """Return why ``base_url`` must not receive credentials, or ``None`` when it may.

    A base URL is ``https://host[:port]`` with nothing else: no user or
    password (they would travel to whoever the URL names, and show wherever
    the setting is shown), no path, query or fragment (the client appends
    Okendo's paths itself). Plain ``http://`` is allowed for loopback hosts
    (127.0.0.0/8, ``::1``, ``localhost``), which tests and benchmarks use,
    and anywhere when ``allow_http`` (development, ``DEBUG`` on). The answer
    never repeats the URL, which may hold a password.
    """
    try:
        parts = urlsplit(base_url)
        port = parts.port
    except ValueError:
        return "is not a valid URL"
    del port  # read only to validate it: urlsplit checks the port lazily
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "is not an https:// URL with a host name"
    if "@" in parts.netloc:
        return "has a user name or password in it; give only https://host"
    if parts.path not in ("", "/"):
        return "has a path; give only https://host (this app adds Okendo's paths)"
    if parts.query or parts.fragment or "?" in base_url or "#" in base_url:
        return "has a query or fragment; give only https://host"
    if parts.scheme == "http" and not (allow_http or _is_loopback(parts.hostname)):
        return "uses plain http://, which would send the credentials unencrypted; use https://"
    return None


class OkendoSession(requests.Session):
    """A session bound to one base URL that always sends a timeout and Okendo's headers.

    Overriding ``request`` makes a forgotten timeout impossible: every call
    gets ``(connect_timeout, read_timeout)`` unless it passes a shorter one.
    Redirects are not followed, so credentials never travel to another address.
    """

    def __init__(
        self,
        *,
        base_url: str,
        connect_timeout: float,
        read_timeout: float,
        allow_http: bool = False,
    ) -> None:
        problem = base_url_problem(base_url, allow_http=allow_http)
        if problem is not None:
            raise BaseUrlRefused(
                f"Not tested: the Okendo API address (OKENDO_API_BASE_URL) {problem}. "
                "Nothing was sent. Ask an administrator to correct it."
            )
        super().__init__()
        self.base_url = base_url.rstrip("/")
        self.host = urlsplit(base_url).hostname or ""
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.headers.update(
            {
                "User-Agent": USER_AGENT,
                "Accept": "application/json",
                "okendo-api-version": API_VERSION,
            }
        )

    def request(
        self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any
    ) -> requests.Response:
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = (self.connect_timeout, self.read_timeout)
        # Session.get() passes allow_redirects=True itself, so this overrides rather than defaults.
        kwargs["allow_redirects"] = False
        return super().request(method, url, *args, **kwargs)

    def get_json(
        self,
        path: str,
        *,
        params: Mapping[str, str],
        auth: AuthBase,
        deadline: float | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> Any:
        """GET ``path`` and return the decoded JSON of a 200 answer, or raise an ``OkendoError``.

        ``deadline`` (on ``clock.monotonic()``) caps the timeouts and the time
        spent reading the body, so a slow trickle cannot outlast the budget.
        """
        answer = self.fetch(path, params=params, auth=auth, deadline=deadline, clock=clock)
        scrubber = auth.scrubber if isinstance(auth, _BasicAuth) else None
        _raise_for_status(answer, now=clock.time(), scrubber=scrubber)
        try:
            return json.loads(answer.body)
        except (ValueError, RecursionError):
            raise UnexpectedResponse(
                "answered with something that is not JSON", http_status=answer.status
            ) from None

    def fetch(
        self,
        path: str,
        *,
        params: Mapping[str, str],
        auth: AuthBase,
        deadline: float | None = None,
        clock: Clock = SYSTEM_CLOCK,
        method: str = "GET",
        json_body: Any = None,
    ) -> Answer:
        """Send ``method`` to ``path`` (``json_body`` as JSON, if given) and return status,
        headers and at most ``MAX_BODY_BYTES`` of body."""
        connect, read = self.connect_timeout, self.read_timeout
        if deadline is not None:
            remaining = deadline - clock.monotonic()
            if remaining <= 0:
                raise AnswerTimedOut("did not answer within the time a test may take")
            connect, read = min(connect, remaining), min(read, remaining)
        try:
            response = self.request(
                method,
                self.base_url + path,
                params=params,
                json=json_body,
                auth=auth,
                timeout=(connect, read),
                stream=True,
            )
        except requests.ConnectTimeout:
            raise ConnectFailed(f"did not accept a connection within {_seconds(connect)}") from None
        except requests.ReadTimeout:
            raise AnswerTimedOut(f"did not answer within {_seconds(read)}") from None
        except requests.exceptions.SSLError:
            raise ConnectFailed(
                f"could not set up a secure (TLS) connection with {self.host}"
            ) from None
        except requests.RequestException:
            raise ConnectFailed(f"could not be reached at {self.host}") from None
        with response:
            body = self._read_body(response, deadline=deadline, clock=clock)
            return Answer(status=response.status_code, headers=response.headers, body=body)

    def _read_body(
        self, response: requests.Response, *, deadline: float | None, clock: Clock
    ) -> bytes:
        status = response.status_code
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            raise ResponseTooLarge(_too_large_reason(), http_status=status)
        chunks: list[bytes] = []
        size = 0
        try:
            for chunk in response.iter_content(chunk_size=_CHUNK_BYTES):
                size += len(chunk)
                if size > MAX_BODY_BYTES:
                    raise ResponseTooLarge(_too_large_reason(), http_status=status)
                chunks.append(chunk)
                if deadline is not None and clock.monotonic() > deadline:
                    raise AnswerTimedOut(
                        "took longer than a test may take to send its answer", http_status=status
                    )
        except requests.RequestException:
            # A reset or timeout halfway through the body: the answer never arrived whole.
            raise ConnectFailed(
                "broke off the connection while answering", http_status=status
            ) from None
        return b"".join(chunks)


def _too_large_reason() -> str:
    return f"sent an answer larger than {MAX_BODY_BYTES // (1024 * 1024)} MiB"


def _seconds(value: float) -> str:
    text = f"{round(value, 1):g}"
    return f"{text} second" if text == "1" else f"{text} seconds"


def _okendo_said(body: bytes, scrubber: Scrubber | None) -> str:
    """Return Okendo's ``{"error": {"description": …}}`` text, scrubbed, tidied and cut short.

    Scrubbed first, while the whole text is there (a cut echo is no longer
    recognisable as the secret), and again after tidying, which could join
    the pieces of an echo split by control characters.
    """
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return ""
    error = data.get("error") if isinstance(data, dict) else None
    description = error.get("description") if isinstance(error, dict) else None
    if not isinstance(description, str):
        return ""
    text = scrubber.scrub(description) if scrubber else description
    text = " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())
    text = scrubber.scrub(text) if scrubber else text
    if len(text) > _OKENDO_SAID_MAX:
        cut = _OKENDO_SAID_MAX - 1
        marker = text.rfind(REDACTED, 0, cut + len(REDACTED) - 1)
        if marker != -1 and marker + len(REDACTED) > cut:
            cut = marker  # never show half a marker, which reads like part of a value
        text = text[:cut].rstrip() + "…"
    return text


def _raise_for_status(answer: Answer, *, now: float, scrubber: Scrubber | None) -> None:
    status = answer.status
    if status == 200:
        return
    if status == 401:
        raise AuthenticationFailed("rejected the credentials", http_status=status)
    if status == 403:
        raise Forbidden(
            "refused access", http_status=status, okendo_said=_okendo_said(answer.body, scrubber)
        )
    if status == 404:
        raise NotFound(
            "found nothing here",
            http_status=status,
            okendo_said=_okendo_said(answer.body, scrubber),
        )
    if status == 429:
        raise RateLimited(
            "is limiting requests",
            http_status=status,
            retry_after=parse_retry_after(answer.headers.get("Retry-After"), now=now),
        )
    if 500 <= status <= 599:
        raise ServerError("is having trouble", http_status=status)
    if 300 <= status <= 399:
        raise UnexpectedResponse("redirected the request to another address", http_status=status)
    raise UnexpectedResponse(
        "answered with a status this app does not expect",
        http_status=status,
        okendo_said=_okendo_said(answer.body, scrubber),
    )


# --- The credentials check ----------------------------------------------------


@dataclass(frozen=True)
class _Check:
    api_type: ApiType
    account_id: str
    path: str


def normalise_account_id(value: str) -> str:
    """Return an Okendo User ID in lower case, or raise ``InvalidRequest`` if it is not a UUID.

    The Storefront check puts this value in the URL path; only a UUID may get there.
    """
    value = value.strip()
    if not _UUID.fullmatch(value):
        raise InvalidRequest(
            "The User ID must be a UUID such as 00000000-0000-0000-0000-000000000000; "
            f"copy it again from {_CREDENTIALS_PAGE}."
        )
    return value.lower()


def _plan(api_type: str, account_id: str) -> _Check:
    try:
        kind = ApiType(api_type)
    except ValueError:
        raise InvalidRequest("The API type must be Merchant or Storefront.") from None
    account = normalise_account_id(account_id)
    if kind is ApiType.MERCHANT:
        return _Check(kind, account, "/enterprise/reviews")
    return _Check(kind, account, f"/v1/stores/{account}/reviews")


def check_credentials(
    *,
    api_type: str,
    account_id: str,
    secret: Secret,
    base_url: str,
    connect_timeout: float,
    read_timeout: float,
    throttle: Throttle | None = None,
    clock: Clock = SYSTEM_CLOCK,
    budget_seconds: float = TEST_BUDGET_SECONDS,
    allow_http: bool = False,
) -> CheckResult:
    """Check credentials with the cheapest read their API type allows and explain the outcome.

    Merchant: ``GET /enterprise/reviews?limit=1`` as User ID / API key.
    Storefront: ``GET /v1/stores/{username}/reviews?limit=1`` as Username / Password.
    A 429 is retried at most ``MAX_RETRIES`` times, honouring ``Retry-After``
    (else ``DEFAULT_BACKOFF_SECONDS``), never past ``budget_seconds`` in all.
    A base URL that :func:`base_url_problem` refuses (plain ``http://`` to a
    host that is not loopback unless ``allow_http``, credentials, a path, a
    query) gives ``misconfigured`` with ``this_side`` set, before anything is sent.
    """
    started = clock.monotonic()
    deadline = started + budget_seconds
    retries = 0
    http_status: int | None = None

    def finish(outcome: Outcome, message: str, *, this_side: bool = False) -> CheckResult:
        elapsed = max(0, round((clock.monotonic() - started) * 1000))
        return CheckResult(outcome, message, http_status, elapsed, retries, this_side)

    kind = ApiType.STOREFRONT if api_type == ApiType.STOREFRONT else ApiType.MERCHANT
    try:
        plan = _plan(api_type, account_id)
        session = OkendoSession(
            base_url=base_url,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            allow_http=allow_http,
        )
    except InvalidRequest as exc:
        return finish(Outcome.MISCONFIGURED, exc.reason, this_side=isinstance(exc, BaseUrlRefused))

    auth = _BasicAuth(plan.account_id, secret)
    with session:
        while True:
            if throttle is not None:
                wait = throttle(plan.account_id, deadline - clock.monotonic())
                if wait is None:
                    return finish(Outcome.RATE_LIMITED, _busy_sentence())
                if wait > 0:
                    clock.sleep(wait)
            try:
                data = session.get_json(
                    plan.path, params={"limit": "1"}, auth=auth, deadline=deadline, clock=clock
                )
            except RateLimited as exc:
                http_status = exc.http_status
                wait = DEFAULT_BACKOFF_SECONDS if exc.retry_after is None else exc.retry_after
                if retries >= MAX_RETRIES or clock.monotonic() + wait >= deadline:
                    return finish(Outcome.RATE_LIMITED, _rate_limited_sentence(retries, wait))
                clock.sleep(wait)
                retries += 1
                continue
            except OkendoError as exc:
                http_status = exc.http_status
                return finish(exc.outcome, _error_sentence(exc, kind, auth))
            http_status = 200
            reviews = data.get("reviews") if isinstance(data, dict) else None
            if not isinstance(reviews, list):
                return finish(
                    Outcome.UNEXPECTED,
                    _error_sentence(
                        UnexpectedResponse(
                            "answered with JSON that does not list reviews", http_status=200
                        ),
                        kind,
                        auth,
                    ),
                )
            return finish(Outcome.OK, _ok_sentence(kind, has_reviews=bool(reviews)))


# --- Sentences ----------------------------------------------------------------


def _ok_sentence(kind: ApiType, *, has_reviews: bool) -> str:
    if kind is ApiType.MERCHANT:
        return "Connected: Okendo accepted this User ID and API key."
    sentence = (
        "Okendo answered for this store. Okendo's Storefront API is public and does not "
        "verify the password, so this test checked the Username (the store's Okendo User ID), "
        "not the password."
    )
    if not has_reviews:
        sentence += (
            " Okendo listed no reviews, which is also what it answers for an unknown store: "
            f"make sure the Username is your store's User ID from {_CREDENTIALS_PAGE}."
        )
    return sentence


def _busy_sentence() -> str:
    return (
        "Not tested: this app is already sending Okendo as many requests for this account "
        "as Okendo allows (2 per second). Try again in a few seconds."
    )


def _rate_limited_sentence(retries: int, wait: float) -> str:
    tries = "once" if retries == 0 else f"{retries + 1} times"
    return (
        f"Okendo is limiting requests for this account (HTTP 429) and refused {tries}; "
        f"it asked to wait {_seconds(wait)}. This says nothing about the credentials. "
        "Wait a minute and test again; if it keeps happening, something else is using this "
        "Okendo account heavily."
    )


def _error_sentence(exc: OkendoError, kind: ApiType, auth: _BasicAuth) -> str:
    merchant = kind is ApiType.MERCHANT
    creds = "User ID and API key" if merchant else "Username and Password"
    status = f" (HTTP {exc.http_status})" if exc.http_status is not None else ""
    if isinstance(exc, AuthenticationFailed):
        if merchant:
            sentence = (
                f"Okendo rejected this User ID and API key{status}. "
                f"Copy both again from {_CREDENTIALS_PAGE}."
            )
        else:
            sentence = (
                f"Okendo rejected this Username and Password{status}. The Username must be "
                f"your store's Okendo User ID; copy it again from {_CREDENTIALS_PAGE}."
            )
    elif isinstance(exc, Forbidden):
        sentence = (
            f"Okendo recognised the request but refused access to reviews{status}. "
            "Check that this Okendo account has API access, or ask Okendo support."
            if merchant
            else f"Okendo refused access to this store's reviews{status}. Check the Username "
            f"is your store's Okendo User ID from {_CREDENTIALS_PAGE}, or ask Okendo support."
        )
    elif isinstance(exc, NotFound):
        sentence = (
            f"Okendo found no account for this User ID{status}. "
            f"Copy the User ID again from {_CREDENTIALS_PAGE}."
            if merchant
            else f"Okendo does not know a store with this Username{status}. Use your store's "
            f"Okendo User ID from {_CREDENTIALS_PAGE}."
        )
    elif isinstance(exc, ServerError):
        sentence = (
            f"Okendo is having trouble right now{status}. This says nothing about the "
            f"{creds}; try again in a few minutes."
        )
    elif isinstance(exc, OkendoUnavailable):
        sentence = (
            f"Okendo {exc.reason}, so the {creds} could not be checked. Try again in a few "
            "minutes; if it keeps happening, ask an administrator to check this server's "
            "network access to Okendo."
        )
    else:
        sentence = (
            f"Okendo {exc.reason}{status}, so this app cannot tell whether the {creds} work. "
            "Try again later; if it keeps happening, ask an administrator to check the Okendo "
            "API address (OKENDO_API_BASE_URL)."
        )
    said = getattr(exc, "okendo_said", "")
    if said:
        # Scrubbed already where it was read; once more, as this is what gets shown.
        sentence += f" Okendo said: “{auth.scrubber.scrub(said)}”"
    return sentence


# --- Reading data -------------------------------------------------------------
#
# Okendo sources: "Merchant REST API" (GET /enterprise/reviews, POST
# /enterprise/customer_lookup, GET /enterprise/customers/{id}, GET
# /enterprise/loyalty/customers) and "Storefront REST API" (GET
# /v1/stores/{id}/[products/shopify-{id}/|collections/{id}/](reviews|review_aggregate)).

READ_MAX_RETRIES = 5
# Okendo may ask for a longer pause than a reader should sit through; beyond this, give up.
READ_MAX_RETRY_AFTER_SECONDS = 60.0
# How long a read may wait for a send slot of the per-account limiter.
READ_SLOT_WAIT_SECONDS = 30.0
# One request (connect, answer, body) may take at most this long, so a trickle cannot stall.
READ_REQUEST_SECONDS = 60.0
MAX_CURSOR_CHARS = 2048
MAX_EMAIL_CHARS = 254
MERCHANT_PAGE_MAX = 100
STOREFRONT_PAGE_MAX = 25
MERCHANT_ORDERS = ("date asc", "date desc", "rating asc", "rating desc")
STOREFRONT_ORDERS = (
    "date desc",
    "date asc",
    "rating desc",
    "rating asc",
    "helpful desc",
    "helpful asc",
    "has_media desc",
)
REVIEW_STATUSES = ("approved", "pending", "rejected")
# ASCII only: str.isdigit() and \d also accept full-width and other scripts' digits.
_ASCII_DIGITS = re.compile(r"[0-9]{1,20}", re.ASCII)
_EMAIL = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+"
    r"[A-Za-z]{2,63}",
    re.ASCII,
)
# What Okendo may hand back as a customer id before it goes into a path.
_OKENDO_ID = re.compile(r"[A-Za-z0-9_-]{1,100}", re.ASCII)

# A review as Okendo sends it: a JSON object (reviewId, productId, rating, title,
# body, status, dateCreated, reviewer{displayName, name, email, …}, …). Untrusted.
Review = dict[str, Any]


class Resource(StrEnum):
    """What a connection can read; each API type allows the ones in ``RESOURCES``."""

    REVIEWS = "reviews"
    PRODUCT_REVIEWS = "product_reviews"
    GROUP_REVIEWS = "group_reviews"
    REVIEW_AGGREGATE = "review_aggregate"
    PRODUCT_REVIEW_AGGREGATE = "product_review_aggregate"
    GROUP_REVIEW_AGGREGATE = "group_review_aggregate"
    CUSTOMER = "customer"
    LOYALTY_CUSTOMER = "loyalty_customer"


RESOURCES: dict[ApiType, tuple[Resource, ...]] = {
    ApiType.MERCHANT: (Resource.REVIEWS, Resource.CUSTOMER, Resource.LOYALTY_CUSTOMER),
    ApiType.STOREFRONT: (
        Resource.REVIEWS,
        Resource.PRODUCT_REVIEWS,
        Resource.GROUP_REVIEWS,
        Resource.REVIEW_AGGREGATE,
        Resource.PRODUCT_REVIEW_AGGREGATE,
        Resource.GROUP_REVIEW_AGGREGATE,
    ),
}


class LoyaltyNotEnabled(Forbidden):
    """Okendo answered 403 to a loyalty read: the store does not use Okendo Loyalty.

    A fact about the store, not the credentials, so it never marks a connection offline.
    """


class LimiterBusy(OkendoError):
    """No send slot of the per-account limiter came free in time; nothing was sent."""

    outcome = Outcome.RATE_LIMITED


def parse_page_size(value: str | int, *, api_type: ApiType | str) -> int:
    """Return ``value`` as a page size Okendo accepts (Merchant 1 to 100, Storefront 1 to 25).

    Raise ``InvalidRequest`` otherwise. Text must be ASCII digits: ``int()``
    would also take full-width digits or " 12".
    """
    top = MERCHANT_PAGE_MAX if ApiType(api_type) is ApiType.MERCHANT else STOREFRONT_PAGE_MAX
    if isinstance(value, bool):
        number = None
    elif isinstance(value, int):
        number = value
    else:
        number = int(value) if _ASCII_DIGITS.fullmatch(value) else None
    if number is None or not 1 <= number <= top:
        raise InvalidRequest(f"The page size (limit) must be a whole number from 1 to {top}.")
    return number


def parse_product_id(value: str) -> str:
    """Return a Shopify product id (ASCII digits, as in ``shopify-{id}``) or raise."""
    if not isinstance(value, str) or not _ASCII_DIGITS.fullmatch(value):
        raise InvalidRequest(
            "The product ID must be the product's numeric Shopify ID, such as 7012345678901."
        )
    return value


def parse_group_id(value: str) -> str:
    """Return an Okendo group id (a UUID, lower case) or a numeric Shopify collection id."""
    if isinstance(value, str) and _ASCII_DIGITS.fullmatch(value):
        return value
    if isinstance(value, str) and _UUID.fullmatch(value) and value.isascii():
        return value.lower()
    raise InvalidRequest(
        "The group ID must be an Okendo group ID (a UUID) or a numeric Shopify collection ID."
    )


def parse_email(value: str) -> str:
    """Return an email address fit to send to Okendo, or raise ``InvalidRequest``.

    Deliberately narrow (ASCII, one ``@``, a dotted domain): the address goes
    into a query string or a JSON body and nothing else is worth a request.
    """
    if (
        not isinstance(value, str)
        or len(value) > MAX_EMAIL_CHARS
        or not _EMAIL.fullmatch(value)
        or ".." in value
    ):
        raise InvalidRequest("Enter an email address such as name@example.com.")
    return value


def parse_cursor(value: str) -> str:
    """Return a ``lastEvaluated`` cursor fit to send back, or raise ``InvalidRequest``."""
    if (
        not isinstance(value, str)
        or not 1 <= len(value) <= MAX_CURSOR_CHARS
        or not value.isprintable()
    ):
        raise InvalidRequest("The page cursor is not one this app handed out; start again.")
    return value


@dataclass(frozen=True)
class ReviewScope:
    """Whose reviews: the whole store, one product or one group (Storefront only for the last two).

    ``product_id`` is a numeric Shopify id; ``group_id`` an Okendo group UUID
    or numeric Shopify collection id. Both are checked on construction.
    """

    product_id: str | None = None
    group_id: str | None = None

    def __post_init__(self) -> None:
        if self.product_id is not None and self.group_id is not None:
            raise InvalidRequest("Choose reviews of a product or of a group, not both.")
        if self.product_id is not None:
            parse_product_id(self.product_id)
        if self.group_id is not None:
            object.__setattr__(self, "group_id", parse_group_id(self.group_id))

    @property
    def resource(self) -> Resource:
        """Return the review resource this scope reads."""
        if self.product_id is not None:
            return Resource.PRODUCT_REVIEWS
        if self.group_id is not None:
            return Resource.GROUP_REVIEWS
        return Resource.REVIEWS

    @property
    def aggregate_resource(self) -> Resource:
        """Return the review aggregate resource of this scope."""
        return {
            Resource.REVIEWS: Resource.REVIEW_AGGREGATE,
            Resource.PRODUCT_REVIEWS: Resource.PRODUCT_REVIEW_AGGREGATE,
            Resource.GROUP_REVIEWS: Resource.GROUP_REVIEW_AGGREGATE,
        }[self.resource]

    def details(self) -> dict[str, str]:
        """Return the ids that name this scope, for a history entry."""
        if self.product_id is not None:
            return {"product_id": self.product_id}
        if self.group_id is not None:
            return {"group_id": self.group_id}
        return {}


STORE = ReviewScope()


@dataclass(frozen=True)
class ReviewQuery:
    """The parameters of a review listing: ``limit``, ``orderBy`` and (Merchant) ``status``.

    ``None`` leaves Okendo's default (25 a page, newest first, every status).
    Checked against an API type by :meth:`params`.
    """

    limit: int | None = None
    order_by: str | None = None
    status: str | None = None

    @classmethod
    def from_params(cls, params: Mapping[str, str], *, api_type: ApiType | str) -> ReviewQuery:
        """Build a query from request parameters (``limit``, ``orderBy``, ``status``).

        Raise ``InvalidRequest`` for an unknown parameter or a value Okendo would refuse.
        """
        kind = ApiType(api_type)
        allowed = {"limit", "orderBy"} | ({"status"} if kind is ApiType.MERCHANT else set())
        unknown = sorted(set(params) - allowed)
        if unknown:
            raise InvalidRequest(
                f"Unknown parameter {unknown[0]!r}; use {', '.join(sorted(allowed))}."
            )
        limit = params.get("limit")
        query = cls(
            limit=None if limit is None else parse_page_size(limit, api_type=kind),
            order_by=params.get("orderBy"),
            status=params.get("status"),
        )
        query.params(api_type=kind)
        return query

    def params(self, *, api_type: ApiType | str) -> dict[str, str]:
        """Return the query string parameters for ``api_type``, or raise ``InvalidRequest``."""
        kind = ApiType(api_type)
        merchant = kind is ApiType.MERCHANT
        params: dict[str, str] = {}
        if self.limit is not None:
            params["limit"] = str(parse_page_size(self.limit, api_type=kind))
        if self.order_by is not None:
            orders = MERCHANT_ORDERS if merchant else STOREFRONT_ORDERS
            if self.order_by not in orders:
                raise InvalidRequest(f"The order must be one of: {', '.join(orders)}.")
            params["orderBy"] = self.order_by
        if self.status is not None:
            if not merchant:
                raise InvalidRequest(
                    "Okendo's Storefront API lists published reviews only; it has no status filter."
                )
            if self.status not in REVIEW_STATUSES:
                raise InvalidRequest(f"The status must be one of: {', '.join(REVIEW_STATUSES)}.")
            params["status"] = self.status
        return params

    def details(self) -> dict[str, Any]:
        """Return the parameters that were set, for a history entry."""
        values = {"limit": self.limit, "orderBy": self.order_by, "status": self.status}
        return {name: value for name, value in values.items() if value is not None}


# Okendo's defaults: 25 a page, newest first, every status.
DEFAULT_QUERY = ReviewQuery()


@dataclass(frozen=True)
class ReviewPage:
    """One page of reviews, the cursor that fetched it and the cursor of the next page.

    ``next_cursor`` is the ``lastEvaluated`` value taken from Okendo's
    ``nextUrl`` (``None`` on the last page); pass it back as ``cursor``.
    """

    reviews: list[Review]
    cursor: str | None
    next_cursor: str | None


class OkendoReader:
    """Read one connection's data from Okendo, page by page, within its rate limit.

    Every request reserves a send slot of ``throttle`` (the per-account
    limiter: Okendo allows 2 requests a second), retries a 429 up to
    ``READ_MAX_RETRIES`` times honouring ``Retry-After`` (else
    ``DEFAULT_BACKOFF_SECONDS``), reads at most ``MAX_BODY_BYTES`` of an
    answer, and raises an :class:`OkendoError` subclass when Okendo refuses.
    Ids, emails, cursors and parameters are checked before anything is sent.
    Use as a context manager, or call :meth:`close`.
    """

    def __init__(
        self,
        *,
        api_type: ApiType | str,
        account_id: str,
        secret: Secret,
        base_url: str,
        connect_timeout: float,
        read_timeout: float,
        throttle: Throttle | None = None,
        clock: Clock = SYSTEM_CLOCK,
        allow_http: bool = False,
    ) -> None:
        try:
            self.api_type = ApiType(api_type)
        except ValueError:
            raise InvalidRequest("The API type must be Merchant or Storefront.") from None
        self.account_id = normalise_account_id(account_id)
        self.session = OkendoSession(
            base_url=base_url,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            allow_http=allow_http,
        )
        self._secret = secret
        self._auth = _BasicAuth(self.account_id, secret)
        self.throttle = throttle
        self.clock = clock
        self.requests_sent = 0

    def __enter__(self) -> OkendoReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the HTTP session."""
        self.session.close()

    def __repr__(self) -> str:
        return f"OkendoReader(api_type={self.api_type.value!r}, account_id={self.account_id!r})"

    # --- Paths ----------------------------------------------------------------

    @property
    def _api_root(self) -> str:
        """Return the path Okendo's relative ``nextUrl`` values start from."""
        return "/enterprise" if self.api_type is ApiType.MERCHANT else "/v1"

    def _require(self, resource: Resource) -> None:
        if resource not in RESOURCES[self.api_type]:
            label = "Merchant" if self.api_type is ApiType.MERCHANT else "Storefront"
            raise InvalidRequest(f"A {label} connection cannot read {resource.value}.")

    def _scope_path(self, scope: ReviewScope) -> str:
        store = f"/v1/stores/{self.account_id}"
        if scope.product_id is not None:
            return f"{store}/products/shopify-{scope.product_id}"
        if scope.group_id is not None:
            return f"{store}/collections/{scope.group_id}"
        return "/enterprise" if self.api_type is ApiType.MERCHANT else store

    # --- Reads ----------------------------------------------------------------

    def reviews(
        self,
        *,
        scope: ReviewScope = STORE,
        query: ReviewQuery = DEFAULT_QUERY,
        cursor: str | None = None,
    ) -> ReviewPage:
        """Return one page of reviews of ``scope`` (``GET …/reviews``), after ``cursor``.

        Raise ``UnexpectedResponse`` when the answer lacks a ``reviews`` list or
        its ``nextUrl`` leaves this listing's path or has no usable cursor.
        """
        self._require(scope.resource)
        params = query.params(api_type=self.api_type)
        if cursor is not None:
            params["lastEvaluated"] = parse_cursor(cursor)
        path = self._scope_path(scope) + "/reviews"
        data = self._get(path, params)
        reviews = data.get("reviews") if isinstance(data, dict) else None
        if not isinstance(reviews, list) or not all(isinstance(r, dict) for r in reviews):
            raise UnexpectedResponse(
                "answered with JSON that does not list reviews", http_status=200
            )
        next_url = data.get("nextUrl")
        if next_url is None or next_url == "":
            return ReviewPage(reviews=reviews, cursor=cursor, next_cursor=None)
        return ReviewPage(
            reviews=reviews, cursor=cursor, next_cursor=self._next_cursor(next_url, path)
        )

    def review_pages(
        self,
        *,
        scope: ReviewScope = STORE,
        query: ReviewQuery = DEFAULT_QUERY,
        cursor: str | None = None,
    ) -> Iterator[ReviewPage]:
        """Yield every page of reviews from ``cursor`` on, following ``nextUrl`` until it is absent.

        Raise ``UnexpectedResponse`` when a cursor repeats one already followed
        (Okendo would serve the same pages for ever). Holds one page at a time
        and an 8-byte digest of each cursor seen (80 KB for a million reviews).
        """
        # A flat array, not a set: 8 bytes a page instead of ~100, and a linear
        # scan of it costs nothing next to a request.
        seen = array("Q")
        while True:
            if cursor is not None:
                digest = int.from_bytes(hashlib.blake2b(cursor.encode(), digest_size=8).digest())
                if digest in seen:
                    raise UnexpectedResponse(
                        "sent a next-page link that repeats an earlier page", http_status=200
                    )
                seen.append(digest)
            page = self.reviews(scope=scope, query=query, cursor=cursor)
            yield page
            if page.next_cursor is None:
                return
            cursor = page.next_cursor
            del page  # one page in memory at a time, not this one and the next

    def review_aggregate(self, *, scope: ReviewScope = STORE) -> dict[str, Any]:
        """Return the review aggregate of ``scope`` (``GET …/review_aggregate``, Storefront).

        Shape: ``reviewCount``, ``ratingAndReviewCount``, ``ratingAndReviewValuesTotal``,
        ``reviewCountByLevel``, ``mediaCount``, … as Okendo sends them.
        """
        self._require(scope.aggregate_resource)
        data = self._get(self._scope_path(scope) + "/review_aggregate", {})
        aggregate = data.get("reviewAggregate") if isinstance(data, dict) else None
        if not isinstance(aggregate, dict):
            raise UnexpectedResponse(
                "answered with JSON that holds no review aggregate", http_status=200
            )
        return aggregate

    def customer(self, *, email: str) -> dict[str, Any]:
        """Return the customer with ``email`` (Merchant).

        ``POST /enterprise/customer_lookup {"email"}`` → ``{"customerId"}``, then
        ``GET /enterprise/customers/{customerId}``. Raise ``NotFound`` when Okendo
        knows no such customer.
        """
        self._require(Resource.CUSTOMER)
        address = parse_email(email)
        found = self._send("POST", "/enterprise/customer_lookup", {}, {"email": address})
        customer_id = found.get("customerId") if isinstance(found, dict) else None
        if isinstance(customer_id, int) and not isinstance(customer_id, bool):
            customer_id = str(customer_id)
        if not isinstance(customer_id, str) or not _OKENDO_ID.fullmatch(customer_id):
            raise UnexpectedResponse(
                "answered the customer lookup without a usable customer ID", http_status=200
            )
        data = self._get(f"/enterprise/customers/{customer_id}", {})
        if not isinstance(data, dict):
            raise UnexpectedResponse("answered with JSON that holds no customer", http_status=200)
        inner = data.get("customer")
        return inner if isinstance(inner, dict) else data

    def loyalty_customer(self, *, email: str) -> dict[str, Any]:
        """Return the loyalty customer with ``email`` (``GET /enterprise/loyalty/customers``).

        Shape: ``loyaltyCustomerId``, ``points.balance``, ``status``, ``vipTierName``, ….
        Raise ``LoyaltyNotEnabled`` on 403 and ``NotFound`` on 404.
        """
        self._require(Resource.LOYALTY_CUSTOMER)
        address = parse_email(email)
        try:
            data = self._get("/enterprise/loyalty/customers", {"email": address})
        except Forbidden as exc:
            raise LoyaltyNotEnabled(
                "does not have Loyalty enabled for this store",
                http_status=exc.http_status or 403,
                okendo_said=exc.okendo_said,
            ) from None
        customer = data.get("loyaltyCustomer") if isinstance(data, dict) else None
        if not isinstance(customer, dict):
            raise UnexpectedResponse(
                "answered with JSON that holds no loyalty customer", http_status=200
            )
        return customer

    # --- Transport ------------------------------------------------------------

    def _next_cursor(self, next_url: Any, path: str) -> str:
        """Return the ``lastEvaluated`` of ``next_url`` if it stays on ``path``, or raise."""
        if not isinstance(next_url, str) or len(next_url) > 4 * MAX_CURSOR_CHARS:
            raise UnexpectedResponse("sent a next-page link this app cannot use", http_status=200)
        parts = urlsplit(next_url)
        target = parts.path
        if target and not target.startswith(self._api_root + "/"):
            target = self._api_root + target
        # Compared as sent, before any decoding: "%2F" or "/../" never equal our own path.
        if parts.scheme or parts.netloc or parts.fragment or target != path:
            raise UnexpectedResponse(
                "sent a next-page link that leaves this store's listing", http_status=200
            )
        values = parse_qs(parts.query, keep_blank_values=True).get("lastEvaluated", [])
        if len(values) != 1:
            raise UnexpectedResponse(
                "sent a next-page link without a single page cursor", http_status=200
            )
        try:
            return parse_cursor(values[0])
        except InvalidRequest:
            raise UnexpectedResponse(
                "sent a page cursor this app cannot send back", http_status=200
            ) from None

    def _get(self, path: str, params: Mapping[str, str]) -> Any:
        return self._send("GET", path, params, None)

    def _send(self, method: str, path: str, params: Mapping[str, str], json_body: Any) -> Any:
        retries = 0
        while True:
            if self.throttle is not None:
                wait = self.throttle(self.account_id, READ_SLOT_WAIT_SECONDS)
                if wait is None:
                    raise LimiterBusy("no send slot came free for this account in time")
                if wait > 0:
                    self.clock.sleep(wait)
            deadline = self.clock.monotonic() + READ_REQUEST_SECONDS
            self.requests_sent += 1
            answer = self.session.fetch(
                path,
                params=params,
                auth=self._auth,
                deadline=deadline,
                clock=self.clock,
                method=method,
                json_body=json_body,
            )
            try:
                _raise_for_status(answer, now=self.clock.time(), scrubber=self._auth.scrubber)
            except RateLimited as exc:
                wait = DEFAULT_BACKOFF_SECONDS if exc.retry_after is None else exc.retry_after
                if retries >= READ_MAX_RETRIES or wait > READ_MAX_RETRY_AFTER_SECONDS:
                    raise RateLimited(
                        f"is limiting requests and refused {retries + 1} times",
                        http_status=429,
                        retry_after=exc.retry_after,
                    ) from None
                self.clock.sleep(wait)
                retries += 1
                continue
            if _echoes_secret(answer.body, self._secret, self._auth):
                # Whatever it is, it must not reach an export, a page or a log.
                raise UnexpectedResponse(
                    "sent this connection's secret back in its answer; nothing of it was kept",
                    http_status=answer.status,
                )
            try:
                return json.loads(answer.body)
            except (ValueError, RecursionError):
                raise UnexpectedResponse(
                    "answered with something that is not JSON", http_status=answer.status
                ) from None


def _echoes_secret(body: bytes, secret: Secret, auth: _BasicAuth) -> bool:
    plain = secret.reveal().encode()
    token = base64.b64encode(auth.username.encode() + b":" + plain)
    return (len(plain) >= 8 and plain in body) or token in body


_RESOURCE_LABELS = {
    Resource.REVIEWS: "reviews",
    Resource.PRODUCT_REVIEWS: "this product's reviews",
    Resource.GROUP_REVIEWS: "this group's reviews",
    Resource.REVIEW_AGGREGATE: "the review summary",
    Resource.PRODUCT_REVIEW_AGGREGATE: "this product's review summary",
    Resource.GROUP_REVIEW_AGGREGATE: "this group's review summary",
    Resource.CUSTOMER: "customers",
    Resource.LOYALTY_CUSTOMER: "loyalty customers",
}


def read_error_sentence(
    exc: OkendoError,
    *,
    api_type: ApiType | str,
    resource: Resource,
    secret: Secret,
    account_id: str = "",
) -> str:
    """Return the plain sentence shown when reading ``resource`` failed with ``exc``.

    Okendo's own description is appended, scrubbed of every echo of ``account_id``
    and ``secret`` (see :func:`scrub`), tidied and cut short.
    """
    merchant = ApiType(api_type) is ApiType.MERCHANT
    creds = "User ID and API key" if merchant else "Username and Password"
    what = _RESOURCE_LABELS[resource]
    status = f" (HTTP {exc.http_status})" if exc.http_status is not None else ""
    if isinstance(exc, InvalidRequest):
        return exc.reason
    if isinstance(exc, AuthenticationFailed):
        sentence = (
            f"Okendo rejected this connection's {creds}{status}, so it is now marked Offline. "
            f"Edit the connection and enter them again from {_CREDENTIALS_PAGE}."
        )
    elif isinstance(exc, LoyaltyNotEnabled):
        sentence = (
            f"Loyalty is not enabled for this store{status}: Okendo answers loyalty requests "
            "only for stores that use Okendo Loyalty. This says nothing about the credentials."
        )
    elif isinstance(exc, Forbidden):
        sentence = (
            f"Okendo refused access to {what}{status}. Check that this Okendo account has API "
            "access, or ask Okendo support."
        )
    elif isinstance(exc, NotFound):
        sentence = (
            f"Okendo knows no customer with this email address{status}."
            if resource in (Resource.CUSTOMER, Resource.LOYALTY_CUSTOMER)
            else f"Okendo found nothing for {what}{status}."
        )
    elif isinstance(exc, LimiterBusy):
        sentence = (
            "Not read: this app is already sending Okendo as many requests for this account "
            "as Okendo allows (2 per second). Try again in a few seconds."
        )
    elif isinstance(exc, RateLimited):
        sentence = (
            f"Okendo is limiting requests for this account{status} and kept refusing after "
            f"{READ_MAX_RETRIES} retries. "
            "Wait a minute and try again; if it keeps happening, something else is using this "
            "Okendo account heavily."
        )
    elif isinstance(exc, ServerError):
        sentence = f"Okendo is having trouble right now{status}; try again in a few minutes."
    elif isinstance(exc, OkendoUnavailable):
        sentence = f"Okendo {exc.reason}, so {what} could not be read. Try again in a few minutes."
    else:
        sentence = f"Okendo {exc.reason}{status}, so {what} could not be read. Try again later."
    said = getattr(exc, "okendo_said", "")
    if said:
        # Scrubbed already where it was read; once more, as this is what gets shown.
        sentence += f" Okendo said: “{scrub(said, account_id=account_id, secret=secret)}”"
    return sentence
