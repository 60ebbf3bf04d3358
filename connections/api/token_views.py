"""The "API tokens" page: create a token (shown once), list them, revoke one."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_http_methods, require_POST

from . import tokens

TEMPLATE = "api/tokens.html"


class TokenForm(forms.Form):
    """What a new token needs: a note saying what uses it, and how long it lives."""

    name = forms.CharField(
        label="What uses it",
        required=False,
        max_length=100,
        help_text="e.g. “Nightly sync script”, so you can tell your tokens apart.",
    )
    days = forms.TypedChoiceField(label="Expires after", coerce=int)

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        field = self.fields["days"]
        assert isinstance(field, forms.TypedChoiceField)
        field.choices = [(days, f"{days} days") for days in tokens.expiry_choices()]
        self.fields["name"].widget.attrs.update({"autocomplete": "off"})
        self.initial.setdefault("days", tokens.expiry_choices()[-2])


@require_http_methods(["GET", "POST"])
def token_list(request: HttpRequest) -> HttpResponse:
    """List the signed-in user's tokens; on POST create one and show it this once."""
    created = ""
    form = TokenForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        _, created = tokens.api_token_create(
            user=request.user,  # type: ignore[arg-type]  # LoginRequiredMiddleware
            name=form.cleaned_data["name"],
            days=form.cleaned_data["days"],
        )
        form = TokenForm()
    response = render(
        request,
        TEMPLATE,
        {
            "form": form,
            "created": created,
            "tokens": tokens.api_tokens_of(request.user),  # type: ignore[arg-type]
            "now": timezone.now(),
        },
    )
    # The page may show a token: never keep it in a browser or proxy cache.
    add_never_cache_headers(response)
    return response


@require_POST
def token_revoke(request: HttpRequest, token_key: str) -> HttpResponse:
    """Revoke one of the signed-in user's tokens: scripts using it get 401 from now on."""
    if tokens.api_token_revoke(user=request.user, token_key=token_key):  # type: ignore[arg-type]
        messages.success(
            request, f"Token {token_key}… revoked. Scripts using it can no longer sign in."
        )
    else:
        messages.error(request, "No such token: it may have been revoked already.")
    return redirect("api_tokens:list")
