"""Read Okendo data through a saved connection: permission, secret, client, status, history.

Every read needs the ``connections.read_data`` permission ("Can read Okendo
data through a connection"), which is separate from view and change: reviews
carry reviewers' names and emails, and loyalty customers are people. An actor
of ``None`` is the operator on the server's command line (``manage.py
export_reviews``), who holds the keys anyway.

A connection's status follows every use, not only tests: a read that Okendo
answers marks it Online, a 401 marks it Offline (compare-and-set on the
credential columns, as a test does). Loyalty's 403 ("not enabled for this
store") and a customer's 404 say nothing about the credentials and change
nothing.

History: each export is a ``ConnectionEvent`` ("exported"), and each read made
with ``record=True`` (the API's reads) one ("read"): who, which resource, how
many records, the outcome — never the data, never an email address asked for.
Previews (``record=False``) are not stored, unless the read changed the status.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Callable, Generator
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, TypeVar

from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.views.decorators.debug import sensitive_variables

from connections import keyring, services
from connections.models import Connection, ConnectionEvent, SecretNotSet
from connections.okendo import (
    DEFAULT_QUERY,
    RESOURCES,
    STORE,
    AuthenticationFailed,
    InvalidRequest,
    OkendoError,
    OkendoReader,
    Outcome,
    Resource,
    Review,
    ReviewPage,
    ReviewQuery,
    ReviewScope,
    Scrubber,
    parse_cursor,
    read_error_sentence,
)
from connections.ratelimit import AccountRateLimiter
from connections.sensitive import Secret

logger = logging.getLogger(__name__)

Actor = User | AnonymousUser | None
T = TypeVar("T")

READ_PERMISSION = "connections.read_data"


class ReadFailed(Exception):
    """A read did not happen or Okendo refused it: the outcome word and a plain sentence.

    The sentence never holds a secret; Okendo's own words in it are tidied and cut short.
    """

    def __init__(self, outcome: Outcome, message: str, *, http_status: int | None = None) -> None:
        super().__init__(f"{outcome}: {message}")
        self.outcome = outcome
        self.message = message
        self.http_status = http_status


def can_read_data(actor: Actor) -> bool:
    """Tell whether ``actor`` may read Okendo data through connections."""
    return actor is None or actor.has_perm(READ_PERMISSION)


def _require_read(actor: Actor) -> None:
    if not can_read_data(actor):
        raise PermissionDenied(f"Missing permission {READ_PERMISSION}.")


@dataclass
class _Session:
    """One read or export: the client, the decrypted secret and the row's state before it."""

    connection: Connection
    reader: OkendoReader
    secret: Secret
    before: dict[str, str]
    status_changed_to: str = ""


@sensitive_variables("secret")
def _open(connection: Connection) -> _Session:
    """Decrypt the connection's secret and build a reader; raise ``ReadFailed`` if impossible."""
    field = "api_key" if connection.is_merchant else "password"
    label = "API key" if connection.is_merchant else "Password"
    try:
        secret = connection.get_api_key() if field == "api_key" else connection.get_password()
    except SecretNotSet:
        raise ReadFailed(
            Outcome.MISCONFIGURED,
            f"Not read: no {label} is saved for this connection. "
            f"Edit the connection and enter the {label}.",
        ) from None
    except keyring.DecryptionError as exc:
        logger.error("Connection %s cannot be read: %s", connection.uid, exc)
        raise ReadFailed(
            Outcome.MISCONFIGURED,
            f"Not read: this server cannot decrypt the saved {label}. Edit the connection and "
            f"enter the {label} again, or ask an administrator to check the encryption keys.",
        ) from None
    clock = services.clock
    try:
        reader = OkendoReader(
            api_type=connection.api_type,
            account_id=connection.account_id,
            secret=secret,
            base_url=settings.OKENDO_API_BASE_URL,
            connect_timeout=settings.OKENDO_CONNECT_TIMEOUT,
            read_timeout=settings.OKENDO_READ_TIMEOUT,
            throttle=AccountRateLimiter(now=clock.time).reserve,
            clock=clock,
            # Plain http:// to a host that is not loopback only while developing.
            allow_http=settings.DEBUG,
        )
    except OkendoError as exc:
        raise ReadFailed(exc.outcome, exc.reason) from None
    return _Session(connection, reader, secret, services.credentials_state(connection))


