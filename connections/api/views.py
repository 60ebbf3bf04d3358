"""The REST API for connections: thin views over the form's validation and the services.

Paths (under ``/api/v1/``), permissions and bodies are described by the OpenAPI
schema at ``/api/v1/schema/`` and in docs/api.md.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.db.models.functions import Lower
from django.http import Http404
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import APIException
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response

from connections import selectors, services
from connections.models import Connection, ConnectionEvent
from connections.ratelimit import ConnectionTestInProgress
from connections.services import VIA_API

from . import authentication as _authentication  # noqa: F401 - registers the schema extension
from .serializers import (
    ConnectionPatchSerializer,
    ConnectionSerializer,
    ConnectionWriteSerializer,
    CredentialsTestSerializer,
    ErrorSerializer,
    EventSerializer,
    TestResultSerializer,
    connection_rows,
    test_result_body,
    with_usernames,
)

MAX_ID = 2**63 - 1  # the largest BigAutoField value: larger ids cannot even be queried
ORDERINGS: dict[str, tuple[Any, ...]] = {
    "name": (Lower("name"), "id"),
    "-name": (Lower("name").desc(), "-id"),
    "updated_at": ("updated_at", "id"),
    "-updated_at": ("-updated_at", "-id"),
}


def _errors(*codes: int) -> dict[int, OpenApiResponse]:
    descriptions = {
        400: "Invalid fields or query parameters.",
        401: "No credentials, or an invalid, expired or revoked token.",
        403: "The user lacks the model permission.",
        404: "No such connection (or page).",
        405: "Method not allowed.",
        409: "A test of this connection is already running.",
        415: "The body is not JSON.",
        429: "Too many requests for this token: see Retry-After.",
    }
    return {
        code: OpenApiResponse(ErrorSerializer, description=descriptions[code]) for code in codes
    }


READ_ERRORS = _errors(401, 403, 404, 405, 429)
WRITE_ERRORS = _errors(400, 401, 403, 404, 405, 415, 429)


class Page(PageNumberPagination):
    """50 connections (or events) a page, with ``count``, ``next`` and ``previous`` links."""

    page_size = 50


class ListQuery(serializers.Serializer):
    """The list's filters and ordering."""

    api_type = serializers.ChoiceField(choices=Connection.ApiType.values, required=False)
    status = serializers.ChoiceField(
        choices=Connection.Status.values,
        required=False,
        help_text="untested: never tested since its credentials were last set.",
    )
    search = serializers.CharField(
        required=False, allow_blank=True, trim_whitespace=True, help_text="Part of the name."
    )
    ordering = serializers.ChoiceField(choices=list(ORDERINGS), required=False, default="name")


