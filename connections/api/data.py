"""The API's data endpoints: Okendo's records read through a saved connection.

A caller sends its API token, never the Okendo secret; this server decrypts the
connection's secret and asks Okendo (connections/reads.py does the reading,
the permission, the status and the history). Only the resources and parameters
listed here are forwarded: no arbitrary paths, no client headers. Ids and
parameters are checked (connections/okendo.py's parsers) before any request.

Paths, under ``/api/v1/connections/{id}/``:

- ``reviews/`` (Merchant, Storefront), ``products/{product_id}/reviews/`` and
  ``groups/{group_id}/reviews/`` (Storefront): ``{"reviews": [...], "next":
  URL|null, "next_cursor": str|null}``; ``limit``, ``orderBy``, ``status``
  (Merchant) and ``cursor``.
- ``review-aggregate/``, ``products/{product_id}/review-aggregate/``,
  ``groups/{group_id}/review-aggregate/`` (Storefront): Okendo's aggregate object.
- ``customers/?email=`` and ``loyalty-customers/?email=`` (Merchant).
- ``reviews/export/?format=jsonl|csv``: every review, streamed.

``next_cursor`` is opaque: Okendo's ``lastEvaluated`` signed (django.core.signing)
together with the connection id, the listing and its parameters, so it cannot
be forged nor moved to another connection or listing.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from django.core import signing
from django.http import Http404, StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, renderers, serializers, status
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from connections import reads
from connections.models import Connection
from connections.okendo import (
    RESOURCES,
    STORE,
    ApiType,
    InvalidRequest,
    Outcome,
    Resource,
    ReviewQuery,
    ReviewScope,
    parse_email,
)

from .errors import error_body
from .serializers import ErrorSerializer
from .views import MAX_ID

logger = logging.getLogger(__name__)

CURSOR_SALT = "connections.api.review-cursor"
# A cursor older than this is refused: Okendo's own cursors do not live for ever either.
CURSOR_MAX_AGE_SECONDS = 24 * 60 * 60
# Parameters this API reads itself; the rest go to ReviewQuery.from_params, which refuses strangers.
_OWN_PARAMS = ("cursor", "format")

# What a refusal from Okendo (or this side) answers: the outcome word picks the status.
OUTCOME_STATUS: dict[Outcome, int] = {
    Outcome.AUTH_FAILED: status.HTTP_502_BAD_GATEWAY,
    Outcome.FORBIDDEN: status.HTTP_502_BAD_GATEWAY,
    Outcome.NOT_FOUND: status.HTTP_404_NOT_FOUND,
    Outcome.RATE_LIMITED: status.HTTP_503_SERVICE_UNAVAILABLE,
    Outcome.UNAVAILABLE: status.HTTP_502_BAD_GATEWAY,
    Outcome.UNEXPECTED: status.HTTP_502_BAD_GATEWAY,
    Outcome.MISCONFIGURED: status.HTTP_409_CONFLICT,
}


class ReadDataPermission(BasePermission):
    """Require a signed-in user with ``view_connection`` and ``connections.read_data``.

    View and change are not enough: reviews carry reviewers' names and emails.
    """

    def has_permission(self, request: Request, view: APIView) -> bool:
        user = request.user
        return bool(
            user
            and user.is_authenticated
            and user.has_perm("connections.view_connection")
            and reads.can_read_data(user)
        )


class ReadFailedError(exceptions.APIException):
    """Okendo refused a read, or it could not be made: the outcome word and the sentence."""

    def __init__(self, failure: reads.ReadFailed) -> None:
        super().__init__(detail=failure.message)
        self.status_code = OUTCOME_STATUS.get(failure.outcome, status.HTTP_502_BAD_GATEWAY)
        self.outcome = str(failure.outcome)


class ReadErrorSerializer(ErrorSerializer):
    """The error shape plus, when Okendo refused or the read could not be made, its outcome word."""

    outcome = serializers.ChoiceField(
        choices=[str(o) for o in Outcome if o is not Outcome.OK],
        required=False,
        help_text="Set on 404 (not found at Okendo), 409, 502 and 503: why the read failed.",
    )


class ReviewPageSerializer(serializers.Serializer):
    """One page of reviews as Okendo sent them, and how to ask for the next."""

    reviews = serializers.ListField(child=serializers.DictField(), help_text="Okendo's reviews.")
    next = serializers.URLField(allow_null=True, help_text="The next page's URL, or null.")
    next_cursor = serializers.CharField(
        allow_null=True, help_text="Opaque; pass back as ?cursor= with the same parameters."
    )


class ReviewParams(serializers.Serializer):
    """The review listing's parameters (checked by connections.okendo.ReviewQuery)."""

    limit = serializers.IntegerField(
        required=False, help_text="1-100 (Merchant), 1-25 (Storefront)."
    )
    orderBy = serializers.CharField(
        required=False, help_text="date desc|date asc|rating desc|rating asc (and Storefront's)."
    )
    status = serializers.ChoiceField(
        choices=["approved", "pending", "rejected"], required=False, help_text="Merchant only."
    )
    cursor = serializers.CharField(required=False, help_text="next_cursor of the previous page.")


