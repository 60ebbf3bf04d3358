"""``manage.py export_reviews`` against the fake Okendo: files, resume, refusals, progress."""

from __future__ import annotations

import base64
import csv
import fcntl
import io
import json
import os
import pty
import signal
import stat
import struct
import termios
from collections import Counter

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from connections.models import Connection, ConnectionEvent
from tests.factories import okendo_connection
from tests.fake_okendo import GROUP_ID, PRODUCT_BASE, ReviewStore

pytestmark = pytest.mark.django_db


def export(connection, output, *args, fmt="jsonl", stderr=None):
    out, err = io.StringIO(), stderr if stderr is not None else io.StringIO()
    call_command(
        "export_reviews",
        str(connection.pk),
        "--format",
        fmt,
        "--output",
        str(output),
        *args,
        stdout=out,
        stderr=err,
    )
    return out.getvalue(), err.getvalue() if isinstance(err, io.StringIO) else ""


def review_numbers(path):
    return [int(json.loads(line)["reviewId"].rsplit("-", 1)[1]) for line in path.open()]


def leftovers(output):
    return sorted(p.name for p in output.parent.iterdir())


@pytest.fixture
def merchant(okendo):
    okendo.serve_reviews(okendo.user_id, 250)
    return okendo_connection(okendo, status=Connection.Status.ONLINE)


# --- What gets written -----------------------------------------------------------------------


def test_exports_every_review_as_jsonl_and_leaves_only_the_file(okendo, merchant, tmp_path):
    output = tmp_path / "reviews.jsonl"

    stdout, _ = export(merchant, output)

    assert review_numbers(output) == list(range(250))
    assert leftovers(output) == ["reviews.jsonl"]
    assert stat.S_IMODE(output.stat().st_mode) == 0o600  # reviews name people
    assert "Exported 250 reviews (3 pages)" in stdout
    assert [r.query["limit"] for r in okendo.requests] == [["100"]] * 3  # the largest page
    [event] = ConnectionEvent.objects.all()
    assert (event.action, event.details["records"], event.actor) == ("exported", 250, None)


def test_exports_csv_with_a_header_and_one_row_per_review(merchant, tmp_path):
    output = tmp_path / "reviews.csv"

    export(merchant, output, fmt="csv")

    rows = list(csv.DictReader(output.open(newline="")))
    assert len(rows) == 250
    assert rows[1]["reviewer.email"] == "reviewer000001@example.com"
    assert rows[1]["body"] == 'Comfortable, "true to size".\nWould buy again — review 000001.'
    assert rows[5]["title"].startswith("'=")  # a formula typed by a reviewer stays text


@pytest.mark.parametrize(
    ("args", "expected", "sent"),
    [
        (
            ["--status", "pending"],
            [i for i in range(250) if ReviewStore(0).status(i) == "pending"],
            {"status": ["pending"], "limit": ["100"]},
        ),
        (
            ["--order-by", "date asc", "--limit", "40"],
            list(reversed(range(250))),
            {"orderBy": ["date asc"], "limit": ["40"]},
        ),
        (
            ["--order-by", "rating desc", "--status", "rejected", "--limit", "7"],
            sorted(
                (i for i in range(250) if ReviewStore(0).status(i) == "rejected"),
                key=lambda i: (-ReviewStore(0).rating(i), i),
            ),
            {"orderBy": ["rating desc"], "status": ["rejected"], "limit": ["7"]},
        ),
    ],
)
def test_merchant_options_reach_okendo(okendo, merchant, tmp_path, args, expected, sent):
    output = tmp_path / "reviews.jsonl"

    export(merchant, output, *args)

    assert review_numbers(output) == expected
    first = okendo.requests[0]
    assert first.query == sent