def _status_follows(session: _Session, outcome: Outcome) -> None:
    """Mark the connection Online after an answered read, Offline after a 401."""
    if outcome is Outcome.OK:
        status = Connection.Status.ONLINE
    elif outcome is Outcome.AUTH_FAILED:
        status = Connection.Status.OFFLINE
    else:
        return
    connection = session.connection
    if connection.status == status:
        return
    with transaction.atomic():
        applied = (
            Connection.objects.filter(pk=connection.pk, **session.before)
            .exclude(status=status)
            .update(status=status)
        )
        if applied:
            connection.status = status
            session.status_changed_to = status


def _failed(session: _Session, exc: OkendoError, resource: Resource) -> ReadFailed:
    if isinstance(exc, AuthenticationFailed):
        _status_follows(session, Outcome.AUTH_FAILED)
    message = read_error_sentence(
        exc,
        api_type=session.reader.api_type,
        resource=resource,
        secret=session.secret,
        account_id=session.reader.account_id,
    )
    return ReadFailed(exc.outcome, message, http_status=exc.http_status)


def _record(
    *,
    session: _Session,
    actor: Actor,
    action: str,
    summary: str,
    details: dict[str, Any],
) -> None:
    connection = session.connection
    user = actor if isinstance(actor, User) and actor.pk else None
    if session.status_changed_to:
        summary += f" Marked {Connection.Status(session.status_changed_to).label}."
        details = {**details, "connection_status": session.status_changed_to}
    ConnectionEvent.objects.create(
        connection_id=connection.pk,
        connection_uid=connection.uid,
        connection_name=connection.name,
        action=action,
        actor=user,
        actor_name=user.get_username() if user is not None else "",
        summary=summary[:300],
        details=details,
    )


def _read(
    *,
    connection: Connection,
    actor: Actor,
    resource: Resource,
    record: bool,
    details: dict[str, Any],
    call: Callable[[OkendoReader], T],
    count: Callable[[T], int],
) -> T:
    """Run one read: check the permission, call Okendo, let the status follow, keep history."""
    _require_read(actor)
    session = _open(connection)
    outcome = Outcome.OK
    records = 0
    try:
        with session.reader:
            result = call(session.reader)
    except OkendoError as exc:
        outcome = exc.outcome
        failure = _failed(session, exc, resource)
        raise failure from None
    else:
        records = count(result)
        _status_follows(session, Outcome.OK)
        # A preview is shown to people: Okendo's text loses any echo of the credentials.
        return result if record else _scrubbed(result, session)
    finally:
        if record or session.status_changed_to:
            what = resource.value.replace("_", " ")
            summary = (
                f"Read {records} {what} record{'s' if records != 1 else ''}."
                if outcome is Outcome.OK
                else f"Read of {what} failed: {outcome}."
            )
            _record(
                session=session,
                actor=actor,
                action=ConnectionEvent.Action.READ,
                summary=summary if record else "Preview: " + summary[0].lower() + summary[1:],
                details={
                    "resource": resource.value,
                    "records": records,
                    "outcome": str(outcome),
                    **details,
                },
            )


def _scrubbed(value: T, session: _Session) -> T:
    """Return ``value`` (a page, or Okendo's JSON) with every string scrubbed of the credentials."""
    scrubber = Scrubber(account_id=session.reader.account_id, secret=session.secret)

    def clean(item: Any) -> Any:
        if isinstance(item, str):
            return scrubber.scrub(item)
        if isinstance(item, dict):
            return {clean(key): clean(inner) for key, inner in item.items()}
        if isinstance(item, list):
            return [clean(inner) for inner in item]
        return item

    if isinstance(value, ReviewPage):
        return replace(value, reviews=clean(value.reviews))
    return clean(value)


def reviews_page(
    *,
    connection: Connection,
    actor: Actor,
    scope: ReviewScope = STORE,
    query: ReviewQuery = DEFAULT_QUERY,
    cursor: str | None = None,
    record: bool = False,
) -> ReviewPage:
    """Return one page of reviews of ``scope`` after ``cursor`` (see ``OkendoReader.reviews``).

    Raise ``PermissionDenied`` without ``read_data``, ``ReadFailed`` when the read
    cannot be made or Okendo refuses it.
    """
    return _read(
        connection=connection,
        actor=actor,
        resource=scope.resource,
        record=record,
        details={**scope.details(), **query.details(), "cursor": cursor is not None},
        call=lambda reader: reader.reviews(scope=scope, query=query, cursor=cursor),
        count=lambda page: len(page.reviews),
    )


