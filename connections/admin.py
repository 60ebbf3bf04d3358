"""The Django admin for operators: the app's form, services and secret rules, in admin pages.

* Add and change use ``ConnectionForm`` (through :class:`ConnectionAdminForm`):
  the same validation, only the chosen API type's fields, secrets as empty
  password inputs re-entered on every save. Saving and deleting go through
  ``services``, so permissions are checked there too and every write leaves a
  ``ConnectionEvent``.
* The API type is switched by a GET of the same page with ``?api_type=…``:
  htmx swaps in the credentials fieldset; without JavaScript a "Change"
  button posts ``_change_type`` and the page comes back with the new fields.
* Ciphertext columns appear on no admin page: only the fingerprint and who set
  the secret when. Admin history (``LogEntry``) records field labels, never values.
* Staff without the change permission get read-only pages with no secret inputs.
"""

from __future__ import annotations

import copy
import uuid
from typing import Any, ClassVar

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.utils import quote, unquote
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import BadRequest, PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.db.models.constants import LOOKUP_SEP
from django.db.models.functions import Lower
from django.forms.models import BaseInlineFormSet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.loader import render_to_string
from django.urls import URLPattern, path, reverse
from django.utils import formats, timezone
from django.utils.decorators import method_decorator
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from connections import services
from connections.forms import CREDENTIAL_LABELS, WHERE_TO_FIND, ConnectionForm
from connections.models import Connection, ConnectionEvent, SecretField
from connections.okendo import Outcome
from connections.ratelimit import ConnectionTestInProgress
from connections.services import CREDENTIAL_FIELDS

# Events shown inline on a connection's page; the rest are one link away.
HISTORY_INLINE_LIMIT = 20
# "Test selected connections" starts no new test after this many seconds (one
# test can still take up to Okendo's timeouts), so the page answers before a
# proxy or gunicorn gives up. Larger runs: manage.py test_connections.
ACTION_TIME_BUDGET_SECONDS = 10.0
ACTION_MAX_CONNECTIONS = 50
HTMX_JS = "vendor/htmx-2.0.11.min.js"

_CREDENTIALS_CLASS = "okendo-credentials"
_STORED_FIELD: dict[SecretField, str] = {"api_key": "stored_api_key", "password": "stored_password"}
_HEALTH_FIELDS = ("status_badge", "last_tested_at", "last_test", "last_message")
_RECORD_FIELDS = ("uid", "created_at", "created_by", "updated_at", "all_events")
# Fields whose changes LogEntry may name: labels only, and never a secret's.
_LOGGED_FIELDS = ("name", "api_type", "user_id", "username")
_LEVEL_FOR: dict[Outcome, int] = {
    Outcome.OK: messages.SUCCESS,
    Outcome.AUTH_FAILED: messages.ERROR,
    Outcome.FORBIDDEN: messages.ERROR,
    Outcome.NOT_FOUND: messages.ERROR,
    Outcome.MISCONFIGURED: messages.ERROR,
}
# A constant: no user data in it.
_NOSCRIPT_CHANGE = mark_safe(
    '<noscript>Changed the API type? Show its fields first: <button type="submit" '
    'name="_change_type" value="1" class="button">Change</button></noscript>'
)
_STOREFRONT_NOTE = (
    "Okendo's Storefront API is public: Okendo does not check the password. It is stored "
    "encrypted for the systems that use this connection."
)


# Every empty value, as the app shows it; read-only callables return it themselves
# (the admin would show their None as "None").
EMPTY = "—"

# The admin names the product and shows every empty value as the app does.
admin.site.site_header = "Okendo connections"
admin.site.site_title = "Okendo connections admin"
admin.site.index_title = "Administration"
admin.site.empty_value_display = EMPTY


def _type_label(api_type: str) -> str:
    return "Merchant" if api_type == Connection.ApiType.MERCHANT else "Storefront"


