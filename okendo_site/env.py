"""Read the site's configuration from the environment, in one place.

Every setting the site takes from outside goes through :class:`Env`, so the
names, defaults and error messages live together. Messages name the variable
and the expected form, never the value that was found.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Mapping
from typing import NoReturn

TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off", ""})


class ConfigurationError(Exception):
    """Raised when a variable is present but does not have the expected form."""


class Env:
    """Typed access to environment variables, with an optional fallback mapping.

    The fallback holds values from the local development keys file; a real
    environment variable always wins over it.
    """

    def __init__(
        self,
        environ: Mapping[str, str] | None = None,
        fallback: Mapping[str, str] | None = None,
    ) -> None:
        self._environ = os.environ if environ is None else environ
        self._fallback = dict(fallback or {})

    def with_fallback(self, fallback: Mapping[str, str]) -> Env:
        """Return a copy that reads ``fallback`` for names the environment lacks."""
        return Env(self._environ, {**self._fallback, **fallback})

    def is_set(self, name: str) -> bool:
        """Tell whether ``name`` has a non-empty value (environment or fallback)."""
        return bool(self._raw(name))

    def _raw(self, name: str) -> str | None:
        value = self._environ.get(name)
        if value is None or value == "":
            value = self._fallback.get(name)
        return value

    def get_str(self, name: str, default: str = "") -> str:
        """Return the value of ``name`` with surrounding space removed, or ``default``."""
        value = self._raw(name)
        return default if value is None or value.strip() == "" else value.strip()

    def get_bool(self, name: str, default: bool = False) -> bool:
        """Return ``name`` read as a yes/no word (1/0, true/false, yes/no, on/off)."""
        value = self._raw(name)
        if value is None:
            return default
        word = value.strip().lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
        raise ConfigurationError(f"{name} must be one of 1/0, true/false, yes/no, on/off.")

    def get_int(self, name: str, default: int) -> int:
        """Return ``name`` as a whole number, or ``default`` when it is not set."""
        value = self.get_str(name)
        if not value:
            return default
        try:
            return int(value)
        except ValueError:
            raise ConfigurationError(f"{name} must be a whole number.") from None

    def get_float(self, name: str, default: float, *, zero: bool = False) -> float:
        """Return ``name`` as a positive (or, with ``zero``, non-negative) number of seconds."""
        value = self.get_str(name)
        if not value:
            return default
        try:
            number = float(value)
        except ValueError:
            raise ConfigurationError(
                f"{name} must be a number of seconds, e.g. 5 or 2.5."
            ) from None
        if not math.isfinite(number):
            raise ConfigurationError(f"{name} must be a finite number of seconds, e.g. 5 or 2.5.")
        if number < 0 or (number == 0 and not zero):
            raise ConfigurationError(
                f"{name} must be {'0 or more' if zero else 'greater than zero'}."
            )
        return number

    def get_list(self, name: str, default: tuple[str, ...] = ()) -> list[str]:
        """Return ``name`` split on commas, blanks dropped."""
        value = self.get_str(name)
        if not value:
            return list(default)
        return [part.strip() for part in value.split(",") if part.strip()]


def stop(message: str) -> NoReturn:
    """Print one configuration message and stop the process, without a traceback.

    A traceback would show the settings module's locals to whoever reads the
    logs; one sentence naming the variable and its expected form is enough.
    """
    sys.stderr.write(f"Configuration error: {message}\n")
    raise SystemExit(2)
