"""Site-wide views: the liveness probe, the favicon and the sign-in lock-out page."""

from __future__ import annotations

from datetime import timedelta

from axes.helpers import get_cool_off
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.templatetags.static import static
from django.utils.cache import patch_cache_control
from django.views.decorators.http import require_safe


@login_not_required
@require_safe
def healthz(request: HttpRequest) -> HttpResponse:
    """Answer ``ok`` while the process serves requests, without touching the database.

    A load balancer polls this often; the database has its own monitoring, and
    a probe that fails with it would take every instance out at once.
    """
    response = HttpResponse("ok", content_type="text/plain; charset=utf-8")
    response["Cache-Control"] = "no-store"
    return response


@login_not_required
@require_safe
def favicon(request: HttpRequest) -> HttpResponse:
    """Redirect ``/favicon.ico``, which browsers ask for on their own, to the icon in static/.

    A temporary redirect kept a day: the target's name carries the file's hash
    in production, and a permanent redirect would outlive a new icon.
    """
    response = HttpResponseRedirect(static("favicon.svg"))
    patch_cache_control(response, public=True, max_age=24 * 60 * 60)
    return response


def locked_out(
    request: HttpRequest,
    response: HttpResponse | None = None,
    credentials: dict[str, object] | None = None,
) -> HttpResponse:
    """Render the calm lock-out page django-axes shows after too many failed sign-ins.

    Called by axes (``AXES_LOCKOUT_CALLABLE``) with the request, the response it
    replaces and the submitted credentials; only the request is used, so the
    username and password typed never reach the page.
    """
    cool_off: timedelta | None = get_cool_off(request)
    seconds = int(cool_off.total_seconds()) if cool_off else 0
    minutes = max(1, -(-seconds // 60))
    page = render(
        request,
        "registration/locked_out.html",
        {"minutes": minutes, "minutes_word": "minute" if minutes == 1 else "minutes"},
        status=429,
    )
    page["Retry-After"] = str(seconds)
    page["Cache-Control"] = "no-store"
    return page


# The length of django-axes' AccessAttempt.username and AccessFailureLog.username.
AXES_USERNAME_MAX_LENGTH = 255


def axes_username(request: HttpRequest, credentials: dict[str, object] | None = None) -> str | None:
    """Return the typed username for django-axes to count, cut to the length of its column.

    Axes records whatever was typed, and PostgreSQL refuses a value longer than
    the column: a 10 kB username turned the sign-in page into a server error.
    No real username is that long (Django's allow 150 characters).
    """
    field = getattr(settings, "AXES_USERNAME_FORM_FIELD", "username")
    username = credentials.get(field) if credentials else request.POST.get(field)
    return username[:AXES_USERNAME_MAX_LENGTH] if isinstance(username, str) else None