def _errors(*codes: int) -> dict[int, OpenApiResponse]:
    descriptions = {
        400: "An invalid id or parameter, a forged cursor, or a resource the type lacks.",
        401: "No credentials, or an invalid, expired or revoked token.",
        403: "The user lacks view_connection or read_data.",
        404: "No such connection, or Okendo found nothing (with outcome).",
        409: "The connection cannot be read as saved (outcome misconfigured).",
        429: "Too many requests for this token: see Retry-After.",
        502: "Okendo refused the read or could not be reached (with outcome).",
        503: "Okendo kept limiting requests (outcome rate_limited).",
    }
    return {
        code: OpenApiResponse(ReadErrorSerializer, description=descriptions[code]) for code in codes
    }


DATA_ERRORS = _errors(400, 401, 403, 404, 409, 429, 502, 503)
PRODUCT_ID = OpenApiParameter(
    "product_id",
    {"type": "string", "pattern": "^[0-9]{1,20}$"},
    OpenApiParameter.PATH,
    description="Numeric Shopify product id (ASCII digits).",
)
GROUP_ID = OpenApiParameter(
    "group_id",
    {
        "type": "string",
        "pattern": "^([0-9]{1,20}|[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12})$",
    },
    OpenApiParameter.PATH,
    description="Okendo group UUID or numeric Shopify collection id.",
)
CONNECTION_ID = OpenApiParameter(
    "id", OpenApiTypes.INT, OpenApiParameter.PATH, description="The connection's id."
)
EMAIL = OpenApiParameter("email", OpenApiTypes.EMAIL, required=True)


def invalid(message: str) -> exceptions.ValidationError:
    """Return a 400 carrying ``message`` as a non-field error."""
    return exceptions.ValidationError({"non_field_errors": [message]})