@pytest.mark.parametrize(
    ("args", "path", "products"),
    [
        ([], "reviews", set(range(7))),
        (["--product", str(PRODUCT_BASE + 4)], f"products/shopify-{PRODUCT_BASE + 4}/reviews", {4}),
        (["--group", GROUP_ID], f"collections/{GROUP_ID}/reviews", {0, 1, 2}),
        (["--order-by", "helpful desc"], "reviews", set(range(7))),
    ],
)
def test_storefront_exports_store_product_and_group(okendo, tmp_path, args, path, products):
    okendo.serve_reviews(okendo.store_id, 120)
    connection = okendo_connection(okendo, api_type="storefront")
    output = tmp_path / "reviews.jsonl"

    export(connection, output, *args)

    lines = [json.loads(line) for line in output.open()]
    assert lines
    assert {int(r["productId"].removeprefix("shopify-")) - PRODUCT_BASE for r in lines} == products
    assert {r.path for r in okendo.requests} == {f"/v1/stores/{okendo.store_id}/{path}"}
    assert {r.query["limit"][0] for r in okendo.requests} == {"25"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--product", "12"], "cannot export product reviews"),
        (["--product", "\uff11\uff12"], "numeric Shopify ID"),
        (["--group", "../x"], "group ID"),
        (["--limit", "101"], "from 1 to 100"),
        (["--limit", "\uff11\uff10"], "from 1 to 100"),
        (["--order-by", "helpful desc"], "order must be one of"),
    ],
)
def test_bad_options_are_refused_before_any_request(okendo, merchant, tmp_path, args, message):
    with pytest.raises(CommandError, match=message):
        export(merchant, tmp_path / "r.jsonl", *args)

    assert okendo.requests == []
    assert leftovers(tmp_path / "r.jsonl") == []


def test_a_missing_folder_is_refused_before_any_request(okendo, merchant, tmp_path):
    with pytest.raises(CommandError, match="does not exist"):
        export(merchant, tmp_path / "nowhere" / "reviews.jsonl")

    assert okendo.requests == []


def test_an_unknown_connection_is_refused(tmp_path):
    for value in ("999999", "not-an-id", "\uff11"):
        with pytest.raises(CommandError, match="No connection"):
            call_command(
                "export_reviews", value, "--format", "csv", "--output", str(tmp_path / "x.csv")
            )


# --- Refusals: the outcome word, a non-zero exit, never a partial file -----------------------


def test_okendo_refusing_exits_with_the_outcome_word_and_marks_offline(okendo, merchant, tmp_path):
    okendo.respond(401)
    output = tmp_path / "reviews.jsonl"

    with pytest.raises(CommandError) as caught:
        export(merchant, output)

    assert str(caught.value).startswith("auth_failed: Okendo rejected")
    assert caught.value.returncode == 1
    assert not output.exists()
    assert Connection.objects.get(pk=merchant.pk).status == Connection.Status.OFFLINE


def test_a_rate_limit_that_never_ends_exits_rate_limited(okendo, merchant, tmp_path):
    okendo.respond(429, times=50)

    with pytest.raises(CommandError, match=r"^rate_limited: "):
        export(merchant, tmp_path / "reviews.jsonl")

    assert not (tmp_path / "reviews.jsonl").exists()


def test_a_failure_half_way_leaves_no_file_under_the_final_name_and_resume_completes_it(
    okendo, merchant, tmp_path
):
    output = tmp_path / "reviews.jsonl"
    okendo.fail_halfway(after=1)

    with pytest.raises(CommandError, match=r"^unavailable: .*--resume"):
        export(merchant, output)

    assert leftovers(output) == ["reviews.jsonl.checkpoint.json", "reviews.jsonl.part"]
    checkpoint = json.loads((tmp_path / "reviews.jsonl.checkpoint.json").read_text())
    assert (checkpoint["records"], checkpoint["pages"]) == (100, 1)
    assert checkpoint["cursor"].startswith('{"reviewId"')

    stdout, _ = export(merchant, output, "--resume")

    assert Counter(review_numbers(output)) == Counter(range(250))  # each exactly once
    assert review_numbers(output) == list(range(250))
    assert leftovers(output) == ["reviews.jsonl"]
    assert stat.S_IMODE(output.stat().st_mode) == 0o600  # reviews name people
    assert "Exported 250 reviews (3 pages)" in stdout
    resumed = okendo.review_requests()[-2]
    assert resumed.query["lastEvaluated"] == [checkpoint["cursor"]]
    events = ConnectionEvent.objects.order_by("id")
    assert [(e.details["outcome"], e.details["records"], e.details["resumed"]) for e in events] == [
        ("unavailable", 100, False),
        ("ok", 150, True),
    ]


def test_resume_drops_what_was_written_after_the_last_checkpoint(okendo, merchant, tmp_path):
    output = tmp_path / "reviews.csv"
    okendo.fail_halfway(after=2)
    with pytest.raises(CommandError):
        export(merchant, output, "--limit", "50", fmt="csv")
    # A crash between writing a page and its checkpoint leaves rows the checkpoint does not count.
    with (tmp_path / "reviews.csv.part").open("a") as part:
        part.write("00000000-0000-4000-8000-000000000100,half a row\n" * 20000)

    export(merchant, output, "--limit", "50", "--resume", fmt="csv")

    ids = [row["reviewId"] for row in csv.DictReader(output.open(newline=""))]
    assert ids == [ReviewStore.review_id(i) for i in range(250)]