class ConnectionAdminForm(ConnectionForm):
    """The app's connection form with admin widgets; the admin picks its API type.

    ``ConnectionAdmin.get_form`` subclasses it per request to set the class
    attributes below. It never saves: the admin hands ``connection_data()`` to
    the services.
    """

    chosen_api_type: ClassVar[str | None] = None
    switching: ClassVar[bool] = False
    switch_url: ClassVar[str] = ""

    class Media:
        js = (HTMX_JS,)

    def __init__(
        self,
        data: Any = None,
        files: Any = None,
        *,
        instance: Connection | None = None,
        **kwargs: Any,
    ) -> None:
        if self.switching:
            # The no-JavaScript "Change" button: an unbound form of the chosen type
            # that keeps the typed name; the credentials belonged to the other type.
            name = str((data or {}).get("name", ""))[:200]
            kwargs["initial"] = {**(kwargs.get("initial") or {}), "name": name}
            data = files = None
        if instance is not None and instance.pk is not None:
            # Validation writes typed values into the instance; the page's title and
            # the stored-secret notes must keep showing the saved row.
            instance = copy.copy(instance)
        super().__init__(data, files, instance=instance, api_type=self.chosen_api_type, **kwargs)
        for name in (self.account_field, self.secret_field):
            self.fields[name].widget.attrs["class"] = "vTextField"
        self.fields[self.account_field].widget.attrs["class"] = "vTextField okendo-uuid"
        api_type = self.fields["api_type"]
        api_type.help_text = _NOSCRIPT_CHANGE
        api_type.widget.attrs.update(
            {
                # A GET of this page with the new type; only its credentials fieldset
                # replaces ours, so the typed name stays.
                "hx-get": self.switch_url,
                "hx-select": f"fieldset.{_CREDENTIALS_CLASS}",
                "hx-target": f"fieldset.{_CREDENTIALS_CLASS}",
                "hx-swap": "outerHTML",
                "hx-sync": "#id_api_type:replace",
            }
        )

    def full_clean(self) -> None:
        super().full_clean()
        if (
            self.secret_field in self.fields
            and self.errors
            and self.secret_field not in self.errors
        ):
            # The other errors send the page back, and the typed secret never comes with it.
            # (Validation already made the bound field, which copied the help text.)
            self[self.secret_field].help_text = (
                f"Re-enter the {CREDENTIAL_LABELS[self.secret_field]}: secrets are never "
                "sent back to the browser."
            )


