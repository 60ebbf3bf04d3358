"""A wrapper that keeps a decrypted secret out of logs, pages and pickles.

No Django here, so the Okendo client can take a :class:`Secret` too.
"""

from __future__ import annotations

import hmac
from typing import NoReturn

MASK = "********"


class Secret:
    """Hold a plaintext secret; ``str`` and ``repr`` show a mask, ``reveal()`` the value.

    Call ``reveal()`` only where the value really leaves the process (the
    Authorization header sent to Okendo) or is encrypted for storage.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str | Secret) -> None:
        if type(value) is not str:  # the common case first: decryption makes one per read
            if isinstance(value, Secret):
                value = value.reveal()
            elif not isinstance(value, str):
                raise TypeError("Secret holds text.")
        self._value = value

    def reveal(self) -> str:
        """Return the plaintext."""
        return self._value

    # Django templates call attributes that are callables: without this,
    # {{ connection.get_api_key.reveal }} would print the plaintext. Flagged
    # methods render as the engine's "invalid" string instead.
    reveal.alters_data = True  # type: ignore[attr-defined]

    def __str__(self) -> str:
        return MASK

    def __repr__(self) -> str:
        return f"Secret({MASK!r})"

    def __format__(self, format_spec: str) -> str:
        return MASK

    def __bool__(self) -> bool:
        return bool(self._value)

    def __len__(self) -> int:
        return len(self._value)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(
            self._value.encode("utf-8", "surrogatepass"),
            other._value.encode("utf-8", "surrogatepass"),
        )

    def __hash__(self) -> int:
        return hash((Secret, self._value))

    def __reduce_ex__(self, protocol: object) -> NoReturn:
        # Pickles end up in caches, sessions and task queues: never let a
        # plaintext secret travel that way.
        raise TypeError("Secret values cannot be pickled.")

    def __copy__(self) -> Secret:
        return self

    def __deepcopy__(self, memo: object) -> Secret:
        return self
