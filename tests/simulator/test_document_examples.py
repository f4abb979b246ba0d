"""Every request example in track-api.openapi.json, for the endpoints the simulator serves,
is accepted: the document's own examples are the first test of the simulator's validation."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cio_simulator.reference import TRACK_API, load_document
from cio_simulator.validation import operation_schemas

from tests.simulator.conftest import Client

pytestmark = pytest.mark.integration

SERVED = {
    ("put", "/api/v1/customers/{identifier}"),
    ("post", "/api/v1/customers/{identifier}/events"),
    ("post", "/api/v1/events"),
    ("put", "/api/v1/customers/{identifier}/devices"),
    ("post", "/api/v1/merge_customers"),
    ("post", "/api/v2/entity"),
    ("post", "/api/v2/batch"),
}


def _path_examples() -> list[tuple[str, str, Any]]:
    found = []
    for path, operations in load_document(TRACK_API)["paths"].items():
        for method, operation in operations.items():
            if (method, path) not in SERVED or not isinstance(operation, dict):
                continue
            content = (
                operation.get("requestBody", {}).get("content", {}).get("application/json", {})
            )
            bodies = [content["example"]] if "example" in content else []
            bodies += [
                json.loads(s["source"])
                for s in operation.get("x-codeSamples", [])
                if s.get("label") == "JSON"
            ]
            schema = content.get("schema", {})
            if "example" in schema:
                bodies.append(schema["example"])
            for variant in schema.get("oneOf", []):
                if "example" in variant:
                    bodies.append(variant["example"])
            found += [(method, path, body) for body in bodies]
    return found


def _operation_examples() -> list[tuple[str, Any]]:
    schemas = load_document(TRACK_API)["components"]["schemas"]
    return [
        (name, schemas[name]["example"])
        for name in sorted(set(operation_schemas().values()))
        if "example" in schemas[name]
    ]


# Examples that leave out fields their own schema requires (document defects): what they lack.
INCOMPLETE = {"person_merge": {"type": "person", "action": "merge"}}
PATH_EXAMPLES = _path_examples()
OPERATION_EXAMPLES = _operation_examples()


def test_the_document_has_examples_for_every_served_endpoint() -> None:
    assert {(m, p) for m, p, _ in PATH_EXAMPLES} >= SERVED - {("post", "/api/v2/entity")}
    assert len(OPERATION_EXAMPLES) >= 15


@pytest.mark.parametrize(
    ("method", "path", "body"),
    PATH_EXAMPLES,
    ids=[f"{m} {p} #{i}" for i, (m, p, _) in enumerate(PATH_EXAMPLES)],
)
def test_path_example_is_accepted(client: Client, method: str, path: str, body: Any) -> None:
    if path == "/api/v1/merge_customers":
        client.track("PUT", "/api/v1/customers/42", json={})
    url = path.replace("{identifier}", "42")
    if body.get("type") == "screen":
        body = (
            {**body, "anonymous_id": body.get("anonymous_id", "anon-1")}
            if url.endswith("/events")
            else body
        )
    response = client.track(method.upper(), url, json=body)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("name", "operation"), OPERATION_EXAMPLES, ids=[n for n, _ in OPERATION_EXAMPLES]
)
def test_operation_example_is_accepted_by_entity(client: Client, name: str, operation: Any) -> None:
    if name in INCOMPLETE:
        assert client.track("POST", "/api/v2/entity", json=operation).status_code == 400
        operation = {**operation, **INCOMPLETE[name]}
    response = client.track("POST", "/api/v2/entity", json=operation)
    assert response.status_code == 200, response.text
