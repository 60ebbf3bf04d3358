"""System checks for the encryption key settings and the shared cache.

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

from connections import keyring

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