class DataView(APIView):
    """Shared by the data endpoints: the connection, the checks and the error answers."""

    permission_classes = [ReadDataPermission]
    resource: Resource

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, reads.ReadFailed):
            exc = ReadFailedError(exc)
        response = super().handle_exception(exc)
        if isinstance(exc, ReadFailedError):
            response.data = {**error_body(str(exc.detail)), "outcome": exc.outcome}
            # Say what Okendo answered; django.request logs the 5xx status itself.
            logger.warning(
                "API read of connection %s answered %s: %s",
                self.kwargs.get("pk"),
                response.status_code,
                exc.outcome,
            )
        return response

    def perform_content_negotiation(self, request: Request, force: bool = False) -> Any:
        try:
            return super().perform_content_negotiation(request, force)
        except Http404:
            # DRF answers an unknown ?format= with 404 ("no such connection" here): it is
            # a bad parameter.
            formats = " or ".join(renderer.format for renderer in self.get_renderers())
            raise invalid(f"The format must be {formats}.") from None

    def connection(self) -> Connection:
        """Return the connection in the path; 404 unless it exists, 400 if its type lacks this."""
        raw = str(self.kwargs.get("pk", ""))
        if not (raw.isascii() and raw.isdecimal()) or int(raw) > MAX_ID:
            raise Http404
        try:
            connection = Connection.objects.get(pk=int(raw))
        except Connection.DoesNotExist:
            raise Http404 from None
        api_type = ApiType(connection.api_type)
        if self.resource not in RESOURCES[api_type]:
            label = "Merchant" if api_type is ApiType.MERCHANT else "Storefront"
            what = self.resource.value.replace("_", " ")
            raise invalid(f"A {label} connection cannot read {what}.")
        return connection

    def scope(self) -> ReviewScope:
        """Return the scope named by the path's product or group id; 400 if either is bad."""
        try:
            return ReviewScope(
                product_id=self.kwargs.get("product_id"), group_id=self.kwargs.get("group_id")
            )
        except InvalidRequest as exc:
            raise invalid(exc.reason) from None

    def query(self, connection: Connection) -> ReviewQuery:
        """Return the review parameters of the query string; 400 for a stranger or a bad value."""
        params = _single_values(self.request.query_params, skip=_OWN_PARAMS)
        try:
            return ReviewQuery.from_params(params, api_type=connection.api_type)
        except InvalidRequest as exc:
            raise invalid(exc.reason) from None


def _single_values(params: Any, *, skip: tuple[str, ...]) -> dict[str, str]:
    values: dict[str, str] = {}
    for name in params:
        if name in skip:
            continue
        sent = params.getlist(name)
        if len(sent) != 1:
            raise invalid(f"Send the parameter {name!r} once.")
        values[name] = sent[0]
    return values


# --- The cursor -------------------------------------------------------------------------


def _listing(connection: Connection, scope: ReviewScope, query: ReviewQuery) -> dict[str, Any]:
    return {"id": connection.pk, "r": scope.resource.value, **scope.details(), **query.details()}


def cursor_sign(okendo_cursor: str, listing: Mapping[str, Any]) -> str:
    """Return the opaque cursor for ``okendo_cursor`` bound to ``listing`` (connection, scope,
    parameters), signed with SECRET_KEY (django.core.signing, HMAC-SHA256)."""
    return signing.dumps({"c": okendo_cursor, "l": dict(listing)}, salt=CURSOR_SALT, compress=True)


def cursor_open(value: str, listing: Mapping[str, Any]) -> str:
    """Return the Okendo cursor inside ``value``; 400 unless this API signed it for ``listing``."""
    try:
        payload = signing.loads(value, salt=CURSOR_SALT, max_age=CURSOR_MAX_AGE_SECONDS)
    except signing.BadSignature:
        payload = None
    if (
        not isinstance(payload, dict)
        or payload.get("l") != dict(listing)
        or not isinstance(payload.get("c"), str)
    ):
        raise invalid(
            "The cursor is not one this API handed out for this listing (or it is older than "
            "a day); start again without it."
        )
    return str(payload["c"])


# --- Endpoints --------------------------------------------------------------------------


class ReviewsView(DataView):
    """One page of reviews of the store, a product or a group."""

    resource = Resource.REVIEWS

    @extend_schema(
        operation_id="connections_reviews",
        summary="A page of reviews, read through the connection",
        description="Merchant and Storefront. Needs view_connection and read_data; "
        "each read is a history event (never the data).",
        parameters=[CONNECTION_ID, ReviewParams],
        responses={200: ReviewPageSerializer, **DATA_ERRORS},
    )
    def get(self, request: Request, pk: str, **kwargs: str) -> Response:
        scope = self.scope()
        self.resource = scope.resource
        connection = self.connection()
        query = self.query(connection)
        listing = _listing(connection, scope, query)
        sent = request.query_params.getlist("cursor")
        if len(sent) > 1:
            raise invalid("Send the parameter 'cursor' once.")
        cursor = cursor_open(sent[0], listing) if sent else None
        page = reads.reviews_page(
            connection=connection,
            actor=request.user,
            scope=scope,
            query=query,
            cursor=cursor,
            record=True,
        )
        next_cursor = next_url = None
        if page.next_cursor is not None:
            next_cursor = cursor_sign(page.next_cursor, listing)
            params = {**query_params(query), "cursor": next_cursor}
            next_url = request.build_absolute_uri(request.path) + "?" + urlencode(params)
        return Response({"reviews": page.reviews, "next": next_url, "next_cursor": next_cursor})


