"""The "API tokens" page, at ``/accounts/api-tokens/``."""

from django.urls import path

from . import token_views

app_name = "api_tokens"

urlpatterns = [
    path("", token_views.token_list, name="list"),
    path("<str:token_key>/revoke/", token_views.token_revoke, name="revoke"),
]