class TestBusy(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = (
        "A test of this connection is already running. Wait a few seconds for its result."
    )
    default_code = "busy"


@extend_schema_view(
    list=extend_schema(
        summary="List connections",
        description="50 a page, filtered by type, status and name, ordered by name or update.",
        parameters=[ListQuery],
        responses={200: ConnectionSerializer(many=True), **_errors(400, 401, 403, 404, 405, 429)},
    ),
    create=extend_schema(
        summary="Create a connection",
        description="Merchant: user_id and api_key; Storefront: username and password. "
        "Checked by the connection form; a mask-like secret is refused.",
        request=ConnectionWriteSerializer,
        responses={201: ConnectionSerializer, **WRITE_ERRORS},
    ),
    retrieve=extend_schema(
        summary="Read a connection",
        description="The secret shows as its metadata only: when, by whom, fingerprint.",
        responses={200: ConnectionSerializer, **READ_ERRORS},
    ),
    update=extend_schema(
        summary="Replace a connection (the secret is required)",
        description="Every field, the secret included, as every save in the form. "
        "Another api_type erases the old type's User ID and secret.",
        request=ConnectionWriteSerializer,
        responses={200: ConnectionSerializer, **WRITE_ERRORS},
    ),
    partial_update=extend_schema(
        summary="Rename a connection, or replace its whole credential set",
        description="The name alone keeps the stored secret; any credential field (or "
        "another api_type) needs the type's account id and secret.",
        request=ConnectionPatchSerializer,
        responses={200: ConnectionSerializer, **WRITE_ERRORS},
    ),
    destroy=extend_schema(
        summary="Delete a connection (its history is kept)",
        description="Needs the delete permission.",
        responses={204: None, **READ_ERRORS},
    ),
)
class ConnectionViewSet(viewsets.GenericViewSet):
    """Connections: list, create, read, replace, rename, delete, test, history."""

    queryset = Connection.objects.all()
    serializer_class = ConnectionSerializer
    pagination_class = Page

    # --- Helpers --------------------------------------------------------------------

    def get_serializer_context(self) -> dict[str, Any]:
        context = super().get_serializer_context()
        list_url = reverse("api:connection-list")
        context["url_prefix"] = self.request.build_absolute_uri(list_url)
        return context

    def get_object(self) -> Connection:
        connection = Connection.objects.filter(pk=self._pk()).first()
        if connection is None:
            raise Http404
        return connection

    def _pk(self) -> int:
        """Return the id in the path; 404 unless it is one a row could have."""
        raw = str(self.kwargs.get("pk", ""))
        if not (raw.isascii() and raw.isdecimal()) or int(raw) > MAX_ID:
            raise Http404
        return int(raw)

    def _read(self, connection: Connection, code: int = status.HTTP_200_OK) -> Response:
        rows = with_usernames(connection_rows(Connection.objects.filter(pk=connection.pk)))
        return Response(self.get_serializer(rows[0]).data, status=code)

    def filtered_queryset(self, query: dict[str, Any]) -> QuerySet[Connection]:
        """Return the connections the list's filters select, in the asked order."""
        queryset = Connection.objects.all()
        if query.get("api_type"):
            queryset = queryset.filter(api_type=query["api_type"])
        if query.get("status"):
            queryset = queryset.filter(status=query["status"])
        queryset = queryset.filter(selectors.name_search(query.get("search", "")))
        return queryset.order_by(*ORDERINGS[query.get("ordering") or "name"])

    # --- Endpoints ------------------------------------------------------------------

    def list(self, request: Request) -> Response:
        query = ListQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        page = self.paginate_queryset(connection_rows(self.filtered_queryset(query.validated_data)))
        data = self.get_serializer(with_usernames(page or []), many=True).data
        return self.get_paginated_response(data)

    @sensitive_variables("serializer")
    def create(self, request: Request) -> Response:
        serializer = ConnectionWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        connection = services.connection_create(
            actor=request.user, data=serializer.validated_data, via=VIA_API
        )
        response = self._read(connection, status.HTTP_201_CREATED)
        response["Location"] = response.data["url"]
        return response

    def retrieve(self, request: Request, pk: str) -> Response:
        rows = with_usernames(connection_rows(Connection.objects.filter(pk=self._pk())))
        if not rows:
            raise Http404
        return Response(self.get_serializer(rows[0]).data)

    @sensitive_variables("serializer")
    def update(self, request: Request, pk: str) -> Response:
        return self._update(request, partial=False)

    @sensitive_variables("serializer")
    def partial_update(self, request: Request, pk: str) -> Response:
        return self._update(request, partial=True)

    @sensitive_variables("serializer")
    def _update(self, request: Request, *, partial: bool) -> Response:
        connection = self.get_object()
        serializer_class = ConnectionPatchSerializer if partial else ConnectionWriteSerializer
        serializer = serializer_class(connection, data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        updated = services.connection_update(
            connection=connection, actor=request.user, data=serializer.validated_data, via=VIA_API
        )
        return self._read(updated)

    def destroy(self, request: Request, pk: str) -> Response:
        services.connection_delete(connection=self.get_object(), actor=request.user, via=VIA_API)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        operation_id="connections_test",
        summary="Test a saved connection against Okendo",
        description="Records the status and a history entry; needs the change permission.",
        request=None,
        responses={200: TestResultSerializer, **_errors(401, 403, 404, 405, 409, 429)},
    )
    @action(detail=True, methods=["post"])
    def test(self, request: Request, pk: str) -> Response:
        connection = self.get_object()
        try:
            result = services.connection_test(
                connection=connection, actor=request.user, via=VIA_API
            )
        except ConnectionTestInProgress:
            raise TestBusy from None
        tested_at = connection.last_tested_at or timezone.now()
        return Response(test_result_body(result, tested_at))

    @extend_schema(
        operation_id="connections_test_values",
        summary="Test typed credentials against Okendo without saving",
        description="Needs the add or the change permission. Nothing is stored.",
        request=CredentialsTestSerializer,
        responses={200: TestResultSerializer, **WRITE_ERRORS},
    )
    @sensitive_variables("serializer", "data")
    @action(detail=False, methods=["post"], url_path="test")
    def test_values(self, request: Request) -> Response:
        serializer = CredentialsTestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        result = services.credentials_test(
            api_type=data.api_type, account_id=data.account_id, secret=data.secret
        )
        return Response(test_result_body(result, timezone.now()))

    @extend_schema(
        summary="A connection's history, newest first",
        description="50 a page; writes made through the API carry details.via = 'api'.",
        parameters=[],
        responses={200: EventSerializer(many=True), **READ_ERRORS},
    )
    @action(detail=True, methods=["get"], serializer_class=EventSerializer)
    def events(self, request: Request, pk: str) -> Response:
        connection = self.get_object()
        events = ConnectionEvent.objects.filter(connection_uid=connection.uid).order_by(
            "-created_at", "-id"
        )
        page = self.paginate_queryset(events)
        return self.get_paginated_response(EventSerializer(page, many=True).data)
