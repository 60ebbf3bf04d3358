"""Views: parse the request, call a service or selector, render or redirect."""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, replace
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Page, Paginator
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import reselect, reswap, retarget
from django_htmx.middleware import HtmxDetails

from connections import selectors, services
from connections.forms import ConnectionForm
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


@dataclass(frozen=True)
class ListQuery:
    """What the list was asked for; each value is one the selectors understand."""

    search: str = ""
    api_type: str = ""
    status: str = ""
    sort: selectors.ListSort = selectors.DEFAULT_LIST_SORT

    @classmethod
    def from_get(cls, params: QueryDict) -> ListQuery:
        """Read ``q``, ``api_type``, ``status`` and ``sort``; an unknown value means the default."""
        api_type = params.get("api_type", "")
        status = params.get("status", "")
        return cls(
            search=params.get("q", "").strip()[: selectors.SEARCH_MAX_LENGTH],
            api_type=api_type if api_type in Connection.ApiType.values else "",
            status=status if status in Connection.Status.values else "",
            sort=selectors.list_sort_or_default(params.get("sort")),
        )

    @property
    def is_filtered(self) -> bool:
        return bool(self.search or self.api_type or self.status)

    def urlencode(self, **changes: str | int) -> str:
        """Return this query (with ``changes``) as a query string, leaving out empty values."""
        params: dict[str, str | int] = {
            "q": self.search,
            "api_type": self.api_type,
            "status": self.status,
            "sort": self.sort,
            **changes,
        }
        return urlencode({key: value for key, value in params.items() if value})


API_TYPE_FILTERS = [("", "All types"), ("merchant", "Merchant"), ("storefront", "Storefront")]
STATUS_FILTERS = [("", "Any status"), *Connection.Status.choices]


@require_GET
@permission_required("connections.view_connection", raise_exception=True)
def connection_list(request: HtmxHttpRequest) -> HttpResponse:
    """List connections, 50 a page: search by name, filter by type and status, sort.

    htmx requests (search as you type, sort and page links) get only the
    results partial; everything else, and a history restore, the whole page.
    """
    query = ListQuery.from_get(request.GET)
    connections = selectors.connection_list(
        search=query.search, sort=query.sort, api_type=query.api_type, status=query.status
    )
    page = Paginator(connections, PAGE_SIZE).get_page(request.GET.get("page"))
    # An empty page asks one more question: is it the filters, or are there none at all?
    has_any = page.paginator.count > 0 or (query.is_filtered and selectors.connection_exists_any())
    context = {
        "page": page,
        "query": query,
        "has_any": has_any,
        "sort_links": _sort_links(query),
        "page_links": _page_links(query, page),
        "api_type_filters": API_TYPE_FILTERS,
        "status_filters": STATUS_FILTERS,
    }
    template = LIST_TEMPLATE
    if request.htmx and not request.htmx.history_restore_request:
        template = f"{LIST_TEMPLATE}#results"
    response = render(request, template, context)
    # The same URL answers a page or a fragment: caches must tell them apart.
    patch_vary_headers(response, ("HX-Request",))
    return response


def _sort_links(query: ListQuery) -> dict[str, dict[str, str]]:
    """Return, per sortable column, the query string that toggles it and its aria-sort value."""
    links = {}
    for column, ascending, descending in (
        ("name", "name", "-name"),
        ("updated", "-updated", "updated"),  # newest first is the natural first click
    ):
        target = descending if query.sort == ascending else ascending
        direction = "none"
        if query.sort in (ascending, descending):
            direction = "descending" if query.sort.startswith("-") else "ascending"
        links[column] = {"query": query.urlencode(sort=target), "aria_sort": direction}
    return links


def _page_links(query: ListQuery, page: Page[Connection]) -> dict[str, str]:
    """Return the query strings of the previous and next pages ('' where there is none)."""
    return {
        "previous": query.urlencode(page=page.previous_page_number())
        if page.has_previous()
        else "",
        "next": query.urlencode(page=page.next_page_number()) if page.has_next() else "",
    }


def _render_form(
    request: HtmxHttpRequest,
    form: ConnectionForm,
    *,
    connection: Connection | None,
    test_result: ShownResult | None = None,
) -> HttpResponse:
    context: dict[str, Any] = {
        "form": form,
        "connection": connection,
        "switch_url": request.path,
        "test_url": _values_test_url(connection),
        "test_result": test_result,
    }
    template = FORM_TEMPLATE
    if request.htmx and request.method == "GET":
        template = f"{FORM_TEMPLATE}#credential-fields"
    response = render(request, template, context)
    # The same URL answers a page or a fragment: caches must tell them apart.
    patch_vary_headers(response, ("HX-Request",))
    return response


def _switched_form(request: HttpRequest, *, connection: Connection | None) -> ConnectionForm:
    """Build the unbound form for the type posted by the no-JavaScript "Change" button.

    Keeps the typed name; never the credentials, which belong to the other type.
    """
    return ConnectionForm(
        instance=connection,
        api_type=request.POST.get("api_type"),
        initial={"name": request.POST.get("name", "")[:200]},
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
            initial=tested.values if tested else None,
        )
        shown = tested.result if tested else None
        return _render_form(request, form, connection=None, test_result=shown)
    if "change_type" in request.POST:
        return _render_form(request, _switched_form(request, connection=None), connection=None)
    form = ConnectionForm(request.POST)
    if form.is_valid():
        try:
            connection = services.connection_create(actor=request.user, data=form.connection_data())
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, f"Connection “{connection.name}” created.")
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
            initial=tested.values if tested else None,
        )
        shown = tested.result if tested else None
        return _render_form(request, form, connection=connection, test_result=shown)
    if "change_type" in request.POST:
        form = _switched_form(request, connection=connection)
        return _render_form(request, form, connection=connection)
    # The form writes typed values into its instance: give it a copy, keep the page's title.
    form = ConnectionForm(request.POST, instance=copy.copy(connection))
    if form.is_valid():
        try:
            connection = services.connection_update(
                connection=connection, actor=request.user, data=form.connection_data()
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, f"Connection “{connection.name}” saved.")
            return redirect("connections:detail", pk=connection.pk)
    return _render_form(request, form, connection=connection)


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
            "result": tested.result if tested else None,
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
    """A test result as the page shows it: word, title, tone, sentence and the numbers.

    ``recorded`` is false when the test did not run (another one was running), so
    the connection's status does not hold this result.
    """

    outcome: str
    title: str
    tone: str
    message: str
    facts: str
    note: str = ""
    recorded: bool = True


@dataclass(frozen=True)
class ResultFlash:
    """A no-JavaScript test result waiting for the page it redirected to."""

    page: str
    result: ShownResult
    api_type: str | None = None
    values: dict[str, str] | None = None


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
    return ShownResult("busy", title, tone, message, "", recorded=False)


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
    request: HttpRequest, shown: ShownResult, *, connection: Connection | None = None
) -> HttpResponse:
    context: dict[str, object] = {"result": shown, "connection": connection}
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
    if request.htmx:
        return _test_fragment(request, shown)
    page = f"edit:{connection.pk}" if connection else "create"
    values = {"name": data.name, form.account_field: data.account_id}
    label = form.fields[form.secret_field].label
    note = f"Enter the {label} again to save: secrets are never sent back to the browser."
    shown = replace(shown, note=note)
    _flash_test(
        request, ResultFlash(page=page, result=shown, api_type=data.api_type, values=values)
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
