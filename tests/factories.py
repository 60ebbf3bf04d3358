"""Build the users, clients, form data, connections and fake keys that test modules share.

Plain functions, not fixtures: each test module keeps its own fixtures and says in
them which name, actor or secret it uses, so a difference a test asserts on stays
visible where the test is.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from django.contrib.auth.models import Permission, User
from django.core.signals import got_request_exception
from django.http import HttpRequest
from django.test import Client
from django.views.debug import SafeExceptionReporterFilter

from connections import services
from connections.keyring import Key
from connections.models import Connection
from connections.sensitive import Secret
from connections.services import ConnectionData

if TYPE_CHECKING:
    # Only the browser tests import Playwright; the rest of the suite never needs it.
    from playwright.sync_api import Browser, Page, ViewportSize

    from tests.fake_okendo import FakeOkendo, RunningFake

# Obviously fake credentials, none of them the fake Okendo's own.
API_KEY = "sk_test_NOT_A_REAL_KEY_000000001"
API_KEY_2 = "sk_test_NOT_A_REAL_KEY_000000002"
PASSWORD = "pw_test_NOT_A_REAL_PASSWORD_0001"
WRONG_KEY = "sk_test_NOT_A_REAL_KEY_wrong0001"
USER_ID = "1c8f0b3e-3f5a-4d4e-9a57-2f0c8e9b6d21"
STORE_ID = "2d9e1c4f-4a6b-4e5f-8b68-3a1d9f0c7e32"
# An encryption key spec that is neither the test settings' key nor one of its fallbacks.
OTHER_ENCRYPTION_KEY = "other1:" + base64.b64encode(b"another-test-key-NOT-A-REAL-ONE!").decode()

CONNECTION_ACTIONS = ("view", "add", "change", "delete")


# --- People ----------------------------------------------------------------------------


def make_user(username: str, *actions: str, is_staff: bool = False) -> User:
    """Create a user allowed ``actions`` ("view", "add", …) on connections, with no password.

    No password: tests sign in with ``force_login``, and hashing one costs more than a test.
    """
    user = User.objects.create_user(username, is_staff=is_staff)
    user.user_permissions.set(
        Permission.objects.filter(
            content_type__app_label="connections",
            codename__in=[f"{action}_connection" for action in actions],
        )
    )
    return user


def client_for(user: User, *, enforce_csrf_checks: bool = False) -> Client:
    """Return a test client signed in as ``user``."""
    client = Client(enforce_csrf_checks=enforce_csrf_checks)
    client.force_login(user)
    return client


# --- Form data -------------------------------------------------------------------------


def merchant_post(
    *, name: str = "EU reviews", user_id: str = USER_ID, api_key: str = API_KEY, **extra: str
) -> dict[str, str]:
    """Return the POST data of a valid Merchant connection form; ``extra`` adds or replaces."""
    data = {"name": name, "api_type": "merchant", "user_id": user_id, "api_key": api_key}
    return {**data, **extra}


def storefront_post(
    *,
    name: str = "EU storefront",
    username: str = STORE_ID,
    password: str = PASSWORD,
    **extra: str,
) -> dict[str, str]:
    """Return the POST data of a valid Storefront connection form; ``extra`` adds or replaces."""
    data = {"name": name, "api_type": "storefront", "username": username, "password": password}
    return {**data, **extra}


# --- Connections -----------------------------------------------------------------------


def create_connection(
    actor: User, *, name: str, account_id: str, secret: str, api_type: str = "merchant"
) -> Connection:
    """Create a connection through ``services.connection_create``, history event included."""
    data = ConnectionData(
        name=name, api_type=api_type, account_id=account_id, secret=Secret(secret)
    )
    return services.connection_create(actor=actor, data=data)


def save_connection(
    name: str | None = None,
    *,
    account_id: str,
    secret: str,
    api_type: str = "merchant",
    status: str = Connection.Status.UNTESTED,
) -> Connection:
    """Save a connection straight through the model: no actor, no history event.

    Without a ``name``, a fresh one, so tests never collide on the unique name.
    """
    connection = Connection(
        name=name or f"Shop {uuid.uuid4().hex[:8]}", api_type=api_type, status=status
    )
    if api_type == "merchant":
        connection.user_id = account_id
        connection.set_api_key(secret)
    else:
        connection.username = account_id
        connection.set_password(secret)
    connection.save()
    return connection


def okendo_connection(
    okendo: RunningFake,
    *,
    api_type: str = "merchant",
    name: str | None = None,
    status: str = Connection.Status.UNTESTED,
) -> Connection:
    """Save a connection holding the fake Okendo's own credentials for ``api_type``."""
    if api_type == "merchant":
        account_id, secret = okendo.user_id, okendo.api_key
    else:
        account_id, secret = okendo.store_id, okendo.password
    return save_connection(
        name, account_id=account_id, secret=secret, api_type=api_type, status=status
    )


def script_answer(
    okendo: FakeOkendo,
    answer: str,
    *,
    retry_after: str | None = None,
    declare_length: bool = True,
) -> None:
    """Make the fake Okendo give its next answer the way ``answer`` names it.

    ``answer`` is an HTTP status ("401"), or "429" (three times, so retries see it too),
    "slow", "reset", "large" (2 MiB) or "not-json".
    """
    if answer == "429":
        headers = {"Retry-After": retry_after} if retry_after is not None else None
        okendo.respond(429, headers=headers, times=3)
    elif answer == "slow":
        okendo.respond_slowly(10)
    elif answer == "reset":
        okendo.reset_connection()
    elif answer == "large":
        okendo.respond_large(2 * 1024 * 1024, declare_length=declare_length)
    elif answer == "not-json":
        okendo.respond(200, text="<html>maintenance</html>")
    else:
        okendo.respond(int(answer))


# --- Keys ------------------------------------------------------------------------------


def fake_key(key_id: str) -> Key:
    """Return an obviously fake key whose bytes derive from its id."""
    return Key(key_id=key_id, material=hashlib.sha256(f"test-only-{key_id}".encode()).digest())


def key_spec(key: Key) -> str:
    """Return ``key`` as the settings spell it: ``id:base64``."""
    return f"{key.key_id}:{base64.b64encode(key.material).decode()}"


# --- Browser ---------------------------------------------------------------------------


def signed_in_page(
    browser: Browser,
    base_url: str,
    user: User,
    *,
    viewport: ViewportSize,
    java_script: bool = True,
) -> Iterator[Page]:
    """Yield a page of a new browser context signed in as ``user``; close it afterwards.

    The session cookie comes from Django's test client, so no test depends on the login
    form's rate limiting.
    """
    client = client_for(user)
    context = browser.new_context(
        viewport=viewport, java_script_enabled=java_script, base_url=base_url
    )
    context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": base_url}]
    )
    context.set_default_timeout(5000)
    yield context.new_page()
    context.close()


def post_reporting_errors(client: Client, url: str, data: dict[str, str]) -> tuple[Any, list[Any]]:
    """POST ``data`` to a view expected to fail, and return the response and what
    Django's error report would show of the POST parameters, one dict per failure."""
    seen: list[Any] = []

    def capture(sender: object, request: HttpRequest, **kwargs: object) -> None:
        seen.append(SafeExceptionReporterFilter().get_post_parameters(request))

    got_request_exception.connect(capture)
    client.raise_request_exception = False
    try:
        response = client.post(url, data)
    finally:
        got_request_exception.disconnect(capture)
    return response, seen
