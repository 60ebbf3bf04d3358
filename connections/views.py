"""Views: parse the request, call a service or selector, render or redirect."""

from __future__ import annotations

import copy
import hashlib
import json
import secrets
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any
from urllib.parse import quote

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.cache.backends.locmem import LocMemCache
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.cache import patch_vary_headers
from django.utils.dates import MONTHS_3
from django.utils.safestring import SafeString
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import reselect, reswap, retarget
from django_htmx.middleware import HtmxDetails

from connections import selectors, services, versions
from connections.forms import ConnectionForm, typed_account_id
from connections.models import Connection
from connections.okendo import CheckResult, Outcome
from connections.ratelimit import ConnectionTestInProgress

PAGE_SIZE = 50
LIST_TEMPLATE = "connections/connection_list.html"
FORM_TEMPLATE = "connections/connection_form.html"
TEST_RESULT_TEMPLATE = "connections/_test_result.html"


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


def _get_connection(pk: int) -> Connection:
    connection = selectors.connection_for_display(pk=pk)
    if connection is None:
        raise Http404("No such connection.")
    return connection


@require_GET
@permission_required("connections.view_connection", raise_exception=True)
def connection_list(request: HttpRequest) -> HttpResponse:
    """List connections: search by name, sort by name or last update, 50 a page."""
    search = request.GET.get("q", "").strip()[: selectors.SEARCH_MAX_LENGTH]
    sort = selectors.list_sort_or_default(request.GET.get("sort"))
    number = selectors.list_page_number(request.GET.get("page"))

    def context() -> dict[str, Any]:
        results = _list_results(search=search, sort=sort, number=number)
        return {"has_any": results.has_any, "results": results.html}

    if messages.get_messages(request):
        return render(request, LIST_TEMPLATE, context())  # shown once: never kept
    return _kept_page(request, LIST_TEMPLATE, context, [search, sort, number])


@dataclass(frozen=True)
class ListResults:
    """The list's results as HTML, and whether any connection exists at all."""

    has_any: bool
    html: SafeString


# The results (search box, count, table, pagination) are the same for every viewer;
# the Create button, which depends on permissions, stays outside them. Each worker
# keeps them under the list version, which every write changes in the database, so
# a worker never serves results older than the version it just read. The timeout
# bounds how long a write that bypassed the services (and the bump) can go unseen.
LIST_CACHE_SECONDS = 30
_list_cache = LocMemCache(
    "connections-list-results", {"TIMEOUT": LIST_CACHE_SECONDS, "OPTIONS": {"MAX_ENTRIES": 200}}
)


# Whole pages, per viewer, for the list: the page around the results costs as
# much as everything else a list request does. A page depends on the results
# (the list token) and on who is viewing: name, staff flag, permissions, all of
# which only change with the sign-in token. So pages are kept under both tokens,
# per user and query, and only the CSRF token, masked anew for every response,
# is put in per request, where the page was rendered with a placeholder.
_pages: versions.TokenCache[str] = versions.TokenCache(max_entries=500, max_age=LIST_CACHE_SECONDS)
# Hex, so escaping leaves it as it is; random per process, so no stored text can
# be made to match it (and a match would only show viewers their own token).
_CSRF_PLACEHOLDER = secrets.token_hex(16)


def _where() -> tuple[str, str]:
    """What rendered dates and words depend on: the active time zone and language."""
    return timezone.get_current_timezone_name(), translation.get_language()


def _cache_key(*parts: object) -> str:
    """Return a key for rendered output made of ``parts`` in the active time zone and language.

    Dates are shown in the active time zone and month names in the active language.
    """
    text = json.dumps([*_where(), *parts])
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _kept_page(
    request: HttpRequest,
    template: str,
    context: Callable[[], dict[str, Any]],
    query: list[object],
) -> HttpResponse:
    """Render ``template`` for this viewer, or answer the page kept for them and this query."""
    tokens = versions.current()
    token = f"{tokens.list}.{tokens.auth}" if tokens.list and tokens.auth else ""
    # A tuple, not _cache_key's digest: JSON and SHA-256 on every request were a
    # quarter of what serving a kept page cost.
    key = (*_where(), template, request.user.pk, *query)
    page = _pages.get(key, token)
    if page is None:
        page = render_to_string(
            template, {**context(), "csrf_token": _CSRF_PLACEHOLDER}, request=request
        )
        _pages.set(key, token, page)
    return HttpResponse(page.replace(_CSRF_PLACEHOLDER, _csrf_token_for_kept_page(request)))