def query_params(query: ReviewQuery) -> dict[str, Any]:
    """Return ``query`` as this API's (and Okendo's) parameter names."""
    return query.details()


class ProductReviewsView(ReviewsView):
    resource = Resource.PRODUCT_REVIEWS

    @extend_schema(
        operation_id="connections_product_reviews",
        summary="A page of a product's reviews (Storefront)",
        parameters=[CONNECTION_ID, PRODUCT_ID, ReviewParams],
        responses={200: ReviewPageSerializer, **DATA_ERRORS},
    )
    def get(self, request: Request, pk: str, **kwargs: str) -> Response:
        return super().get(request, pk, **kwargs)


class GroupReviewsView(ReviewsView):
    resource = Resource.GROUP_REVIEWS

    @extend_schema(
        operation_id="connections_group_reviews",
        summary="A page of a group's reviews (Storefront)",
        parameters=[CONNECTION_ID, GROUP_ID, ReviewParams],
        responses={200: ReviewPageSerializer, **DATA_ERRORS},
    )
    def get(self, request: Request, pk: str, **kwargs: str) -> Response:
        return super().get(request, pk, **kwargs)


AGGREGATE = OpenApiResponse(OpenApiTypes.OBJECT, description="Okendo's reviewAggregate object.")


class ReviewAggregateView(DataView):
    """The review aggregate of the store, a product or a group (Storefront)."""

    resource = Resource.REVIEW_AGGREGATE

    @extend_schema(
        operation_id="connections_review_aggregate",
        summary="The store's review aggregate (Storefront)",
        parameters=[CONNECTION_ID],
        responses={200: AGGREGATE, **DATA_ERRORS},
    )
    def get(self, request: Request, pk: str, **kwargs: str) -> Response:
        scope = self.scope()
        self.resource = scope.aggregate_resource
        connection = self.connection()
        if request.query_params.keys() - {"format"}:
            raise invalid("This endpoint takes no parameters.")
        aggregate = reads.review_aggregate(
            connection=connection, actor=request.user, scope=scope, record=True
        )
        return Response(aggregate)


class ProductReviewAggregateView(ReviewAggregateView):
    @extend_schema(
        operation_id="connections_product_review_aggregate",
        summary="A product's review aggregate (Storefront)",
        parameters=[CONNECTION_ID, PRODUCT_ID],
        responses={200: AGGREGATE, **DATA_ERRORS},
    )
    def get(self, request: Request, pk: str, **kwargs: str) -> Response:
        return super().get(request, pk, **kwargs)


class GroupReviewAggregateView(ReviewAggregateView):
    @extend_schema(
        operation_id="connections_group_review_aggregate",
        summary="A group's review aggregate (Storefront)",
        parameters=[CONNECTION_ID, GROUP_ID],
        responses={200: AGGREGATE, **DATA_ERRORS},
    )
    def get(self, request: Request, pk: str, **kwargs: str) -> Response:
        return super().get(request, pk, **kwargs)


class CustomerView(DataView):
    """The customer with an email address (Merchant); the address is never kept in history."""

    resource = Resource.CUSTOMER

    def email(self) -> str:
        """Return the one ``email`` parameter, checked; 400 otherwise."""
        params = _single_values(self.request.query_params, skip=("format",))
        if set(params) != {"email"}:
            raise invalid("Send one parameter, email.")
        try:
            return parse_email(params["email"])
        except InvalidRequest as exc:
            raise invalid(exc.reason) from None

    @extend_schema(
        operation_id="connections_customer",
        summary="A customer by email (Merchant)",
        parameters=[CONNECTION_ID, EMAIL],
        responses={
            200: OpenApiResponse(OpenApiTypes.OBJECT, description="Okendo's customer."),
            **DATA_ERRORS,
        },
    )
    def get(self, request: Request, pk: str) -> Response:
        connection = self.connection()
        email = self.email()
        return Response(
            reads.customer(connection=connection, actor=request.user, email=email, record=True)
        )


