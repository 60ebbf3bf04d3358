"""URL configuration: accounts, admin, the liveness probe, the favicon and the connections app."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView

from okendo_site import views

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="connections:list", permanent=False)),
    path("healthz", views.healthz, name="healthz"),
    path("favicon.ico", views.favicon, name="favicon"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    # Before admin/: the pages requested most are matched without trying admin's.
    path("connections/", include("connections.urls")),
    path("api/v1/", include("connections.api.urls")),
    path("accounts/api-tokens/", include("connections.api.token_urls")),
    path("admin/", admin.site.urls),
]