def _csrf_token_for_kept_page(request: HttpRequest) -> str:
    """Return a freshly masked CSRF token, without re-sending a cookie the browser already has.

    ``get_token`` asks CsrfViewMiddleware to send the CSRF cookie again on every
    response that uses it, only to push its expiry (a year) further out. For the
    list, the page polled most, that is a ``Set-Cookie`` per request for nothing:
    the token in the page matches the cookie the browser sent. A new or replaced
    secret (no cookie, or an unusable one) is still sent, as Django decided.
    """
    had_usable_cookie = "CSRF_COOKIE" in request.META and not request.META.get(
        "CSRF_COOKIE_NEEDS_UPDATE"
    )
    token = get_token(request)
    if had_usable_cookie:
        request.META["CSRF_COOKIE_NEEDS_UPDATE"] = False
    return token


def _list_results(*, search: str, sort: selectors.ListSort, number: int) -> ListResults:
    """Return the rendered results for this search, sort and page; cached per list version."""
    version = selectors.list_version()  # first: see selectors.list_version
    key = ""
    if version:
        key = _cache_key(version, sort, number, search)
        cached = _list_cache.get(key)
        if isinstance(cached, ListResults):
            return cached
    page = selectors.connection_list_page(
        search=search, sort=sort, number=number, per_page=PAGE_SIZE
    )
    # An empty page asks one more question: is it the search, or are there none at all?
    has_any = bool(page.rows) or (bool(search) and selectors.connection_exists_any())
    html = SafeString("")
    if has_any:
        # Rendered without the request: nothing about the viewer can get into it.
        html = render_to_string(
            f"{LIST_TEMPLATE}#results",
            {
                "page": page,
                "rows": _list_rows(page.rows),
                "search": search,
                "sort": sort,
                "sort_links": _sort_links(search=search, sort=sort),
            },
        )
    results = ListResults(has_any=has_any, html=html)
    if key:
        _list_cache.set(key, results)
    return results


_TYPE_LABELS: dict[str, str] = {
    Connection.ApiType.MERCHANT: "Merchant",
    Connection.ApiType.STOREFRONT: "Storefront",
}
_STATUS_LABELS: dict[str, str] = dict(Connection.Status.choices)
# Any id works: it is cut out again to leave the detail URL's prefix and suffix.
_SAMPLE_PK = 9876543210


def _list_rows(rows: list[selectors.ListRow]) -> list[dict[str, str]]:
    """Return the list's rows as the strings the template shows, formatted once here.

    Per-row ``{% url %}`` and ``|date`` cost most of the page's time; the output is
    the same: dates in the active time zone as "25 Nov 2026, 20:36" and ISO 8601.
    """
    prefix, _, suffix = reverse("connections:detail", args=[_SAMPLE_PK]).partition(str(_SAMPLE_PK))
    shown = []
    for row in rows:
        tested = row["last_tested_at"]
        tested_iso, tested_text = _list_time(tested) if tested else ("", "")
        updated_iso, updated_text = _list_time(row["updated_at"])
        shown.append(
            {
                "url": f"{prefix}{row['id']}{suffix}",
                "name": row["name"],
                "type": _TYPE_LABELS.get(row["api_type"], "Storefront"),
                "status": row["status"],
                "status_label": _STATUS_LABELS.get(row["status"], row["status"]),
                "tested_iso": tested_iso,
                "tested": tested_text,
                "updated_iso": updated_iso,
                "updated": updated_text,
            }
        )
    return shown


def _list_time(value: datetime) -> tuple[str, str]:
    """Return ``value`` as the ``|date:'c'`` and ``|date:"j M Y, H:i"`` filters would."""
    local = timezone.localtime(value)
    month = MONTHS_3[local.month].title()
    return local.isoformat(), f"{local.day} {month} {local.year:04d}, {local:%H:%M}"


def _sort_links(*, search: str, sort: str) -> dict[str, dict[str, str]]:
    """Return, per sortable column, the URL that toggles it and its aria-sort value."""
    links = {}
    for column, ascending, descending in (
        ("name", "name", "-name"),
        ("updated", "-updated", "updated"),  # newest first is the natural first click
    ):
        active = sort in (ascending, descending)
        target = descending if sort == ascending else ascending
        query = f"?sort={target}" + (f"&q={quote(search, safe='')}" if search else "")
        direction = ""
        if active:
            is_descending = sort.startswith("-")
            direction = "descending" if is_descending else "ascending"
        links[column] = {"url": query, "aria_sort": direction or "none"}
    return links


