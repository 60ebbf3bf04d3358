"""The API's OpenAPI 3.1 schema: valid, served with its docs from this site, and kept by the API.

``test_schemathesis_finds_no_server_error_and_no_schema_violation`` runs
schemathesis against a live server (all endpoints, a valid token, the fake
Okendo behind the tests); its examples are bounded so it stays fast.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import requests
import schemathesis
from django.contrib.auth.models import Permission
from django.contrib.staticfiles import finders
from django.test import Client
from hypothesis import HealthCheck, given, settings
from openapi_spec_validator import validate
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from connections.api.tokens import api_token_create
from tests.factories import create_connection, make_user, okendo_connection

SCHEMA = "/api/v1/schema/"


@pytest.fixture
def schema_document(db) -> dict[str, Any]:
    response = Client().get(SCHEMA, {"format": "json"})
    assert response.status_code == 200
    return response.json()


def test_the_schema_is_valid_openapi_3_1(schema_document: dict[str, Any]) -> None:
    validate(schema_document)  # raises on any violation of the OpenAPI 3.1 specification

    assert schema_document["openapi"] == "3.1.0"
    paths = schema_document["paths"]
    assert sorted(paths) == [
        "/api/v1/connections/",
        "/api/v1/connections/test/",
        "/api/v1/connections/{id}/",
        "/api/v1/connections/{id}/customers/",
        "/api/v1/connections/{id}/events/",
        "/api/v1/connections/{id}/groups/{group_id}/review-aggregate/",
        "/api/v1/connections/{id}/groups/{group_id}/reviews/",
        "/api/v1/connections/{id}/loyalty-customers/",
        "/api/v1/connections/{id}/products/{product_id}/review-aggregate/",
        "/api/v1/connections/{id}/products/{product_id}/reviews/",
        "/api/v1/connections/{id}/review-aggregate/",
        "/api/v1/connections/{id}/reviews/",
        "/api/v1/connections/{id}/reviews/export/",
        "/api/v1/connections/{id}/test/",
    ]
    assert sorted(paths["/api/v1/connections/{id}/"]) == [
        "delete",
        "get",
        "parameters",
        "patch",
        "put",
    ] or sorted(paths["/api/v1/connections/{id}/"]) == ["delete", "get", "patch", "put"]
    assert schema_document["components"]["securitySchemes"]["apiToken"]["scheme"] == "bearer"


def test_the_schema_marks_secrets_write_only(schema_document: dict[str, Any]) -> None:
    schemas = schema_document["components"]["schemas"]

    request = schemas["ConnectionWriteRequest"]["properties"]
    assert request["api_key"]["writeOnly"] is True
    assert request["password"]["writeOnly"] is True
    read = schemas["Connection"]["properties"]
    assert not {"api_key", "password", "user_id", "username"} & set(read)


@pytest.mark.parametrize("page", ["/api/v1/docs/", "/api/v1/redoc/"])
def test_the_docs_load_their_assets_from_this_site(db, page: str) -> None:
    response = Client().get(page)

    assert response.status_code == 200
    html = response.content.decode()
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assets = [s for s in sources if s.endswith((".js", ".css", ".png"))]
    assert assets
    assert [s for s in assets if not s.startswith("/static/")] == []  # no CDN
    for asset in assets:
        assert finders.find(asset.removeprefix("/static/")), asset
    assert SCHEMA in html


# --- schemathesis against a live server ---------------------------------------------------


@pytest.fixture
def api_schema(live_server, okendo, settings_override) -> Any:
    admin = make_user("schemathesis", "view", "add", "change", "delete")
    admin.user_permissions.add(Permission.objects.get(codename="read_data"))
    okendo.serve_reviews(okendo.user_id, 30)
    okendo.serve_reviews(okendo.store_id, 30)
    _, token = api_token_create(user=admin, name="schemathesis")
    create_connection(admin, name="Merchant one", account_id=okendo.user_id, secret=okendo.api_key)
    okendo_connection(okendo, api_type="storefront", name="Storefront one")
    document = requests.get(f"{live_server.url}{SCHEMA}?format=json", timeout=10).json()
    schema = schemathesis.openapi.from_dict(document)
    schema.config.update(base_url=live_server.url, headers={"Authorization": f"Bearer {token}"})
    return schema


@pytest.fixture
def settings_override(settings) -> None:
    settings.CONNECTIONS_API_THROTTLE_RATE = ""  # thousands of requests, one token


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def test_schemathesis_finds_no_server_error_and_no_schema_violation(api_schema) -> None:
    # Data that fits the schema and data that does not (wrong types, missing fields).
    # Driven through Hypothesis directly: schemathesis's pytest plugin does not run
    # under pytest 9 (it reads a node attribute pytest removed).
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) == 18  # every endpoint, every method
    seen: dict[str, set[int]] = {}

    runs = [(op, mode) for op in operations for mode in GenerationMode]
    for operation, mode in runs:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=20,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def run(case) -> None:
            response = case.call_and_validate(checks=CHECKS)
            seen.setdefault(case.operation.label, set()).add(response.status_code)

        run()

    # The token was sent: the run reached the views, not only the 401 of a stranger.
    assert [label for label, codes in seen.items() if codes == {401}] == []
    assert 200 in seen["GET /api/v1/connections/"]
    assert 400 in seen["POST /api/v1/connections/"]
