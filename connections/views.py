"""Views: parse the request, call a service or selector, render or redirect."""

from __future__ import annotations

from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from connections.models import Connection


@permission_required("connections.view_connection", raise_exception=True)
def connection_list(request: HttpRequest) -> HttpResponse:
    """Show the connections, newest changes first."""
    connections = Connection.objects.order_by("name")[:50]
    return render(request, "connections/connection_list.html", {"connections": connections})
