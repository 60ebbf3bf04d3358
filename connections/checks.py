"""System checks for the encryption keys, the shared cache and the Okendo API address.

The settings module already refuses to start with a malformed key; these
checks cover what it cannot see (``override_settings``, settings changed at
runtime) and make ``manage.py check --deploy`` list every problem at once,
each with a stable id. Messages name the setting and the key id, never the
key itself.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.db import connections as db_connections
from django.db import router

from connections import keyring, okendo
from connections.models import KeyCheckValue

CURRENT = "CONNECTIONS_ENCRYPTION_KEY"
FALLBACKS = "CONNECTIONS_ENCRYPTION_KEY_FALLBACKS"
GENERATE_HINT = f"Generate a key with: {keyring.KEY_SPEC_EXAMPLE}"

# One stable id per kind of problem with the current key.
_CURRENT_IDS = {
    "missing": "connections.E001",
    "form": "connections.E002",
    "base64": "connections.E002",
    "key_id": "connections.E003",
    "length": "connections.E004",
}
FALLBACK_MALFORMED = "connections.E005"
DUPLICATE_KEY_ID = "connections.E006"
PER_PROCESS_CACHE = "connections.W001"
KEY_MATERIAL_CHANGED = "connections.E010"
BASE_URL_REFUSED = "connections.E011"


def _current_key_errors(spec: object) -> tuple[list[CheckMessage], keyring.Key | None]:
    if spec is None or (isinstance(spec, str) and not spec.strip()):
        return [
            Error(
                f"{CURRENT} is not set: nothing can encrypt or decrypt connection secrets.",
                hint=f"Set it to {keyring.KEY_SPEC_FORM}. {GENERATE_HINT}",
                id=_CURRENT_IDS["missing"],
            )
        ], None
    if not isinstance(spec, str):
        return [
            Error(
                f"{CURRENT} must be a string of the form {keyring.KEY_SPEC_FORM}.",
                id=_CURRENT_IDS["form"],
            )
        ], None
    try:
        return [], keyring.parse_key_spec(spec, name=CURRENT)
    except keyring.KeySpecError as exc:
        return [
            Error(str(exc), hint=GENERATE_HINT, id=_CURRENT_IDS.get(exc.code, _CURRENT_IDS["form"]))
        ], None


def _fallback_errors(specs: object) -> tuple[list[CheckMessage], list[keyring.Key]]:
    try:
        parts = keyring.split_key_list(specs or (), name=FALLBACKS)
    except keyring.KeySpecError as exc:
        return [Error(str(exc), id=FALLBACK_MALFORMED)], []
    errors: list[CheckMessage] = []
    keys: list[keyring.Key] = []
    for position, spec in enumerate(parts, start=1):
        try:
            keys.append(keyring.parse_key_spec(spec, name=f"{FALLBACKS} entry {position}"))
        except keyring.KeySpecError as exc:
            errors.append(
                Error(
                    str(exc),
                    hint=(
                        "Each fallback must be an old key exactly as it was configured as "
                        f"{CURRENT}, so values it encrypted can still be read."
                    ),
                    id=FALLBACK_MALFORMED,
                )
            )
    return errors, keys


@register(Tags.security)
def check_encryption_keys(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Check the current and fallback encryption keys: present, well-formed, ids unique."""
    errors, current = _current_key_errors(getattr(settings, CURRENT, None))
    fallback_errors, fallbacks = _fallback_errors(getattr(settings, FALLBACKS, ()))
    errors += fallback_errors
    ids = [key.key_id for key in ([current] if current else []) + fallbacks]
    repeated = sorted({key_id for key_id in ids if ids.count(key_id) > 1})
    if repeated:
        errors.append(
            Error(
                f"Encryption key ids must be unique across {CURRENT} and {FALLBACKS}; "
                f"repeated: {', '.join(repeated)}.",
                hint=(
                    "Stored values name the key that encrypted them by its id, so one id "
                    "must mean one key. Give a new key a new id."
                ),
                id=DUPLICATE_KEY_ID,
            )
        )
    return errors


@register(Tags.caches, deploy=True)
def check_shared_cache(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Warn when ``DEBUG`` is off and the default cache lives in each process (``locmem``).

    The Okendo rate limiter and the one-test-per-connection lock
    (``connections.ratelimit``) only hold across the processes that share this cache.
    """
    backend = settings.CACHES.get("default", {}).get("BACKEND", "")
    if settings.DEBUG or backend != "django.core.cache.backends.locmem.LocMemCache":
        return []
    return [
        Warning(
            "The default cache is LocMemCache, private to each process: every gunicorn "
            "worker would keep its own Okendo rate limit and test locks.",
            hint=(
                "Set CACHE_URL=db:// (one host; run manage.py createcachetable) or "
                "CACHE_URL=redis://HOST:6379/0 (several hosts)."
            ),
            id=PER_PROCESS_CACHE,
        )
    ]


@register(Tags.security)
def check_okendo_base_url(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Check that OKENDO_API_BASE_URL may receive credentials: https, no userinfo, path or query.

    Plain ``http://`` is refused with ``DEBUG`` off unless the host is loopback
    (127.0.0.0/8, ``::1``, ``localhost``); the client refuses the same URLs
    before it sends anything (:func:`connections.okendo.base_url_problem`).
    The message never repeats the URL, which may hold a password.
    """
    base_url = getattr(settings, "OKENDO_API_BASE_URL", "")
    if not isinstance(base_url, str):
        problem: str | None = "is not a string"
    else:
        problem = okendo.base_url_problem(base_url, allow_http=settings.DEBUG)
    if problem is None:
        return []
    return [
        Error(
            f"OKENDO_API_BASE_URL {problem}.",
            hint=(
                "Set it to https://api.okendo.io (or leave it unset). Connection tests refuse "
                "to send credentials to it until then."
            ),
            id=BASE_URL_REFUSED,
        )
    ]


@register(Tags.database)
def check_key_check_values(
    app_configs: Any = None, databases: Any = None, **kwargs: Any
) -> list[CheckMessage]:
    """Compare every configured key with the key check value stored for its id.

    Reads the database, so, like Django's own database checks, it runs only
    when asked to (``manage.py check --database default``, which
    ``check --deploy`` can be given too) and says nothing before the table
    exists. A malformed key is left to :func:`check_encryption_keys`.
    """
    alias = router.db_for_read(KeyCheckValue)
    if not databases or alias not in databases:
        return []
    try:
        ring = keyring.keyring_from_settings(settings)
    except keyring.KeySpecError:
        return []
    if KeyCheckValue._meta.db_table not in db_connections[alias].introspection.table_names():
        return []
    return [
        Error(
            f"Wrong key material for key id {key_id}: the key configured under this id in "
            f"{CURRENT} or {FALLBACKS} is not the one that encrypted the stored secrets (its "
            "key check value differs). Secrets under it cannot be decrypted.",
            hint=(
                "Restore the original key for this id; a new key needs a new id. "
                "See docs/encryption-keys.md, 'Key check values'."
            ),
            id=KEY_MATERIAL_CHANGED,
        )
        for key_id in KeyCheckValue.mismatched_key_ids(ring, using=alias)
    ]
