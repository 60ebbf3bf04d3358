"""The site's URLs plus the bench-only signed-in baseline (see bench_settings.py)."""

from django.http import HttpRequest, HttpResponse
from django.urls import path
from load_common import SIGNED_IN_PATH

from okendo_site.urls import urlpatterns as site_urlpatterns


def signed_in(request: HttpRequest) -> HttpResponse:
    """Answer ``ok`` to a signed-in user: what every page pays to recognise the user, no more.

    LoginRequiredMiddleware sends anyone else to sign in, as it does for the pages.
    """
    return HttpResponse("ok", content_type="text/plain; charset=utf-8")


urlpatterns = [*site_urlpatterns, path(SIGNED_IN_PATH.lstrip("/"), signed_in)]
