"""Views: parse the request, call a service or selector, render or redirect."""

from __future__ import annotations

import copy
from typing import Any
from urllib.parse import quote

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods
from django_htmx.middleware import HtmxDetails

from connections import selectors, services
from connections.forms import ConnectionForm
from connections.models import Connection

PAGE_SIZE = 50
FORM_TEMPLATE = "connections/connection_form.html"


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
    page = Paginator(selectors.connection_list(search=search, sort=sort), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    # An empty page asks one more question: is it the search, or are there none at all?
    has_any = bool(page.object_list) or (bool(search) and selectors.connection_exists_any())
    return render(
        request,
        "connections/connection_list.html",
        {
            "page": page,
            "connections": page.object_list,
            "search": search,
            "sort": sort,
            "has_any": has_any,
            "sort_links": _sort_links(search=search, sort=sort),
        },
    )


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
) -> HttpResponse:
    context: dict[str, Any] = {
        "form": form,
        "connection": connection,
        "switch_url": request.path,
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
        form = ConnectionForm(api_type=request.GET.get("api_type"))
        return _render_form(request, form, connection=None)
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
        form = ConnectionForm(instance=connection, api_type=request.GET.get("api_type"))
        return _render_form(request, form, connection=connection)
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
    return render(
        request,
        "connections/connection_detail.html",
        {
            "connection": connection,
            "events": selectors.connection_history(connection=connection),
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
