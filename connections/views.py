"""Views: parse the request, call a service or selector, render or redirect."""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Page, Paginator
from django.http import Http404, HttpRequest, HttpResponse, QueryDict, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.http import content_disposition_header
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import reselect, reswap, retarget
from django_htmx.middleware import HtmxDetails

from connections import preview, reads, selectors, services
from connections.forms import ConnectionForm, typed_account_id
from connections.models import Connection
from connections.okendo import CheckResult, Outcome
from connections.ratelimit import ConnectionTestInProgress

PAGE_SIZE = 50
LIST_TEMPLATE = "connections/connection_list.html"
FORM_TEMPLATE = "connections/connection_form.html"
TEST_RESULT_TEMPLATE = "connections/_test_result.html"
DETAIL_TEMPLATE = "connections/connection_detail.html"


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
    data = None
    if reads.can_read_data(request.user):
        data = _data_context(connection, preview.DataForm(api_type=connection.api_type))
    return render(
        request,
        DETAIL_TEMPLATE,
        {
            "connection": connection,
            "events": selectors.connection_history(connection=connection),
            "result": tested.result if tested else None,
            "data": data,
        },
    )


# --- Data: preview and download (needs connections.read_data) ------------------------
#
# GET /connections/<id>/data/ is a plain GET form: without "resource" or with "change"
# it shows the chosen resource's fields (the htmx switch asks for just them), else it
# reads the first page (or the page after ?cursor=) and shows it. htmx gets the named
# partial, everything else the whole detail page. Nothing of a preview is stored.

MAX_PAGE_NUMBER = 1_000_000
EXPORT_CONTENT_TYPES = {
    reads.ExportFormat.JSONL: "application/x-ndjson; charset=utf-8",
    reads.ExportFormat.CSV: "text/csv; charset=utf-8",
}


def _data_context(
    connection: Connection,
    form: preview.DataForm,
    shown: preview.Preview | None = None,
) -> dict[str, Any]:
    next_query = ""
    if shown is not None and shown.next_cursor:
        params = {**form.parameters(), "resource": form.selected.value}
        next_query = urlencode({**params, "cursor": shown.next_cursor, "page": shown.page + 1})
    return {
        "url": reverse("connections:data", args=[connection.pk]),
        "download_url": reverse("connections:data_download", args=[connection.pk]),
        "form": form,
        "preview": shown,
        "next_query": next_query,
    }


def _require_read_data(request: HttpRequest) -> None:
    if not reads.can_read_data(request.user):
        raise PermissionDenied


def _page_number(raw: str | None) -> int:
    if raw and raw.isascii() and raw.isdecimal() and len(raw) <= 7:
        return max(1, min(int(raw), MAX_PAGE_NUMBER))
    return 1


def _render_data(
    request: HtmxHttpRequest,
    connection: Connection,
    data: dict[str, Any],
    *,
    partial: str,
    status: int = 200,
) -> HttpResponse:
    context = {"connection": connection, "data": data}
    if request.htmx and not request.htmx.history_restore_request:
        response = render(request, f"{DETAIL_TEMPLATE}#{partial}", context, status=status)
    else:
        context["events"] = selectors.connection_history(connection=connection)
        response = render(request, DETAIL_TEMPLATE, context, status=status)
    patch_vary_headers(response, ("HX-Request",))
    return response


@require_GET
@permission_required("connections.view_connection", raise_exception=True)
def connection_data(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Show the Data section's fields for a resource, or preview what it reads from Okendo."""
    _require_read_data(request)
    connection = _get_connection(pk)
    params = request.GET
    if "change" in params or "resource" not in params:
        initial = {name: params.get(name, "")[:254] for name in preview.PARAMETER_NAMES}
        form = preview.DataForm(initial=initial, api_type=connection.api_type)
        return _render_data(
            request, connection, _data_context(connection, form), partial="data-fields"
        )
    form = preview.DataForm(params, api_type=connection.api_type)
    if not form.is_valid():
        response = _render_data(
            request, connection, _data_context(connection, form), partial="data-fields"
        )
        if request.htmx:
            # Errors belong beside their fields: the fields replace themselves, not the result.
            retarget(reswap(response, "outerHTML"), "#data-fields")
        return response
    status_before = connection.status
    shown = preview.read(
        form=form,
        connection=connection,
        actor=request.user,
        cursor=params.get("cursor"),
        page=_page_number(params.get("page")),
    )
    response = _render_data(
        request, connection, _data_context(connection, form, shown), partial="data-result"
    )
    if request.htmx and connection.status != status_before:
        # A 401 marked the connection Offline and wrote history: show it without a reload.
        response.content += render_to_string(
            f"{DETAIL_TEMPLATE}#history",
            {"events": selectors.connection_history(connection=connection), "oob": True},
            request=request,
        ).encode()
    return response


@require_GET
@permission_required("connections.view_connection", raise_exception=True)
def connection_data_download(
    request: HtmxHttpRequest, pk: int
) -> HttpResponse | StreamingHttpResponse:
    """Stream every review the form selects as a JSONL or CSV file (an "exported" event).

    Pages are read from Okendo as the file is sent, so memory stays flat; a
    refusal before the first byte shows the page again with the outcome.
    """
    _require_read_data(request)
    connection = _get_connection(pk)
    form = preview.DataForm(request.GET, api_type=connection.api_type)
    fmt = request.GET.get("format", "")
    refused: preview.Preview | None = None
    if form.is_valid() and not form.is_reviews:
        refused = preview.Preview(
            resource=form.selected,
            outcome="misconfigured",
            message="Only reviews can be downloaded; choose a review resource.",
        )
    elif form.is_valid() and fmt not in reads.ExportFormat.__members__.values():
        refused = preview.Preview(
            resource=form.selected,
            outcome="misconfigured",
            message="Choose a file format: JSONL or CSV.",
        )
    elif form.is_valid():
        export_format = reads.ExportFormat(fmt)
        try:
            stream = reads.review_export_stream(
                connection=connection,
                actor=request.user,
                fmt=export_format,
                scope=form.scope(),
                query=form.query(),
            )
        except reads.ReadFailed as exc:
            refused = preview.Preview(
                resource=form.selected, outcome=str(exc.outcome), message=exc.message
            )
        else:
            response = StreamingHttpResponse(
                stream, content_type=EXPORT_CONTENT_TYPES[export_format]
            )
            stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
            filename = f"okendo-{form.selected.value.replace('_', '-')}-{pk}-{stamp}.{fmt}"
            response["Content-Disposition"] = content_disposition_header(True, filename) or ""
            response["Cache-Control"] = "no-store"  # reviewers' names and emails
            return response
    data = _data_context(connection, form, refused)
    context = {
        "connection": connection,
        "data": data,
        "events": selectors.connection_history(connection=connection),
    }
    return render(request, DETAIL_TEMPLATE, context, status=400)


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
