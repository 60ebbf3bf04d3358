"""Sign-in redirects that bring people back to the page they were on, htmx requests included.

Django's ``LoginRequiredMiddleware`` and the admin answer a signed-out request
with a 302 to the login page whose ``next`` is the request's own path. Two
kinds of request cannot use that:

* htmx requests: htmx follows the 302 itself and swaps the whole login page
  into the result box. They get ``HX-Redirect`` instead (django-htmx's
  ``HttpResponseClientRedirect``), so the browser goes to the login page.
* POSTs (a form or an htmx button): their path (``/connections/test/``) only
  answers POST, so coming back there after sign-in was a 405.

For both, ``next`` becomes the page the person was looking at: the
``HX-Current-URL`` header for htmx, the ``Referer`` for a plain POST, when it
is on this site; a POST-only URL is mapped to the page that posts to it.
Django's auth machinery is untouched: this only rewrites its redirect.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

from django.conf import settings
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import resolve_url
from django.urls import NoReverseMatch, Resolver404, resolve, reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django_htmx.http import HttpResponseClientRedirect

# Views that only answer POST, and the page whose form or button posts to each.
_POST_ONLY_PAGES: dict[str, Callable[[dict[str, str], dict[str, list[str]]], str]] = {
    "connections:test": lambda kwargs, query: (
        reverse("connections:edit", args=[query["connection"][0]])
        if query.get("connection", [""])[0].isdecimal()
        else reverse("connections:create")
    ),
    "connections:test_saved": lambda kwargs, query: reverse(
        "connections:detail", args=[kwargs["pk"]]
    ),
    "admin:connections_connection_test": lambda kwargs, query: reverse(
        "admin:connections_connection_change", args=[kwargs["object_id"]]
    ),
}


def page_to_return_to(request: HttpRequest, url: str | None) -> str:
    """Return ``url`` as a path on this site that answers GET, or '' when there is none.

    ``url`` is absolute or a path (``HX-Current-URL``, ``Referer``, ``next``);
    another host or scheme gives ''. A POST-only path gives the page that posts
    to it, and sign-out gives ''.
    """
    if not url or not url_has_allowed_host_and_scheme(
        url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return ""
    parts = urlsplit(url)
    path = parts.path or "/"
    try:
        match = resolve(path)
    except Resolver404:
        return ""
    if match.view_name == "logout":
        return ""
    page = _POST_ONLY_PAGES.get(match.view_name)
    if page is not None:
        try:
            return page(match.kwargs, parse_qs(parts.query))
        except (KeyError, NoReverseMatch):
            return ""
    return f"{path}?{parts.query}" if parts.query else path


def _login_paths() -> set[str]:
    return {resolve_url(settings.LOGIN_URL), reverse("admin:login")}


class LoginRedirectMiddleware:
    """Turn sign-in redirects of htmx requests and POSTs into ones a browser can come back from.

    Place it after ``django_htmx.middleware.HtmxMiddleware``.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        is_htmx = bool(getattr(request, "htmx", False))
        if response.status_code != 302 or not (is_htmx or request.method == "POST"):
            return response
        location = urlsplit(response.get("Location", ""))
        # Only redirect_to_login's redirects carry ``next``; sign-out's does not.
        if location.path not in _login_paths() or REDIRECT_FIELD_NAME not in parse_qs(
            location.query
        ):
            return response
        if is_htmx:
            source = request.headers.get("HX-Current-URL")
        else:
            source = request.headers.get("Referer")
        page = page_to_return_to(request, source) or page_to_return_to(
            request, request.get_full_path()
        )
        login = redirect_to_login(page, login_url=location.path) if page else None
        url = login["Location"] if login is not None else location.path
        if is_htmx:
            # htmx would follow a 302 itself and swap the login page into the result box.
            return HttpResponseClientRedirect(url)
        response["Location"] = url
        return response
