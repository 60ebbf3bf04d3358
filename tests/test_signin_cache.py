"""Signed-in requests served from memory: kept while the sign-in token holds, never after."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.contrib.sessions.models import Session
from django.core.management import call_command
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from connections import services, signin_cache, versions
from connections.models import AuthVersion, ListVersion
from connections.signin_cache import CachedModelBackend
from connections.versions import TokenCache
from tests.factories import client_for, make_user

pytestmark = pytest.mark.django_db

LIST = "/connections/"
LOGIN = "/accounts/login/"
LOGOUT = "/accounts/logout/"
NEW_PASSWORD = "pw_test_NOT_A_REAL_PASSWORD_SIGNIN_01"


@pytest.fixture
def viewer() -> User:
    return make_user("vera", "view")


@pytest.fixture
def client(viewer: User) -> Client:
    return client_for(viewer)


@pytest.fixture
def view_permission() -> Permission:
    return Permission.objects.get(content_type__app_label="connections", codename="view_connection")


@pytest.fixture
def in_request() -> Iterator[None]:
    # What Django's handlers signal around every request; finished even if the test
    # fails, or later tests would read tokens as if still inside this request.
    versions.request_started()
    try:
        yield
    finally:
        versions.request_finished()


def warm(client: Client) -> None:
    assert client.get(LIST).status_code == 200


def sent_to_sign_in(response) -> bool:
    return response.status_code == 302 and response.url.startswith(LOGIN)


def session_key(client: Client) -> str:
    return client.cookies["sessionid"].value


def kept_session(key: str) -> signin_cache.StoredSession | None:
    return signin_cache.sessions.get(key, versions.current().auth)


# --- Kept: one query per signed-in request ------------------------------------------------


@pytest.fixture
def list_token() -> None:
    # A fresh database has no list token, so the list's own results are never kept;
    # after any write they are, leaving the sign-in part as all a request reads.
    services.list_version_bump()


def test_warm_signed_in_request_reads_only_the_tokens(
    client: Client, viewer: User, list_token: None
) -> None:
    warm(client)

    with CaptureQueriesContext(connection) as queries:
        response = client.get(LIST)

    assert response.status_code == 200
    assert len(queries) == 1
    assert "connections_authversion" in queries[0]["sql"]
    assert len(signin_cache.sessions) == 1
    assert len(signin_cache.users) == 1
    assert kept_session(session_key(client)) is not None
    assert signin_cache.users.get(str(viewer.pk), versions.current().auth) is not None


def test_clearsessions_leaves_kept_sessions_in_place(client: Client, list_token: None) -> None:
    Session.objects.create(
        session_key="expired0session0key0for0clearsessions",
        session_data="",
        expire_date=timezone.now() - timedelta(days=1),
    )
    warm(client)

    call_command("clearsessions")

    assert not Session.objects.filter(expire_date__lt=timezone.now()).exists()
    with CaptureQueriesContext(connection) as queries:
        assert client.get(LIST).status_code == 200
    assert len(queries) == 1


# --- Signing out ---------------------------------------------------------------------------


def test_session_deleted_through_django_signs_the_cookie_out(client: Client) -> None:
    warm(client)
    key = session_key(client)
    assert kept_session(key) is not None

    Session.objects.filter(session_key=key).delete()

    assert sent_to_sign_in(client.get(LIST))


def test_signing_out_signs_out_a_kept_copy_of_the_cookie(client: Client) -> None:
    copy = Client()
    copy.cookies["sessionid"] = session_key(client)
    warm(copy)
    assert kept_session(session_key(client)) is not None

    client.post(LOGOUT)

    assert sent_to_sign_in(copy.get(LIST))


# --- Permissions, deactivation, password ---------------------------------------------------


def assert_list_access_follows(client: Client, *, revoke, grant) -> None:
    warm(client)
    revoke()
    assert client.get(LIST).status_code == 403
    grant()
    assert client.get(LIST).status_code == 200


def test_removed_user_permission_applies_on_the_next_request(
    client: Client, viewer: User, view_permission: Permission
) -> None:
    assert_list_access_follows(
        client,
        revoke=lambda: viewer.user_permissions.remove(view_permission),
        grant=lambda: viewer.user_permissions.add(view_permission),
    )


@pytest.fixture
def viewers(view_permission: Permission) -> Group:
    group = Group.objects.create(name="Viewers")
    group.permissions.add(view_permission)
    return group


@pytest.fixture
def member(viewers: Group) -> User:
    user = make_user("gil")  # no permission of its own: only the group's
    user.groups.add(viewers)
    return user


def test_removed_group_permission_applies_on_the_next_request(
    member: User, viewers: Group, view_permission: Permission
) -> None:
    assert_list_access_follows(
        client_for(member),
        revoke=lambda: viewers.permissions.remove(view_permission),
        grant=lambda: viewers.permissions.add(view_permission),
    )


def test_leaving_the_group_applies_on_the_next_request(member: User, viewers: Group) -> None:
    assert_list_access_follows(
        client_for(member),
        revoke=lambda: member.groups.remove(viewers),
        grant=lambda: member.groups.add(viewers),
    )


def test_group_membership_changed_from_the_group_side_applies_on_the_next_request(
    member: User, viewers: Group
) -> None:
    # The admin's and other code's reverse accessors send the same m2m signal.
    assert_list_access_follows(
        client_for(member),
        revoke=lambda: viewers.user_set.clear(),
        grant=lambda: viewers.user_set.add(member),
    )


def test_deactivated_user_is_sent_to_sign_in_on_the_next_request(
    client: Client, viewer: User
) -> None:
    warm(client)

    viewer.is_active = False
    viewer.save()

    assert sent_to_sign_in(client.get(LIST))


def test_changed_password_signs_out_every_other_session(viewer: User, settings) -> None:
    # Hashing at production cost would take most of this file's time budget.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    first, second = client_for(viewer), client_for(viewer)
    warm(first)
    warm(second)

    viewer.set_password(NEW_PASSWORD)
    viewer.save()

    # A kept user would still carry the old password hash, which the sessions match.
    assert sent_to_sign_in(first.get(LIST))
    assert sent_to_sign_in(second.get(LIST))


# --- Bounds: writes around Django, expiry --------------------------------------------------


def test_deactivation_in_plain_sql_is_served_until_keep_seconds_pass(
    client: Client, viewer: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    warm(client)
    stored_by = time.monotonic()
    table = connection.ops.quote_name(User._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET is_active = %s WHERE id = %s", [False, viewer.pk])  # noqa: S608

    # No signal, so no new token: the documented bound, not a wish.
    monkeypatch.setattr(
        "connections.versions.monotonic", lambda: stored_by + signin_cache.KEEP_SECONDS - 1
    )
    assert client.get(LIST).status_code == 200

    monkeypatch.setattr(
        "connections.versions.monotonic", lambda: stored_by + signin_cache.KEEP_SECONDS + 1
    )
    assert sent_to_sign_in(client.get(LIST))


def test_kept_session_is_not_served_past_its_expiry(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    warm(client)
    kept = kept_session(session_key(client))
    assert kept is not None

    # The clock moves, the token does not: only the kept expiry can refuse it.
    after_expiry = kept.expire_date + timedelta(seconds=1)
    monkeypatch.setattr("connections.signin_cache.timezone.now", lambda: after_expiry)

    assert sent_to_sign_in(client.get(LIST))


def test_deleting_an_expired_session_keeps_the_token_and_a_live_one_changes_it() -> None:
    now = timezone.now()
    expired = Session.objects.create(
        session_key="expired0session0key0000000000001",
        session_data="",
        expire_date=now - timedelta(seconds=1),
    )
    live = Session.objects.create(
        session_key="live0session0key000000000000001",
        session_data="",
        expire_date=now + timedelta(days=1),
    )
    token = versions.current().auth

    expired.delete()
    assert versions.current().auth == token

    live.delete()
    assert versions.current().auth not in ("", token)


# --- Each request its own objects ----------------------------------------------------------


def test_each_get_user_returns_its_own_copy(viewer: User, in_request: None) -> None:
    backend = CachedModelBackend()
    first = backend.get_user(viewer.pk)  # loaded and kept
    second = backend.get_user(viewer.pk)  # from memory
    assert first is not None
    assert second is not None
    assert first is not second

    first.first_name = "Changed"
    first._perm_cache.add("connections.delete_connection")  # type: ignore[attr-defined]
    third = backend.get_user(viewer.pk)

    assert third is not None
    assert third is not second
    assert second.first_name == third.first_name == ""
    assert not second.has_perm("connections.delete_connection")
    assert not third.has_perm("connections.delete_connection")


def test_kept_user_answers_permissions_without_a_query(viewer: User, in_request: None) -> None:
    backend = CachedModelBackend()
    backend.get_user(viewer.pk)

    with CaptureQueriesContext(connection) as queries:
        user = backend.get_user(viewer.pk)
        assert user is not None
        assert user.has_perm("connections.view_connection")
        assert not user.has_perm("connections.add_connection")

    assert len(queries) == 0


def test_each_load_of_a_kept_session_is_its_own_copy(client: Client, in_request: None) -> None:
    key = session_key(client)
    first = signin_cache.SessionStore(key).load()  # read, decoded and kept
    user_id = first["_auth_user_id"]
    first["_auth_user_id"] = "mutated by the first request"
    first["added"] = {"by": "first"}

    with CaptureQueriesContext(connection) as queries:
        second = signin_cache.SessionStore(key).load()  # from memory
        second["_auth_user_id"] = "mutated by the second request"
        third = signin_cache.SessionStore(key).load()

    assert len(queries) == 0
    assert third["_auth_user_id"] == user_id
    assert "added" not in third


def test_a_session_that_does_not_decode_loads_empty_and_signs_nobody_in(
    client: Client, in_request: None
) -> None:
    key = session_key(client)
    Session.objects.filter(session_key=key).update(session_data="tampered:not-signed")
    signin_cache.clear()

    assert signin_cache.SessionStore(key).load() == {}
    assert signin_cache.SessionStore(key).load() == {}


# --- TokenCache ----------------------------------------------------------------------------


def test_token_cache_drops_everything_when_the_token_changes() -> None:
    cache: TokenCache[str] = TokenCache(max_entries=10, max_age=60)
    cache.set("a", "t1", "A")
    cache.set("b", "t1", "B")

    assert cache.get("a", "t2") is None
    # Going back to the old token brings nothing back.
    assert cache.get("b", "t1") is None
    assert len(cache) == 0


def test_token_cache_evicts_the_least_recently_used_beyond_max_entries() -> None:
    cache: TokenCache[str] = TokenCache(max_entries=2, max_age=60)
    cache.set("a", "t", "A")
    cache.set("b", "t", "B")
    assert cache.get("a", "t") == "A"  # now "b" is the least recently used

    cache.set("c", "t", "C")

    assert len(cache) == 2
    assert cache.get("b", "t") is None
    assert cache.get("a", "t") == "A"
    assert cache.get("c", "t") == "C"


def test_token_cache_does_not_serve_entries_older_than_max_age(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cache: TokenCache[str] = TokenCache(max_entries=10, max_age=5)
    monkeypatch.setattr("connections.versions.monotonic", lambda: 100.0)
    cache.set("a", "t", "A")

    monkeypatch.setattr("connections.versions.monotonic", lambda: 105.0)
    assert cache.get("a", "t") == "A"  # a read does not make it younger
    monkeypatch.setattr("connections.versions.monotonic", lambda: 105.5)
    assert cache.get("a", "t") is None


def test_token_cache_never_stores_nor_serves_under_an_empty_token() -> None:
    cache: TokenCache[str] = TokenCache(max_entries=10, max_age=60)
    cache.set("a", "", "A")
    assert len(cache) == 0

    cache.set("a", "t", "A")
    assert cache.get("a", "") is None
    # Nor does it disturb what the real token keeps: a missing row serves nothing, no more.
    assert cache.get("a", "t") == "A"


# --- versions.current() --------------------------------------------------------------------


def test_current_reads_the_tokens_once_per_request(in_request: None) -> None:
    with CaptureQueriesContext(connection) as queries:
        first = versions.current()
        second = versions.current()

    assert len(queries) == 1
    assert first == second
    assert first.auth == AuthVersion.objects.get(pk=1).token


def test_current_reads_again_after_a_bump_in_the_same_request(in_request: None) -> None:
    before = versions.current()

    versions.bump(AuthVersion)
    with CaptureQueriesContext(connection) as queries:
        after = versions.current()

    assert len(queries) == 1
    assert after.auth != before.auth
    assert after.auth == AuthVersion.objects.get(pk=1).token
    assert after.list == before.list


def test_current_reads_the_database_on_every_call_outside_a_request() -> None:
    versions.current()
    AuthVersion.objects.filter(pk=1).update(token="changed0around0the0cache00000001")

    with CaptureQueriesContext(connection) as queries:
        seen = versions.current()
        versions.current()

    assert len(queries) == 2
    assert seen.auth == "changed0around0the0cache00000001"


def test_missing_auth_row_keeps_nothing_and_bump_recreates_it(client: Client) -> None:
    list_token = ListVersion.objects.get(pk=1).token
    AuthVersion.objects.filter(pk=1).delete()
    signin_cache.clear()

    assert versions.current() == versions.Tokens(list=list_token, auth="")
    warm(client)
    with CaptureQueriesContext(connection) as queries:
        assert client.get(LIST).status_code == 200
    assert any("django_session" in q["sql"] for q in queries.captured_queries)
    assert len(signin_cache.sessions) == 0
    assert len(signin_cache.users) == 0

    versions.bump(AuthVersion)

    token = AuthVersion.objects.get(pk=1).token
    assert len(token) == 32
    assert versions.current().auth == token


# --- Isolation between tests ---------------------------------------------------------------


def test_user_kept_under_a_rolled_back_token_is_not_served_for_the_same_pk() -> None:
    # What happens between two tests: the first one's writes (and token) are rolled
    # back, the caches stay, and on SQLite the next user gets the same id. Here the
    # impostor is written with bulk_create, which sends no signal, so only the rolled
    # back token, random and never committed, keeps the first user from being served.
    backend = CachedModelBackend()
    with transaction.atomic():
        first = make_user("first", "view")
        pk = first.pk
        assert backend.get_user(pk) is not None
        assert len(signin_cache.users) == 1
        transaction.set_rollback(True)

    User.objects.bulk_create([User(pk=pk, username="impostor")])
    user = backend.get_user(pk)

    assert user is not None
    assert user.username == "impostor"
    assert not user.has_perm("connections.view_connection")
