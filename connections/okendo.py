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
import html
import ipaddress
import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from importlib import metadata
from typing import Any, ClassVar, Protocol
from urllib.parse import quote, quote_plus, urlsplit

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
    ) -> Answer:
        """GET ``path`` and return status, headers and at most ``MAX_BODY_BYTES`` of body."""
        connect, read = self.connect_timeout, self.read_timeout
        if deadline is not None:
            remaining = deadline - clock.monotonic()
            if remaining <= 0:
                raise AnswerTimedOut("did not answer within the time a test may take")
            connect, read = min(connect, remaining), min(read, remaining)
        try:
            response = self.get(
                self.base_url + path, params=params, auth=auth, timeout=(connect, read), stream=True
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