class LoyaltyCustomerView(CustomerView):
    """The loyalty customer with an email address (Merchant, stores with Okendo Loyalty)."""

    resource = Resource.LOYALTY_CUSTOMER

    @extend_schema(
        operation_id="connections_loyalty_customer",
        summary="A loyalty customer by email (Merchant)",
        description="502 with outcome forbidden when Loyalty is not enabled for the store.",
        parameters=[CONNECTION_ID, EMAIL],
        responses={
            200: OpenApiResponse(OpenApiTypes.OBJECT, description="Okendo's loyaltyCustomer."),
            **DATA_ERRORS,
        },
    )
    def get(self, request: Request, pk: str) -> Response:
        connection = self.connection()
        email = self.email()
        return Response(
            reads.loyalty_customer(
                connection=connection, actor=request.user, email=email, record=True
            )
        )


# --- Export -----------------------------------------------------------------------------


class JSONLinesRenderer(renderers.BaseRenderer):
    """One JSON object a line (JSON Lines, media type application/x-ndjson)."""

    media_type = "application/x-ndjson"
    format = "jsonl"
    charset = "utf-8"

    def render(self, data: Any, accepted_media_type: Any = None, renderer_context: Any = None):  # type: ignore[no-untyped-def]
        return renderers.JSONRenderer().render(data) + b"\n"


class CSVRenderer(renderers.BaseRenderer):
    """CSV with a header row (RFC 4180, media type text/csv)."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data: Any, accepted_media_type: Any = None, renderer_context: Any = None):  # type: ignore[no-untyped-def]
        return renderers.JSONRenderer().render(data)


class ReviewExportView(DataView):
    """Every review of the store, streamed page by page as JSON Lines or CSV."""

    resource = Resource.REVIEWS
    renderer_classes = [JSONLinesRenderer, CSVRenderer]

    def handle_exception(self, exc: Exception) -> Response:
        # Errors are JSON, whatever format the export was asked in.
        self.request.accepted_renderer = renderers.JSONRenderer()
        self.request.accepted_media_type = "application/json"
        return super().handle_exception(exc)

    @extend_schema(
        operation_id="connections_reviews_export",
        summary="Export every review (JSON Lines or CSV), streamed",
        description="Memory stays flat however many reviews; one history event per export.",
        parameters=[
            CONNECTION_ID,
            OpenApiParameter("format", OpenApiTypes.STR, enum=["jsonl", "csv"]),
            OpenApiParameter("orderBy", OpenApiTypes.STR),
            OpenApiParameter("status", OpenApiTypes.STR, enum=["approved", "pending", "rejected"]),
            OpenApiParameter("limit", OpenApiTypes.INT, description="Reviews a page."),
        ],
        responses={
            (200, "application/x-ndjson"): OpenApiTypes.STR,
            (200, "text/csv"): OpenApiTypes.STR,
            **{(code, "application/json"): r for code, r in DATA_ERRORS.items()},
        },
    )
    def get(self, request: Request, pk: str) -> StreamingHttpResponse:
        connection = self.connection()
        query = self.query(connection)
        if "cursor" in request.query_params:
            raise invalid("An export reads every page; it takes no cursor.")
        fmt = reads.ExportFormat(request.accepted_renderer.format)
        stream = reads.review_export_stream(
            connection=connection, actor=request.user, fmt=fmt, scope=STORE, query=query
        )
        response = StreamingHttpResponse(stream, content_type=f"{request.accepted_media_type}")
        if "charset" not in response["Content-Type"]:
            response["Content-Type"] += "; charset=utf-8"
        response["Content-Disposition"] = (
            f'attachment; filename="connection-{connection.pk}-reviews.{fmt.value}"'
        )
        response["Cache-Control"] = "no-store"
        return response
