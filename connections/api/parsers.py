"""The API's request parsers."""

from __future__ import annotations

from typing import Any

from rest_framework import parsers
from rest_framework.exceptions import ParseError


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, answering 400 for JSON nested too deeply to parse.

    Python's ``json`` parses arrays and objects recursively: a body of a thousand
    nested ``[`` raises ``RecursionError``, which DRF does not catch (a 500 whose
    debug page would show the raw body, secret and all).
    """

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        """Return the parsed body; raise ``ParseError`` (400) for malformed or too deep JSON."""
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - the JSON is nested too deeply.") from None