class _SaveRefused(Exception):
    """The services refused a save the form had accepted (a name taken meanwhile)."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__(" ".join(reasons))
        self.reasons = reasons


class _LatestEventsFormSet(BaseInlineFormSet):
    """Show only the latest events: a connection tested every 30 minutes has thousands."""

    def get_queryset(self) -> QuerySet[ConnectionEvent]:
        if not hasattr(self, "_latest"):
            self._latest = super().get_queryset()[:HISTORY_INLINE_LIMIT]
        return self._latest


class ConnectionEventInline(admin.TabularInline):
    model = ConnectionEvent
    formset = _LatestEventsFormSet
    fields = ("when", "action", "summary", "by")
    readonly_fields = fields
    ordering = ("-created_at", "-id")
    classes = ("okendo-history",)
    extra = 0
    max_num = 0
    can_delete = False
    verbose_name = "event"
    verbose_name_plural = f"History (latest {HISTORY_INLINE_LIMIT}, newest first)"

    @admin.display(description="When")
    def when(self, obj: ConnectionEvent) -> str:
        # Read-only callables are shown as text: format the date as the admin does.
        return str(formats.localize(timezone.localtime(obj.created_at)))

    @admin.display(description="By")
    def by(self, obj: ConnectionEvent) -> str:
        # A read-only callable's None would be shown as "None": it says "—" itself.
        return obj.actor_name or EMPTY

    # The history is part of the connection: whoever may view it sees its events.
    def has_view_permission(self, request: HttpRequest, obj: Connection | None = None) -> bool:
        return request.user.has_perm("connections.view_connection") or super().has_view_permission(
            request, obj
        )

    def has_add_permission(self, request: HttpRequest, obj: Connection | None) -> bool:  # type: ignore[override]
        return False

    def has_change_permission(self, request: HttpRequest, obj: Connection | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Connection | None = None) -> bool:
        return False


class _ChangeList(ChangeList):
    def get_filters(self, request: HttpRequest) -> Any:
        try:
            return super().get_filters(request)
        except (ValueError, OverflowError) as exc:
            # Django checks only part of the date drill-down: a year of 9999 or of
            # twenty digits was a server error. Answer as for any other bad filter.
            raise IncorrectLookupParameters(exc) from exc


class _StrictListMixin:
    """Take from the list's URL only what its filters offer, and nothing PostgreSQL refuses.

    Django's admin accepts a lookup on any of the model's own fields from the URL:
    ``?name__regex=(`` was a server error, and ``?api_key_encrypted__startswith=``
    an oracle on ciphertext that no page shows.
    """

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest | None = None) -> bool:
        field, *rest = lookup.split(LOOKUP_SEP)
        offered = {getattr(self, "date_hierarchy", None)}
        # A field name, (field, filter class), or a filter class with its parameter.
        for item in getattr(self, "list_filter", ()):
            offered.add(item if isinstance(item, str) else getattr(item, "parameter_name", None))
            offered.add(item[0] if isinstance(item, tuple) else None)
        if field not in offered or any(part in ("regex", "iregex") for part in rest):
            return False
        return super().lookup_allowed(lookup, value, request)  # type: ignore[misc]

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return _ChangeList

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        if any("\x00" in value for _, values in request.GET.lists() for value in values):
            raise BadRequest("NUL in the query string.")  # PostgreSQL refuses it in a query
        return super().changelist_view(request, extra_context)  # type: ignore[misc]


@admin.register(Connection)
class ConnectionAdmin(_StrictListMixin, admin.ModelAdmin):
    form = ConnectionAdminForm
    # Fits 1280 px beside the filters; the rest is on the change page.
    list_display = ("name_short", "api_type_label", "status_badge", "last_tested")
    list_display_links = ("name_short",)
    list_filter = ("api_type", "status")
    search_fields = ("name", "user_id", "username")
    date_hierarchy = "updated_at"
    readonly_fields = (*_STORED_FIELD.values(), *_HEALTH_FIELDS, *_RECORD_FIELDS)
    inlines = (ConnectionEventInline,)
    actions = ("test_selected",)
    radio_fields = {"api_type": admin.VERTICAL}

    # --- Which form, which fields ---------------------------------------------

    def _switching(self, request: HttpRequest) -> bool:
        return request.method == "POST" and "_change_type" in request.POST

    def _chosen_api_type(self, request: HttpRequest, obj: Connection | None) -> str:
        """Return the API type this request's form has, decided as ConnectionForm decides it."""
        if request.method == "POST":
            switching = self._switching(request)
            requested = request.POST.get("api_type") if switching else None
            data = None if switching else request.POST
        else:
            requested, data = request.GET.get("api_type"), None
        return ConnectionForm(data, instance=obj, api_type=requested).selected_type

    def get_fieldsets(self, request: HttpRequest, obj: Connection | None = None) -> Any:
        if obj is None or self.has_change_permission(request, obj):
            api_type = self._chosen_api_type(request, obj)
            account, secret = CREDENTIAL_FIELDS[api_type]
            credentials = [account, secret]
            if obj is not None and obj.api_type == api_type:
                credentials.append(_STORED_FIELD[secret])
            description: str = self._credentials_description(obj, api_type)
        else:
            # Read-only: the stored values and the secret's summary, no inputs.
            api_type = obj.api_type
            account, secret = CREDENTIAL_FIELDS[api_type]
            credentials = [account, _STORED_FIELD[secret]]
            description = ""
        fieldsets: list[tuple[str | None, dict[str, Any]]] = [
            (None, {"fields": ("name", "api_type")}),
            (
                f"{_type_label(api_type)} credentials",
                {
                    "fields": credentials,
                    "classes": (_CREDENTIALS_CLASS,),
                    "description": description,
                },
            ),
        ]
        if obj is not None:
            fieldsets.append(("Health", {"fields": _HEALTH_FIELDS}))
            fieldsets.append(("Record", {"fields": _RECORD_FIELDS}))
        return fieldsets

    def _credentials_description(self, obj: Connection | None, api_type: str) -> SafeString:
        secret = services.FIELD_LABELS[CREDENTIAL_FIELDS[api_type][1]]
        if api_type == Connection.ApiType.MERCHANT:
            where = format_html("Copy the User ID and the API key from {}.", WHERE_TO_FIND)
        else:
            where = format_html(
                "The username is the store's Okendo User ID, from {}. {}",
                WHERE_TO_FIND,
                _STOREFRONT_NOTE,
            )
        parts = [
            where,
            format_html(
                "The {} is stored encrypted and never shown again: re-enter it on every save.",
                secret,
            ),
        ]
        if obj is not None:
            warning = ConnectionForm(instance=obj, api_type=api_type).type_change_warning
            if warning:
                parts.append(format_html('<strong class="okendo-warning">{}</strong>', warning))
        return format_html_join("", "<p>{}</p>", ((part,) for part in parts))

    def get_form(
        self,
        request: HttpRequest,
        obj: Connection | None = None,
        change: bool = False,
        **kwargs: Any,
    ) -> Any:
        if change and not self.has_change_permission(request, obj):
            # Nothing is edited here: a form without fields, so no secret input exists.
            return forms.modelform_factory(Connection, fields=())
        form_class = super().get_form(request, obj, change, **kwargs)
        return type(
            form_class.__name__,
            (form_class,),
            {
                "chosen_api_type": self._chosen_api_type(request, obj),
                "switching": self._switching(request),
                "switch_url": request.path,
            },
        )

    def formfield_for_choice_field(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        # ConnectionForm asks for plain radios; the admin's keep its layout and offer
        # no blank choice.
        if db_field.name in self.radio_fields:
            kwargs.pop("widget", None)
        return super().formfield_for_choice_field(db_field, request, **kwargs)

    def get_inlines(self, request: HttpRequest, obj: Connection | None) -> Any:
        # The history is display-only: on POST it would only be validated against
        # a list that may have moved on since the page was shown.
        if obj is None or request.method not in ("GET", "HEAD"):
            return ()
        return self.inlines

    # --- Saving through the services ---------------------------------------------

    @method_decorator(sensitive_post_parameters("api_key", "password"))
    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except _SaveRefused as refused:
            # The admin's transaction has rolled back: nothing was saved.
            for reason in refused.reasons:
                self.message_user(
                    request, f"{reason} Nothing was saved; enter the values again.", messages.ERROR
                )
            return HttpResponseRedirect(request.get_full_path())

    def save_form(self, request: HttpRequest, form: Any, change: Any) -> Any:
        # ConnectionForm never saves itself; save_model hands its data to the services.
        return form.instance

    def save_model(self, request: HttpRequest, obj: Connection, form: Any, change: Any) -> None:
        data = form.connection_data()
        secret_set_at = getattr(obj, f"{form.secret_field}_set_at")
        try:
            if change:
                saved = services.connection_update(connection=obj, actor=request.user, data=data)
            else:
                saved = services.connection_create(actor=request.user, data=data)
        except ValidationError as exc:
            raise _SaveRefused(exc.messages) from None
        # The admin logs and redirects with ``obj``: make it the saved row.
        obj.pk = saved.pk
        obj.refresh_from_db()
        obj._state.adding = False
        # Services keep the date of a secret re-entered unchanged: a new date means replaced.
        form.secret_replaced = getattr(obj, f"{form.secret_field}_set_at") != secret_set_at

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: Any) -> None:
        # No many-to-many fields, and the history inline is read-only (and absent on POST).
        return None

    def construct_change_message(
        self, request: HttpRequest, form: Any, formsets: Any, add: bool = False
    ) -> list[dict[str, dict[str, list[str]]]]:
        """Name the changed fields by label from a fixed list: never a value, never a secret's."""
        if add:
            return [{"added": {}}]
        names = [name for name in form.changed_data if name in _LOGGED_FIELDS]
        if getattr(form, "secret_replaced", False):
            names.append(form.secret_field)
        labels = [CREDENTIAL_LABELS.get(name) or str(form.fields[name].label) for name in names]
        return [{"changed": {"fields": labels}}] if labels else []

    def delete_model(self, request: HttpRequest, obj: Connection) -> None:
        services.connection_delete(connection=obj, actor=request.user)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Connection]) -> None:
        with transaction.atomic():
            for connection in queryset:
                services.connection_delete(connection=connection, actor=request.user)

    # --- Display -------------------------------------------------------------

    @admin.display(description="Name", ordering=Lower("name"))
    def name_short(self, obj: Connection) -> SafeString:
        # One line, cut with an ellipsis by the CSS; the whole name on hover.
        return format_html('<span class="okendo-name" title="{}">{}</span>', obj.name, obj.name)

    @admin.display(description="API type", ordering="api_type")
    def api_type_label(self, obj: Connection) -> str:
        return _type_label(obj.api_type)

    @admin.display(description="Status", ordering="status")
    def status_badge(self, obj: Connection) -> SafeString:
        title = f"Last test: {obj.last_test_outcome}" if obj.last_test_outcome else "Not tested"
        return format_html(
            '<span class="okendo-badge okendo-badge--{}" title="{}">{}</span>',
            obj.status,
            title,
            obj.get_status_display(),
        )

    @admin.display(description="Last test result")
    def last_test(self, obj: Connection) -> str:
        if not obj.last_test_outcome:
            return EMPTY
        parts = [obj.last_test_outcome]
        if obj.last_test_http_status is not None:
            parts.append(f"HTTP {obj.last_test_http_status}")
        if obj.last_test_elapsed_ms is not None:
            parts.append(f"{obj.last_test_elapsed_ms} ms")
        return " · ".join(parts)

    @admin.display(description="Last test message")
    def last_message(self, obj: Connection) -> str:
        return obj.last_test_message or EMPTY

    @admin.display(description="Last tested", ordering="last_tested_at")
    def last_tested(self, obj: Connection) -> Any:
        return obj.last_tested_at

    def _stored(self, obj: Connection, field: SecretField) -> SafeString:
        # The same summary, through the same template, as the app's pages.
        return render_to_string(
            "connections/_secret_meta.html", {"summary": obj.secret_summary(field)}
        )

    @admin.display(description="Stored API key")
    def stored_api_key(self, obj: Connection) -> SafeString:
        return self._stored(obj, "api_key")

    @admin.display(description="Stored password")
    def stored_password(self, obj: Connection) -> SafeString:
        return self._stored(obj, "password")

    @admin.display(description="History")
    def all_events(self, obj: Connection) -> SafeString:
        count = ConnectionEvent.objects.filter(connection_uid=obj.uid).count()
        url = reverse(
            "admin:connections_connectionevent_changelist", current_app=self.admin_site.name
        )
        return format_html(
            '<a href="{}?connection_uid={}">All {} event{}</a>',
            url,
            obj.uid,
            count,
            "" if count == 1 else "s",
        )

    # --- Testing -----------------------------------------------------------------

    def get_urls(self) -> list[URLPattern]:
        # Before the defaults: their "<path:object_id>/" would swallow ".../test/".
        test = path(
            "<path:object_id>/test/",
            self.admin_site.admin_view(self.test_view),
            name="connections_connection_test",
        )
        return [test, *super().get_urls()]

    @method_decorator(require_POST)
    def test_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Test the saved connection (POST from its change page) and go back with the outcome."""
        connection = self.get_object(request, unquote(object_id))
        if connection is None:
            raise Http404("No such connection.")
        if not self.has_change_permission(request, connection):
            raise PermissionDenied
        self._test_and_report(request, connection)
        return HttpResponseRedirect(
            reverse(
                "admin:connections_connection_change",
                args=(quote(connection.pk),),
                current_app=self.admin_site.name,
            )
        )

    @admin.action(description="Test selected connections", permissions=["change"])
    def test_selected(self, request: HttpRequest, queryset: QuerySet[Connection]) -> None:
        """Test the selected connections one by one within Okendo's rate limit and a time budget."""
        selected = list(queryset.order_by(Lower("name"), "pk")[: ACTION_MAX_CONNECTIONS + 1])
        started = services.clock.monotonic()
        not_tested: list[str] = []
        for index, connection in enumerate(selected):
            over_budget = services.clock.monotonic() - started >= ACTION_TIME_BUDGET_SECONDS
            if index >= ACTION_MAX_CONNECTIONS or (index and over_budget):
                not_tested = [c.name for c in selected[index:]]
                break
            self._test_and_report(request, connection)
        if not_tested:
            shown = not_tested[:10]
            names = ", ".join(f"“{name}”" for name in shown)
            rest = len(not_tested) - len(shown) + queryset.count() - len(selected)
            if rest > 0:
                names += f" and {rest} more"
            self.message_user(
                request,
                f"Not tested: {names}. One run tests at most {ACTION_MAX_CONNECTIONS} "
                f"connections and starts none after {ACTION_TIME_BUDGET_SECONDS:g} s, so that "
                "this page answers; select them again, or run manage.py test_connections.",
                messages.WARNING,
            )

    def _test_and_report(self, request: HttpRequest, connection: Connection) -> None:
        try:
            result = services.connection_test(connection=connection, actor=request.user)
        except ConnectionTestInProgress:
            self.message_user(
                request,
                f"“{connection.name}”: not tested — another test of this connection is running. "
                "Try again in a moment.",
                messages.WARNING,
            )
            return
        facts = f"{result.elapsed_ms} ms"
        if result.http_status is not None:
            facts = f"HTTP {result.http_status}, {facts}"
        self.message_user(
            request,
            f"“{connection.name}”: {result.outcome} ({facts}). {result.message}",
            _LEVEL_FOR.get(result.outcome, messages.WARNING),
        )