def review_aggregate(
    *, connection: Connection, actor: Actor, scope: ReviewScope = STORE, record: bool = False
) -> dict[str, Any]:
    """Return the review aggregate of ``scope`` (Storefront); errors as ``reviews_page``."""
    return _read(
        connection=connection,
        actor=actor,
        resource=scope.aggregate_resource,
        record=record,
        details=scope.details(),
        call=lambda reader: reader.review_aggregate(scope=scope),
        count=lambda aggregate: 1,
    )


@sensitive_variables("email")
def customer(
    *, connection: Connection, actor: Actor, email: str, record: bool = False
) -> dict[str, Any]:
    """Return the customer with ``email`` (Merchant); the address is never kept in history."""
    return _read(
        connection=connection,
        actor=actor,
        resource=Resource.CUSTOMER,
        record=record,
        details={},
        call=lambda reader: reader.customer(email=email),
        count=lambda found: 1,
    )


@sensitive_variables("email")
def loyalty_customer(
    *, connection: Connection, actor: Actor, email: str, record: bool = False
) -> dict[str, Any]:
    """Return the loyalty customer with ``email`` (Merchant); ``ReadFailed`` with outcome
    ``forbidden`` and "Loyalty is not enabled for this store" when the store has no Loyalty."""
    return _read(
        connection=connection,
        actor=actor,
        resource=Resource.LOYALTY_CUSTOMER,
        record=record,
        details={},
        call=lambda reader: reader.loyalty_customer(email=email),
        count=lambda found: 1,
    )


# --- Export ---------------------------------------------------------------------


class ExportFormat(StrEnum):
    """The file formats of an export: one JSON object a line, or CSV with a header row."""

    JSONL = "jsonl"
    CSV = "csv"


# (header, path into the review). The CSV keeps what people sort and filter by;
# JSONL keeps every field Okendo sent.
CSV_COLUMNS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("reviewId", ("reviewId",)),
    ("dateCreated", ("dateCreated",)),
    ("rating", ("rating",)),
    ("status", ("status",)),
    ("title", ("title",)),
    ("body", ("body",)),
    ("productId", ("productId",)),
    ("productName", ("productName",)),
    ("variantName", ("variantName",)),
    ("reviewer.displayName", ("reviewer", "displayName")),
    ("reviewer.name", ("reviewer", "name")),
    ("reviewer.email", ("reviewer", "email")),
    ("reviewer.isVerified", ("reviewer", "isVerified")),
    ("isRecommended", ("isRecommended",)),
    ("helpfulCount", ("helpfulCount",)),
    ("tags", ("tags",)),
    ("mediaCount", ("media",)),
)
# A cell starting with one of these is a formula to a spreadsheet (OWASP "CSV injection").
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_CONTROLS = {code: " " for code in [*range(0x00, 0x20), *range(0x7F, 0xA0)] if code != 0x0A}


def export_header(fmt: ExportFormat | str) -> str:
    """Return what an export file starts with: the CSV header row, or nothing for JSONL."""
    if ExportFormat(fmt) is ExportFormat.JSONL:
        return ""
    out = io.StringIO()
    csv.writer(out).writerow([name for name, _ in CSV_COLUMNS])
    return out.getvalue()


def _cell(value: Any, header: str) -> str | int:
    if header == "mediaCount":
        return len(value) if isinstance(value, list) else 0
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return value  # type: ignore[return-value]  # csv writes numbers as they are
    if isinstance(value, list):
        value = "; ".join(str(item) for item in value if isinstance(item, str | int))
    elif not isinstance(value, str):
        value = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    text = value.translate(_CONTROLS)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def _dig(review: Review, path: tuple[str, ...]) -> Any:
    value: Any = review
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def export_rows(reviews: list[Review], fmt: ExportFormat | str) -> str:
    """Return ``reviews`` as JSONL lines or CSV rows (no header), one review per record.

    JSONL escapes every non-ASCII character (``\\uXXXX``), so no byte of the file
    can drive a terminal; CSV cells lose control characters and cannot start a formula.
    """
    if ExportFormat(fmt) is ExportFormat.JSONL:
        return "".join(
            json.dumps(review, ensure_ascii=True, separators=(",", ":")) + "\n"
            for review in reviews
        )
    out = io.StringIO()
    writer = csv.writer(out)
    for review in reviews:
        writer.writerow([_cell(_dig(review, path), name) for name, path in CSV_COLUMNS])
    return out.getvalue()