def test_ctrl_c_keeps_the_checkpoint_and_resume_yields_every_review_once(
    okendo, merchant, tmp_path
):
    output = tmp_path / "reviews.jsonl"
    # A real SIGINT, delivered while the command waits for Okendo's third page.
    okendo.call_before_answering(lambda: os.kill(os.getpid(), signal.SIGINT), after=2)

    with pytest.raises(CommandError, match="Interrupted after 200 reviews") as caught:
        export(merchant, output)

    assert caught.value.returncode == 130
    assert not output.exists()
    [stopped] = ConnectionEvent.objects.all()
    assert stopped.details["outcome"] == "stopped"

    export(merchant, output, "--resume")

    assert review_numbers(output) == list(range(250))


def test_a_checkpoint_of_another_export_is_not_resumed(okendo, merchant, tmp_path):
    output = tmp_path / "reviews.jsonl"
    okendo.fail_halfway(after=1)
    with pytest.raises(CommandError):
        export(merchant, output)
    okendo.requests.clear()

    with pytest.raises(CommandError, match="belongs to another export"):
        export(merchant, output, "--resume", "--status", "approved")

    assert okendo.requests == []


def test_resume_without_a_checkpoint_starts_from_the_first_page(okendo, merchant, tmp_path):
    output = tmp_path / "reviews.jsonl"

    _, stderr = export(merchant, output, "--resume")

    assert "Nothing to resume" in stderr
    assert review_numbers(output) == list(range(250))


def test_without_resume_an_interrupted_export_starts_over(okendo, merchant, tmp_path):
    output = tmp_path / "reviews.jsonl"
    okendo.fail_halfway(after=1)
    with pytest.raises(CommandError):
        export(merchant, output)

    _, stderr = export(merchant, output)

    assert "Starting over" in stderr
    assert review_numbers(output) == list(range(250))
    assert leftovers(output) == ["reviews.jsonl"]


def test_an_existing_file_is_replaced_only_when_the_new_one_is_complete(okendo, merchant, tmp_path):
    output = tmp_path / "reviews.jsonl"
    output.write_text("yesterday's export\n")
    okendo.fail_halfway(after=1)

    with pytest.raises(CommandError):
        export(merchant, output)
    assert output.read_text() == "yesterday's export\n"

    export(merchant, output, "--resume")
    assert len(review_numbers(output)) == 250


# --- No secret anywhere --------------------------------------------------------------------


def test_no_secret_in_the_file_the_checkpoint_the_output_or_the_history(okendo, merchant, tmp_path):
    output = tmp_path / "reviews.jsonl"
    okendo.fail_halfway(after=1)
    with pytest.raises(CommandError) as caught:
        export(merchant, output)
    kept = [
        str(caught.value),
        (tmp_path / "reviews.jsonl.checkpoint.json").read_text(),
        (tmp_path / "reviews.jsonl.part").read_text(),
    ]
    stdout, stderr = export(merchant, output, "--resume")
    kept += [stdout, stderr, output.read_text()]
    kept += [f"{e.summary} {json.dumps(e.details)}" for e in ConnectionEvent.objects.all()]
    token = base64.b64encode(f"{okendo.user_id}:{okendo.api_key}".encode()).decode()
    merchant.refresh_from_db()

    everything = "\n".join(kept)
    assert "reviewer000001@example.com" in everything  # the data is there: the scan is not empty
    for secret in (okendo.api_key, token, merchant.api_key_encrypted):
        assert secret not in everything


# --- Progress ------------------------------------------------------------------------------


def test_progress_is_a_bar_with_reviews_pages_and_rate_on_a_terminal(merchant, tmp_path):
    primary, secondary = pty.openpty()
    # A terminal 100 columns wide, as a person's would be.
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    with os.fdopen(secondary, "w", closefd=True) as terminal:
        export(merchant, tmp_path / "reviews.jsonl", stderr=terminal)
    shown = b""
    os.set_blocking(primary, False)
    try:
        while chunk := os.read(primary, 65536):
            shown += chunk
    except (BlockingIOError, OSError):
        pass
    os.close(primary)

    text = shown.decode()
    assert "\r" in text  # redrawn in place
    assert "250 reviews" in text
    assert "pages=3" in text
    assert "reviews/s" in text


def test_progress_without_a_terminal_is_plain_lines(merchant, tmp_path):
    _, stderr = export(merchant, tmp_path / "reviews.jsonl")

    assert "\r" not in stderr
    assert stderr.splitlines()[-1].startswith("250 reviews, 3 pages, ")
    assert stderr.rstrip().endswith("reviews/s")