def _render_form(
    request: HtmxHttpRequest,
    form: ConnectionForm,
    *,
    connection: Connection | None,
    test_result: ShownResult | None = None,
    test_proof: str = "",
) -> HttpResponse:
    context: dict[str, Any] = {
        "form": form,
        "connection": connection,
        "switch_url": request.path,
        "test_url": _values_test_url(connection),
        "test_result": test_result,
        # A passed test of the typed values, sent again with the save (see services).
        "test_proof": test_proof or request.POST.get("test_proof", "")[:2000],
    }
    template = FORM_TEMPLATE
    if request.htmx and request.method == "GET":
        template = f"{FORM_TEMPLATE}#credential-fields"
    response = render(request, template, context)
    if request.htmx and request.method == "GET" and request.GET.get("recheck"):
        # The page shows an error summary from a failed save: the switch replaced the
        # credential fields it names, so send it again for the fields now on the page.
        summary = render_to_string(
            f"{FORM_TEMPLATE}#error-summary",
            {"form": _recheck(request, form, connection=connection), "oob": True},
            request=request,
        )
        response.content += summary.encode()
    # The same URL answers a page or a fragment: caches must tell them apart.
    patch_vary_headers(response, ("HX-Request",))
    return response


def _recheck(
    request: HttpRequest, switched: ConnectionForm, *, connection: Connection | None
) -> ConnectionForm:
    """Validate the fields a type switch keeps (name, type) as typed; drop the others' errors.

    The credential fields are new and empty: nothing was typed in them to check yet.
    """
    data = {"name": request.GET.get("name", "")[:200], "api_type": switched.selected_type}
    form = ConnectionForm(data, instance=copy.copy(connection) if connection else None)
    form.is_valid()
    for field in list(form.errors):
        if field not in ("name", "api_type"):
            del form.errors[field]
    return form


def _switched_form(request: HttpRequest, *, connection: Connection | None) -> ConnectionForm:
    """Build the unbound form for the type posted by the no-JavaScript "Change" button.

    Keeps the typed name and User ID; never the secret, which belongs to the other type.
    """
    return ConnectionForm(
        instance=connection,
        api_type=request.POST.get("api_type"),
        initial={"name": request.POST.get("name", "")[:200], **typed_account_id(request.POST)},
    )


