"""Two gunicorn workers and a management command agree at once on what changed.

Each worker keeps sessions, users and list pages in its own memory and, while
this host's change counter stands still, does not even read the version tokens.
Here the tokens are never re-read on a timer (``CONNECTIONS_TOKENS_RECHECK_SECONDS``
is an hour), so only the counter can tell a worker that the other one, or
another process, changed something. Each check runs right after the change, on
both workers (gunicorn's access log names the process that answered).
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.gunicorn import gunicorn, manage, site_environment

USERNAME = "ops"
PASSWORD = "pw_test_NOT_A_REAL_PASSWORD_WORKERS_01"
LIST = "/connections/"


@dataclass
class Site:
    base: str
    env: dict[str, str]
    access_log: Path

    def answered_by(self, lines_before: int) -> set[str]:
        """The worker pids that answered since the access log had ``lines_before`` lines."""
        lines = self.access_log.read_text().splitlines()[lines_before:]
        return {line.split()[0] for line in lines if line.strip()}

    def log_length(self) -> int:
        return len(self.access_log.read_text().splitlines())


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    tmp = tmp_path_factory.mktemp("workers")
    env = site_environment(
        tmp,
        CONNECTIONS_RUNTIME_DIR=str(tmp / "run"),
        CONNECTIONS_TOKENS_RECHECK_SECONDS="3600",
        DJANGO_SUPERUSER_USERNAME=USERNAME,
        DJANGO_SUPERUSER_PASSWORD=PASSWORD,
        DJANGO_SUPERUSER_EMAIL="ops@example.test",
    )
    access_log = tmp / "access.log"
    access_log.touch()
    # The access log names the worker (%(p)s) that answered each request.
    options = ("--access-logfile", str(access_log), "--access-logformat", "%(p)s %(m)s %(U)s %(s)s")
    with gunicorn(env, tmp, *options) as base:
        manage(env, "createsuperuser", "--noinput")
        yield Site(base, env, access_log)


def sign_in(site: Site) -> requests.Session:
    browser = requests.Session()
    form = browser.get(f"{site.base}/accounts/login/", timeout=10)
    answer = browser.post(
        f"{site.base}/accounts/login/",
        data={"username": USERNAME, "password": PASSWORD, "csrfmiddlewaretoken": form_token(form)},
        allow_redirects=False,
        timeout=10,
    )
    assert answer.status_code == 302, answer.text[:500]
    return browser


def form_token(page: requests.Response) -> str:
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert match, page.text[:500]
    return match[1]


def on_both_workers(site: Site, cookies: dict[str, str]) -> list[requests.Response]:
    """GET the list 40 times, 4 at a time; fail unless both workers answered some."""
    before = site.log_length()
    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(
            pool.map(
                lambda _: requests.get(
                    f"{site.base}{LIST}", cookies=cookies, allow_redirects=False, timeout=10
                ),
                range(40),
            )
        )
    time.sleep(0.2)  # gunicorn writes the access log line after the answer
    assert len(site.answered_by(before)) == 2, "both workers must answer for the check to mean it"
    return answers


def warm(site: Site, browser: requests.Session) -> None:
    """Have both workers keep this session, its user and its list page."""
    answers = on_both_workers(site, browser.cookies.get_dict())
    assert {answer.status_code for answer in answers} == {200}


def create(site: Site, browser: requests.Session) -> str:
    """Create a connection through the form and see the page it leads to; return its name."""
    name = f"Cross-worker {uuid.uuid4().hex[:8]}"
    form = browser.get(f"{site.base}/connections/new/", timeout=10)
    created = browser.post(
        f"{site.base}/connections/new/",
        data={
            "name": name,
            "api_type": "merchant",
            "user_id": str(uuid.uuid4()),
            "api_key": "NOTREAL-workers-agree-key-000001",
            "csrfmiddlewaretoken": form_token(form),
        },
        allow_redirects=False,
        timeout=10,
    )
    assert created.status_code == 302, created.text[:500]
    # The redirect shows "… created" once, naming it; checks made after it can
    # only find the name in the table, as anyone else looking at the list does.
    assert name in browser.get(f"{site.base}{created.headers['Location']}", timeout=10).text
    return name


def test_a_new_connection_is_on_the_list_in_every_worker_at_once(site: Site) -> None:
    browser = sign_in(site)
    create(site, browser)  # the list has a version from now on, and is kept
    warm(site, browser)

    name = create(site, browser)

    answers = on_both_workers(site, browser.cookies.get_dict())
    assert [answer.status_code for answer in answers] == [200] * 40
    assert all(f">{name}</a>" in answer.text for answer in answers)


def test_a_signed_out_session_is_refused_by_every_worker_at_once(site: Site) -> None:
    leaving, staying = sign_in(site), sign_in(site)
    warm(site, leaving)
    warm(site, staying)
    old_cookies = leaving.cookies.get_dict()
    page = leaving.get(f"{site.base}{LIST}", timeout=10)

    signed_out = leaving.post(
        f"{site.base}/accounts/logout/",
        data={"csrfmiddlewaretoken": form_token(page)},
        allow_redirects=False,
        timeout=10,
    )
    assert signed_out.status_code == 302

    replayed = on_both_workers(site, old_cookies)
    assert all(is_sent_to_sign_in(answer) for answer in replayed)
    assert {answer.status_code for answer in on_both_workers(site, staying.cookies.get_dict())} == {
        200
    }


def test_a_deactivation_by_a_management_command_is_seen_by_every_worker_at_once(
    site: Site,
) -> None:
    browser = sign_in(site)
    warm(site, browser)

    set_active(site, active=False)
    try:
        answers = on_both_workers(site, browser.cookies.get_dict())
    finally:
        set_active(site, active=True)  # the other tests sign in as this user too

    assert all(is_sent_to_sign_in(answer) for answer in answers)


def set_active(site: Site, *, active: bool) -> None:
    """Change the account from another process, as an operator's shell command does."""
    manage(
        site.env,
        "shell",
        "-c",
        "from django.contrib.auth.models import User; "
        f"user = User.objects.get(username={USERNAME!r}); "
        f"user.is_active = {active!r}; user.save()",
    )


def is_sent_to_sign_in(answer: requests.Response) -> bool:
    return answer.status_code == 302 and answer.headers["Location"].startswith("/accounts/login/")