@dataclass(frozen=True)
class ExportPage:
    """One page of an export: its rows, how many reviews, and the cursors around it.

    Resume an interrupted export from ``next_cursor`` of the last page written
    (``None`` after the last page).
    """

    text: str
    records: int
    number: int
    cursor: str | None
    next_cursor: str | None


def review_export(
    *,
    connection: Connection,
    actor: Actor,
    fmt: ExportFormat | str,
    scope: ReviewScope = STORE,
    query: ReviewQuery = DEFAULT_QUERY,
    cursor: str | None = None,
) -> Generator[ExportPage, None, None]:
    """Start exporting every review of ``scope`` from ``cursor`` on; iterate the pages.

    The permission, the format, the parameters and the secret are checked now
    (``PermissionDenied``, ``ReadFailed``); Okendo is asked page by page as the
    iterator is consumed, so memory stays flat however many reviews there are.
    A refusal mid-way raises ``ReadFailed`` from the iterator. When the
    iterator ends, fails or is closed, one "exported" history event records
    the format, resource, pages and reviews (this run's), and the outcome.
    """
    _require_read(actor)
    try:
        fmt = ExportFormat(fmt)
    except ValueError:
        raise ReadFailed(Outcome.MISCONFIGURED, "The format must be jsonl or csv.") from None
    session = _open(connection)
    try:
        api_type = session.reader.api_type
        if scope.resource not in RESOURCES[api_type]:
            raise InvalidRequest(
                f"A {api_type.value.title()} connection cannot export "
                f"{scope.resource.value.replace('_', ' ')}."
            )
        query.params(api_type=api_type)
        if cursor is not None:
            parse_cursor(cursor)
    except OkendoError as exc:
        session.reader.close()
        raise ReadFailed(exc.outcome, exc.reason) from None
    return _export_pages(
        session=session, actor=actor, fmt=fmt, scope=scope, query=query, cursor=cursor
    )


def _export_pages(
    *,
    session: _Session,
    actor: Actor,
    fmt: ExportFormat,
    scope: ReviewScope,
    query: ReviewQuery,
    cursor: str | None,
) -> Generator[ExportPage, None, None]:
    records = pages = 0
    outcome = "stopped"
    try:
        with session.reader:
            for page in session.reader.review_pages(scope=scope, query=query, cursor=cursor):
                if pages == 0:
                    _status_follows(session, Outcome.OK)
                pages += 1
                records += len(page.reviews)
                exported = ExportPage(
                    text=export_rows(page.reviews, fmt),
                    records=len(page.reviews),
                    number=pages,
                    cursor=page.cursor,
                    next_cursor=page.next_cursor,
                )
                del page  # the rows are made: let the decoded reviews go before the next page
                yield exported
                del exported
        outcome = str(Outcome.OK)
    except OkendoError as exc:
        outcome = str(exc.outcome)
        raise _failed(session, exc, scope.resource) from None
    finally:
        what = "review" if records == 1 else "reviews"
        page_word = "page" if pages == 1 else "pages"
        if outcome == Outcome.OK:
            summary = f"Exported {records:,} {what} ({pages} {page_word}) as {fmt.name}."
        else:
            summary = f"Export as {fmt.name} {outcome} after {records:,} {what}."
        _record(
            session=session,
            actor=actor,
            action=ConnectionEvent.Action.EXPORTED,
            summary=summary,
            details={
                "resource": scope.resource.value,
                "format": fmt.value,
                "records": records,
                "pages": pages,
                "outcome": outcome,
                "resumed": cursor is not None,
                **scope.details(),
                **query.details(),
            },
        )


def review_export_stream(
    *,
    connection: Connection,
    actor: Actor,
    fmt: ExportFormat | str,
    scope: ReviewScope = STORE,
    query: ReviewQuery = DEFAULT_QUERY,
) -> Generator[str, None, None]:
    """Start an export and return its text piece by piece: the header, then each page's rows.

    Made for ``StreamingHttpResponse`` (the API's export and the Download
    button); checks happen now, as in :func:`review_export`.
    """
    pages = review_export(connection=connection, actor=actor, fmt=fmt, scope=scope, query=query)
    return _stream(export_header(fmt), pages)


def _stream(header: str, pages: Generator[ExportPage, None, None]) -> Generator[str, None, None]:
    try:
        if header:
            yield header
        for page in pages:
            yield page.text
    finally:
        pages.close()  # a client that hung up still gets its export recorded