class ConnectionUidFilter(admin.SimpleListFilter):
    """Filter events by connection uid: works for deleted connections too, and lists only a few.

    A list of every connection would not fit the sidebar at 10,000 connections;
    this offers the chosen one and the recently active ones. Each connection's
    page links to its filtered list.
    """

    title = "connection"
    parameter_name = "connection_uid"
    SHOWN = 15
    SCANNED_EVENTS = 300

    def _chosen(self) -> uuid.UUID | None:
        value = self.value()
        try:
            return uuid.UUID(str(value)) if value else None
        except ValueError:
            return None

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        choices: dict[str, str] = {}
        chosen = self._chosen()
        recent = ConnectionEvent.objects.order_by("-created_at", "-id").values_list(
            "connection_uid", "connection_name"
        )
        if chosen is not None:
            latest = recent.filter(connection_uid=chosen).first()
            if latest is not None:
                choices[str(chosen)] = f"{latest[1]} · {str(chosen)[:8]}"
        for uid, name in recent[: self.SCANNED_EVENTS]:
            if len(choices) >= self.SHOWN:
                break
            choices.setdefault(str(uid), f"{name} · {str(uid)[:8]}")
        return list(choices.items())

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if not self.value():
            return queryset
        chosen = self._chosen()
        return queryset.none() if chosen is None else queryset.filter(connection_uid=chosen)


