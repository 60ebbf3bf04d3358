"""The users the load benchmark simulates; started by bench/load/run.py, not by hand.

run.py signs in one session per simulated user beforehand (so password
hashing never runs inside a measured window) and passes them, the seeded
connection ids and the run's tag in the JSON file named by ``LOAD_STATE``.
Every answer's status is tallied per path and written to ``LOAD_RESULTS`` when
locust quits, with the names of the connections created, so run.py can check
afterwards that none was lost or duplicated.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import uuid
from collections import Counter, defaultdict
from typing import Any
from urllib.parse import urlencode

from load_common import CREATE, DETAIL, LIST, TEST, created_secret
from locust import FastHttpUser, constant, events

with open(os.environ["LOAD_STATE"], encoding="utf-8") as _state_file:
    STATE: dict[str, Any] = json.load(_state_file)

_statuses: defaultdict[str, Counter[str]] = defaultdict(Counter)
_attempted: list[str] = []
_created: list[str] = []
_sessions = itertools.cycle(STATE["sessions"])
_serial = itertools.count(1)


@events.request.add_listener
def _tally(name: str, response: Any, exception: BaseException | None, **kwargs: Any) -> None:
    # No answer at all (refused, reset, timed out) counts as status 0.
    status = getattr(response, "status_code", 0) or 0
    _statuses[name][str(status)] += 1


@events.quitting.add_listener
def _write_results(**kwargs: Any) -> None:
    with open(os.environ["LOAD_RESULTS"], "w", encoding="utf-8") as handle:
        json.dump(
            {
                "statuses": {name: dict(counts) for name, counts in _statuses.items()},
                "attempted": _attempted,
                "created": _created,
            },
            handle,
        )


class _SignedIn(FastHttpUser):
    abstract = True
    wait_time = constant(0)

    def on_start(self) -> None:
        session = next(_sessions)
        self.headers = {
            "Cookie": f"sessionid={session['sessionid']}; csrftoken={session['csrftoken']}",
            # Django accepts the cookie's value itself as the header token.
            "X-CSRFToken": session["csrftoken"],
        }

    def check(self, response: Any, expected: set[int]) -> None:
        """Mark the answer failed in locust's figures unless its status is ``expected``."""
        if response.status_code not in expected:
            response.failure(f"HTTP {response.status_code}, expected {sorted(expected)}")


def _list_page(user: _SignedIn) -> None:
    with user.client.get(
        "/connections/", name=LIST, headers=user.headers, catch_response=True
    ) as response:
        user.check(response, {200})


def _detail_page(user: _SignedIn) -> None:
    pk = random.choice(STATE["ids"])
    with user.client.get(
        f"/connections/{pk}/", name=DETAIL, headers=user.headers, catch_response=True
    ) as response:
        user.check(response, {200})


def _create(user: _SignedIn) -> None:
    name = f"Load create {STATE['tag']}-{next(_serial):06d}"
    body = urlencode(
        {
            "name": name,
            "api_type": "merchant",
            "user_id": str(uuid.uuid4()),
            "api_key": created_secret(STATE["run_key"], name),
        }
    )
    _attempted.append(name)
    with user.client.post(
        "/connections/new/",
        name=CREATE,
        data=body,
        headers={**user.headers, "Content-Type": "application/x-www-form-urlencoded"},
        allow_redirects=False,
        catch_response=True,
    ) as response:
        # Success redirects to the new connection's page; 200 is the form with errors.
        user.check(response, {302})
        if response.status_code == 302:
            _created.append(name)


def _test_connection(user: _SignedIn) -> None:
    pk = random.choice(STATE["ids"])
    with user.client.post(
        f"/connections/{pk}/test/",
        name=TEST,
        headers={**user.headers, "HX-Request": "true"},  # what the button sends with JavaScript
        allow_redirects=False,
        catch_response=True,
    ) as response:
        user.check(response, {200})


# Reads outnumber writes, as they do for people using the app; run.py's --mix
# can leave paths out, and says so in its report.
_MIX_WEIGHTS = {
    LIST: (_list_page, 5),
    DETAIL: (_detail_page, 3),
    CREATE: (_create, 1),
    TEST: (_test_connection, 1),
}


class MixedUser(_SignedIn):
    """Reads, creates and tests connections in the proportions people use them."""

    # A task listed n times is picked n times as often.
    tasks = [
        action
        for name, (action, weight) in _MIX_WEIGHTS.items()
        if name in STATE.get("mix", list(_MIX_WEIGHTS))
        for _ in range(weight)
    ]
