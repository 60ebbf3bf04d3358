"""The API's one error shape, for every 4xx::

    {"detail": "One sentence saying what went wrong.",
     "errors": {"field": ["message", …], "non_field_errors": ["message", …]}}

``errors`` is empty unless the request body had invalid fields; its messages are
the connection form's own. Never a value that was sent: secrets must not echo.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, JsonResponse
from django.urls import Resolver404, resolve
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

NON_FIELD_ERRORS = "non_field_errors"
INVALID_DETAIL = "The request has invalid fields: see errors."


def error_body(detail: str, errors: dict[str, list[str]] | None = None) -> dict[str, Any]:
    """Return the API's error body: a sentence and the messages per field."""
    return {"detail": detail, "errors": errors or {}}


def _field_errors(detail: Any) -> dict[str, list[str]]:
    """Flatten DRF's nested ``ValidationError.detail`` into {field: [message, …]}."""
    if isinstance(detail, dict):
        return {
            str(field): [str(message) for message in _messages(messages)]
            for field, messages in detail.items()
        }
    return {NON_FIELD_ERRORS: [str(message) for message in _messages(detail)]}


def _messages(value: Any) -> list[Any]:
    if isinstance(value, list | tuple):
        return [item for entry in value for item in _messages(entry)]
    if isinstance(value, dict):
        return [item for entry in value.values() for item in _messages(entry)]
    return [value]


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Answer DRF's exceptions (and Django's 404, 403 and ValidationError) in the error shape."""
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(
            exc.message_dict if hasattr(exc, "error_dict") else {NON_FIELD_ERRORS: exc.messages}
        )
    # A row deleted while the request ran (between reading it and the service's write).
    if isinstance(exc, Http404 | ObjectDoesNotExist):
        exc = exceptions.NotFound("No such connection.")
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        response.data = error_body(INVALID_DETAIL, _field_errors(exc.detail))
    else:
        detail = getattr(exc, "detail", "")
        response.data = error_body(str(detail) if not isinstance(detail, dict | list) else "")
    return response


@csrf_exempt  # it changes nothing, and must answer JSON to any method
def not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
    """Answer 404 in the error shape for any path under the API that matches no endpoint.

    Says so when the path only lacks its trailing slash (no redirect: a client
    following one would turn a POST into a GET).
    """
    detail = "No such endpoint. See /api/v1/docs/ for the API's paths."
    path = request.path_info
    if not path.endswith("/"):
        try:
            match = resolve(f"{path}/")
        except Resolver404:
            match = None
        if match is not None and match.func is not not_found:
            detail = f"No such endpoint: the API's paths end with a slash, as in {path}/."
    return JsonResponse(error_body(detail), status=status.HTTP_404_NOT_FOUND)
