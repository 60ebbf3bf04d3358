"""Decrypted secrets stay out of str/repr, logs, pickles, templates and error reports."""

from __future__ import annotations

import copy
import html
import json
import logging
import pickle
import sys
import uuid

import pytest
from django.template import engines
from django.test import override_settings
from django.views.debug import ExceptionReporter, SafeExceptionReporterFilter

from connections import keyring
from connections.keyring import Binding, Key, Keyring
from connections.models import Connection
from connections.sensitive import MASK, Secret

SECRET = "sk_test_NOT_A_REAL_KEY_000000001"


def test_str_repr_and_format_are_masked():
    secret = Secret(SECRET)

    rendered = [
        str(secret),
        repr(secret),
        f"{secret}",
        f"{secret!r}",
        f"{secret:>40}",
        "%s" % secret,  # noqa: UP031 - the old formatting path must mask too
        "{}".format(secret),  # noqa: UP032
        str([secret]),
        repr({"key": secret}),
    ]

    for text in rendered:
        assert SECRET not in text
        assert MASK in text


def test_reveal_returns_the_plaintext():
    assert Secret(SECRET).reveal() == SECRET
    assert Secret(Secret(SECRET)).reveal() == SECRET


def test_secret_refuses_anything_but_text_without_echoing_it():
    with pytest.raises(TypeError, match="Secret holds text") as excinfo:
        Secret(SECRET.encode())  # type: ignore[arg-type]

    assert SECRET not in str(excinfo.value)


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_pickling_is_refused(protocol):
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(Secret(SECRET), protocol=protocol)
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps({"nested": [Secret(SECRET)]}, protocol=protocol)


def test_json_refuses_to_serialise_a_secret_without_echoing_it():
    with pytest.raises(TypeError) as excinfo:
        json.dumps({"api_key": Secret(SECRET)})

    assert SECRET not in str(excinfo.value)


def test_copies_share_the_value_without_pickling():
    secret = Secret(SECRET)

    assert copy.copy(secret) is secret
    assert copy.deepcopy({"k": secret})["k"] is secret


def test_secret_has_no_instance_dict_to_dump():
    with pytest.raises(TypeError):
        vars(Secret(SECRET))


def test_equality_compares_values_not_identity():
    assert Secret(SECRET) == Secret(SECRET)
    assert Secret(SECRET) != Secret(SECRET + "2")
    assert Secret(SECRET) != SECRET  # never equal to bare text, so it is not mistaken for it
    assert hash(Secret(SECRET)) == hash(Secret(SECRET))


def test_truthiness_and_length_follow_the_value():
    assert not Secret("")
    assert Secret(SECRET)
    assert len(Secret(SECRET)) == len(SECRET)


def test_logging_a_secret_prints_the_mask(caplog):
    logger = logging.getLogger("tests.sensitive")

    with caplog.at_level(logging.INFO, logger="tests.sensitive"):
        logger.info("key %s", Secret(SECRET))
        logger.info("key %r", Secret(SECRET))
        logger.info("args %s", {"api_key": Secret(SECRET)})

    assert len(caplog.records) == 3
    assert SECRET not in caplog.text
    assert MASK in caplog.text


def test_templates_show_the_mask_and_cannot_call_reveal():
    template = engines["django"].from_string("[{{ secret }}][{{ secret.reveal }}]")

    rendered = template.render({"secret": Secret(SECRET)})

    assert SECRET not in rendered
    assert rendered == f"[{MASK}][]"


# --- Django error reports -------------------------------------------------------------


def _report_for(call) -> str:
    """Run ``call``, which must raise, and return Django's HTML error report.

    The HTML report is the one that lists each frame's local variables: the
    DEBUG page, and the attachment AdminEmailHandler mails to admins.
    """
    try:
        call()
    except Exception:
        exc_type, exc_value, tb = sys.exc_info()
    else:  # pragma: no cover - the call is chosen to fail
        raise AssertionError("expected an exception")
    return ExceptionReporter(None, exc_type, exc_value, tb).get_traceback_html()


def test_error_report_would_show_unmarked_plaintext_locals():
    # The control for the tests below: without sensitive_variables the report
    # prints local variables, so a leak would be visible.
    def careless(plaintext):
        raise RuntimeError("boom")

    assert SECRET in _report_for(lambda: careless(SECRET))


def test_error_report_hides_plaintext_held_inside_keyring_encrypt():
    material = bytes(range(100, 116))  # 16 bytes: too short, so the cipher raises
    short = Key(key_id="bad", material=material)
    binding = Binding(model="connections.Connection", field="api_key", row=uuid.uuid4())

    report = _report_for(lambda: keyring.encrypt(SECRET, binding, keyring=Keyring(current=short)))

    assert "InvalidKey" in report
    assert SECRET not in report
    assert html.escape(repr(material)) not in report
    assert material.decode() not in report


def test_error_report_hides_plaintext_passed_to_the_model():
    connection = Connection(name="Report test", api_type=Connection.ApiType.MERCHANT)

    with override_settings(CONNECTIONS_ENCRYPTION_KEY=""):
        report = _report_for(lambda: connection.set_api_key(SECRET))

    assert "KeySpecError" in report
    assert "set_api_key" in report
    assert SECRET not in report


def test_error_report_hides_the_encryption_key_settings():
    fallback = "old1:ZmFrZS1vbGQta2V5LWZvci10ZXN0cy1vbmx5LSEhISE="
    with override_settings(CONNECTIONS_ENCRYPTION_KEY_FALLBACKS=[fallback]):
        safe = SafeExceptionReporterFilter().get_safe_settings()

    assert safe["CONNECTIONS_ENCRYPTION_KEY"] == SafeExceptionReporterFilter.cleansed_substitute
    assert (
        safe["CONNECTIONS_ENCRYPTION_KEY_FALLBACKS"]
        == SafeExceptionReporterFilter.cleansed_substitute
    )
