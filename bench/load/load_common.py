"""Names and values shared by run.py and the locustfile (no locust import here)."""

from __future__ import annotations

import hashlib
import hmac

LIST = "GET /connections/"
DETAIL = "GET /connections/<id>/"
CREATE = "POST /connections/new/"
TEST = "POST /connections/<id>/test/"


def created_secret(run_key: str, name: str) -> str:
    """Derive the API key a connection created under load gets, so run.py can check it.

    Derived rather than recorded, so no file of the run ever holds a secret.
    """
    digest = hmac.new(run_key.encode(), name.encode(), hashlib.sha256).hexdigest()
    return f"NOTREAL{digest[:25]}"