@admin.register(ConnectionEvent)
class ConnectionEventAdmin(_StrictListMixin, admin.ModelAdmin):
    """The history: read-only for everyone, written only by the services."""

    list_display = ("created_at", "connection_link", "action", "summary", "actor_name")
    list_filter = ("action", ConnectionUidFilter)
    search_fields = ("connection_name", "summary", "actor_name")
    date_hierarchy = "created_at"
    fields = (
        "created_at",
        "connection_link",
        "connection_name",
        "connection_uid",
        "action",
        "summary",
        "details",
        "actor_name",
    )
    readonly_fields = fields

    @admin.display(description="Connection", ordering="connection_name")
    def connection_link(self, obj: ConnectionEvent) -> SafeString:
        if obj.connection_id is None:
            return format_html("{} <span class='quiet'>(deleted)</span>", obj.connection_name)
        url = reverse(
            "admin:connections_connection_change",
            args=(quote(obj.connection_id),),
            current_app=self.admin_site.name,
        )
        return format_html('<a href="{}">{}</a>', url, obj.connection_name)

    def has_view_permission(self, request: HttpRequest, obj: ConnectionEvent | None = None) -> bool:
        return request.user.has_perm("connections.view_connection") or super().has_view_permission(
            request, obj
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(
        self, request: HttpRequest, obj: ConnectionEvent | None = None
    ) -> bool:
        return False

    def has_delete_permission(
        self, request: HttpRequest, obj: ConnectionEvent | None = None
    ) -> bool:
        return False