@sensitive_post_parameters("api_key", "password")
@require_http_methods(["GET", "POST"])
@permission_required("connections.add_connection", raise_exception=True)
def connection_create(request: HtmxHttpRequest) -> HttpResponse:
    """Show the create form (or its credential fields for htmx) and create on POST."""
    if request.method == "GET":
        tested = _pop_test_flash(request, page="create")
        form = ConnectionForm(
            api_type=tested.api_type if tested else request.GET.get("api_type"),
            initial=tested.values if tested else typed_account_id(request.GET),
        )
        shown = tested.result if tested else None
        proof = tested.proof if tested else ""
        return _render_form(request, form, connection=None, test_result=shown, test_proof=proof)
    if "change_type" in request.POST:
        return _render_form(request, _switched_form(request, connection=None), connection=None)
    form = ConnectionForm(request.POST)
    if form.is_valid():
        try:
            connection = services.connection_create(
                actor=request.user,
                data=form.connection_data(),
                test_proof=request.POST.get("test_proof", ""),
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(
                request, f"Connection “{connection.name}” created.{_tested_note(connection)}"
            )
            return redirect("connections:detail", pk=connection.pk)
    return _render_form(request, form, connection=None)


@sensitive_post_parameters("api_key", "password")
@require_http_methods(["GET", "POST"])
@permission_required("connections.change_connection", raise_exception=True)
def connection_edit(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Show the edit form (or its credential fields for htmx) and save on POST."""
    connection = _get_connection(pk)
    if request.method == "GET":
        tested = _pop_test_flash(request, page=f"edit:{pk}")
        form = ConnectionForm(
            instance=connection,
            api_type=tested.api_type if tested else request.GET.get("api_type"),
            initial=tested.values if tested else typed_account_id(request.GET),
        )
        shown = tested.result if tested else None
        proof = tested.proof if tested else ""
        return _render_form(
            request, form, connection=connection, test_result=shown, test_proof=proof
        )
    if "change_type" in request.POST:
        form = _switched_form(request, connection=connection)
        return _render_form(request, form, connection=connection)
    # The form writes typed values into its instance: give it a copy, keep the page's title.
    form = ConnectionForm(request.POST, instance=copy.copy(connection))
    tested_before = connection.last_tested_at
    if form.is_valid():
        try:
            connection = services.connection_update(
                connection=connection,
                actor=request.user,
                data=form.connection_data(),
                test_proof=request.POST.get("test_proof", ""),
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(
                request,
                f"Connection “{connection.name}” saved."
                f"{_tested_note(connection, tested_before=tested_before)}",
            )
            return redirect("connections:detail", pk=connection.pk)
    return _render_form(request, form, connection=connection)


def _tested_note(connection: Connection, *, tested_before: datetime | None = None) -> str:
    """Say, after a save, that the test run on the form counts, when the services recorded it.

    Only a test proven by the form's token sets a new ``last_tested_at`` during a save.
    """
    if connection.status != Connection.Status.ONLINE or connection.last_tested_at is None:
        return ""
    if connection.last_tested_at == tested_before:
        return ""
    return " The test you ran before saving is recorded as its test: it is online."


@require_GET
@permission_required("connections.view_connection", raise_exception=True)
def connection_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """Show a connection: its fields, secret metadata, last test and history."""
    connection = _get_connection(pk)
    tested = _pop_test_flash(request, page=f"detail:{pk}")
    return render(
        request,
        "connections/connection_detail.html",
        {
            "connection": connection,
            "events": selectors.connection_history(connection=connection),
            "test_result": tested.result if tested else None,
        },
    )


@require_http_methods(["GET", "POST"])
@permission_required("connections.delete_connection", raise_exception=True)
def connection_delete(request: HttpRequest, pk: int) -> HttpResponse:
    """Ask for confirmation on GET; delete on POST and go back to the list."""
    connection = _get_connection(pk)
    if request.method == "POST":
        name = connection.name
        services.connection_delete(connection=connection, actor=request.user)
        messages.success(request, f"Connection “{name}” deleted. Its history is kept.")
        return redirect(reverse("connections:list"))
    return render(request, "connections/connection_confirm_delete.html", {"connection": connection})


# --- Testing against Okendo ---------------------------------------------------------
#
# Typed values: POST /connections/test/ (needs add permission, or change permission
# with ?connection=<id> from the edit page). Saved connections: POST
# /connections/<id>/test/ (needs change permission: the test records status and
# history). With htmx the result fragment replaces #test-result; without
# JavaScript the POST redirects back and the page shows the result once, from
# the session. Secrets are never stored there: a no-JS test of typed values
# keeps the name, type and User ID, and the secret must be typed again.

TEST_FLASH_KEY = "connections:test-result"
MAX_ID = 2**63 - 1  # the largest BigAutoField value

# Title and alert tone per outcome word, for people; the word itself goes in data-outcome.
_OUTCOME_LOOK: dict[str, tuple[str, str]] = {
    Outcome.OK: ("Connection works", "success"),
    Outcome.AUTH_FAILED: ("Credentials rejected", "error"),
    Outcome.FORBIDDEN: ("Access refused", "error"),
    Outcome.NOT_FOUND: ("Not found at Okendo", "error"),
    Outcome.RATE_LIMITED: ("Okendo is limiting requests", "warning"),
    Outcome.UNAVAILABLE: ("Okendo unavailable", "warning"),
    Outcome.UNEXPECTED: ("Unexpected answer from Okendo", "warning"),
    Outcome.MISCONFIGURED: ("Not tested", "error"),
    "busy": ("Test already running", "info"),
}


@dataclass(frozen=True)
class ShownResult:
    """A test result as the page shows it: word, title, tone, sentence and the numbers."""

    outcome: str
    title: str
    tone: str
    message: str
    facts: str
    note: str = ""


@dataclass(frozen=True)
class ResultFlash:
    """A no-JavaScript test result waiting for the page it redirected to."""

    page: str
    result: ShownResult
    api_type: str | None = None
    values: dict[str, str] | None = None
    proof: str = ""  # signed, holds no secret: see services.credentials_test_proof


def _shown(result: CheckResult) -> ShownResult:
    title, tone = _OUTCOME_LOOK[result.outcome]
    facts = [f"HTTP {result.http_status}" if result.http_status else "No HTTP answer"]
    facts.append(f"{result.elapsed_ms} ms")
    if result.retries:
        facts.append(f"{result.retries} {'retry' if result.retries == 1 else 'retries'}")
    return ShownResult(str(result.outcome), title, tone, result.message, " · ".join(facts))


def _shown_busy() -> ShownResult:
    title, tone = _OUTCOME_LOOK["busy"]
    message = "A test of this connection is already running. Wait a few seconds for its result."
    return ShownResult("busy", title, tone, message, "")


def _flash_test(request: HttpRequest, flash: ResultFlash) -> None:
    request.session[TEST_FLASH_KEY] = asdict(flash)


def _pop_test_flash(request: HttpRequest, *, page: str) -> ResultFlash | None:
    """Return the result flashed for ``page`` once; a result for another page is dropped."""
    stored = request.session.pop(TEST_FLASH_KEY, None)
    if not isinstance(stored, dict) or stored.get("page") != page:
        return None
    try:
        return ResultFlash(
            page=page,
            result=ShownResult(**stored["result"]),
            api_type=stored.get("api_type"),
            values=stored.get("values"),
            proof=str(stored.get("proof") or ""),
        )
    except (KeyError, TypeError):
        return None


def _values_test_url(connection: Connection | None) -> str:
    url = reverse("connections:test")
    return f"{url}?connection={connection.pk}" if connection else url


def _connection_being_edited(request: HttpRequest) -> Connection | None:
    raw = request.GET.get("connection")
    if raw is None:
        return None
    # isdigit() accepts "²", which int() refuses; ids past a bigint cannot even be queried.
    if not (raw.isascii() and raw.isdecimal()) or int(raw) > MAX_ID:
        raise Http404("No such connection.")
    return _get_connection(int(raw))


def _test_fragment(
    request: HttpRequest,
    shown: ShownResult,
    *,
    connection: Connection | None = None,
    proof: str | None = None,
) -> HttpResponse:
    context: dict[str, object] = {"result": shown, "connection": connection, "proof": proof}
    if connection is not None:
        # The new "Tested" entry belongs in the history beside the result, without a reload.
        context["events"] = selectors.connection_history(connection=connection)
    return render(request, TEST_RESULT_TEMPLATE, context)


@sensitive_post_parameters("api_key", "password")
@require_POST
def connection_test_values(request: HtmxHttpRequest) -> HttpResponse:
    """Test the form's typed credentials against Okendo without saving anything."""
    connection = _connection_being_edited(request)
    needed = "connections.change_connection" if connection else "connections.add_connection"
    if not request.user.has_perm(needed):
        raise PermissionDenied
    page_url = (
        reverse("connections:edit", args=[connection.pk])
        if connection
        else reverse("connections:create")
    )
    # The form writes typed values into its instance: give it a copy, as the edit view does.
    form = ConnectionForm(request.POST, instance=copy.copy(connection) if connection else None)
    if not form.is_valid():
        response = render(
            request,
            FORM_TEMPLATE,
            {
                "form": form,
                "connection": connection,
                "switch_url": page_url,
                "test_url": _values_test_url(connection),
                "testing": True,
                "test_proof": "",
            },
        )
        if request.htmx:
            # Field errors belong beside their fields: replace the page's content, as a save does.
            reselect(retarget(reswap(response, "outerHTML"), "#main"), "#main")
        return response
    data = form.connection_data()
    result = services.credentials_test(
        api_type=data.api_type, account_id=data.account_id, secret=data.secret
    )
    shown = _shown(result)
    proof = services.credentials_test_proof(
        api_type=data.api_type, account_id=data.account_id, secret=data.secret, result=result
    )
    if request.htmx:
        return _test_fragment(request, shown, proof=proof)
    page = f"edit:{connection.pk}" if connection else "create"
    values = {"name": data.name, form.account_field: data.account_id}
    label = form.fields[form.secret_field].label
    note = f"Enter the {label} again to save: secrets are never sent back to the browser."
    shown = replace(shown, note=note)
    _flash_test(
        request,
        ResultFlash(page=page, result=shown, api_type=data.api_type, values=values, proof=proof),
    )
    return redirect(page_url)


@require_POST
@permission_required("connections.change_connection", raise_exception=True)
def connection_test_saved(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Test a saved connection against Okendo, record the outcome, and show it."""
    # Just the row: the display selector's joins to three users cost a third of this view.
    connection = get_object_or_404(Connection, pk=pk)
    try:
        shown = _shown(services.connection_test(connection=connection, actor=request.user))
    except ConnectionTestInProgress:
        shown = _shown_busy()
    if request.htmx:
        return _test_fragment(request, shown, connection=connection)
    _flash_test(request, ResultFlash(page=f"detail:{pk}", result=shown))
    return redirect("connections:detail", pk=pk)
