"""Realistic reporting-webhook events taken from reporting-webhooks.openapi.json.

Two sources, both checked against the document's own schema for their object_type and metric
(the document's top-level `oneOf` is ambiguous: its own examples match several branches):
- the request-body `examples` Customer.io publishes (a few whole events), and
- one event per (object_type, metric) schema in the document (email sent, email bounced, push
  opened, ...), built from the field-level `example`, `enum` and type of each property.

The document's examples share one `event_id`; a consumer that deduplicates by `event_id` would
drop all but one, so by default every event gets its own ULID (`unique_ids=False` keeps them).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from functools import cache
from typing import Any

from jsonschema import Draft202012Validator
from ulid import ULID

from cio_simulator.reference import REPORTING_WEBHOOKS, load_document

_DEFAULTS: dict[str, Any] = {
    "string": "example",
    "integer": 1,
    "number": 1.5,
    "boolean": True,
    "object": {},
    "array": [],
}


@dataclass(frozen=True)
class WebhookExample:
    name: str
    object_type: str
    metric: str
    payload: dict[str, Any]


def _operation() -> dict[str, Any]:
    operation: dict[str, Any] = load_document(REPORTING_WEBHOOKS)["webhooks"]["reportingWebhook"][
        "post"
    ]
    return operation


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    schemas = load_document(REPORTING_WEBHOOKS)["components"]["schemas"]
    while "$ref" in schema:
        schema = schemas[schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _object_shape(schema: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Properties and required names of an object schema, through $ref and allOf."""
    schema = _resolve(schema)
    properties = dict(schema.get("properties", {}))
    required = list(schema.get("required", []))
    parts = list(schema.get("allOf", []))
    if schema.get("oneOf") or schema.get("anyOf"):
        parts.append(_choose(schema.get("oneOf") or schema["anyOf"]))
    for part in parts:
        more, needed = _object_shape(part)
        properties.update(more)
        required += needed
    return properties, required


def _choose(options: list[dict[str, Any]]) -> dict[str, Any]:
    """The variant to build: campaign deliveries are the common case, else the first."""
    for option in options:
        if _resolve(option).get("title") == "Campaign":
            return option
    return options[0]


def _is_object(schema: dict[str, Any]) -> bool:
    schema = _resolve(schema)
    if schema.get("type") == "object" or "properties" in schema or "allOf" in schema:
        return True
    options = schema.get("oneOf") or schema.get("anyOf") or []
    return bool(options) and all(_is_object(o) for o in options)


def _instance(schema: dict[str, Any]) -> Any:
    """A value for `schema`: objects built property by property; scalars from their example,
    else the first enum/const value, else a default for the type."""
    schema = _resolve(schema)
    if _is_object(schema):
        properties, required = _object_shape(schema)
        value = {
            name: _instance(sub)
            for name, sub in properties.items()
            if name in required or not _resolve(sub).get("deprecated")
        }
        for name in required:
            value.setdefault(name, "example")
        return value
    if schema.get("oneOf") or schema.get("anyOf"):
        return _instance(_choose(schema.get("oneOf") or schema["anyOf"]))
    return _scalar(schema)


def _scalar(schema: dict[str, Any]) -> Any:
    if "example" in schema:
        return copy.deepcopy(schema["example"])
    if "const" in schema or schema.get("enum"):
        return schema.get("const", (schema.get("enum") or [None])[0])
    kind = schema.get("type")
    kind = next((k for k in kind if k != "null"), "string") if isinstance(kind, list) else kind
    if kind == "array":
        return [_instance(schema["items"])] if "items" in schema else []
    return copy.deepcopy(_DEFAULTS.get(kind or "string", "example"))


def _leaf_schemas() -> list[tuple[str, dict[str, Any]]]:
    """(name, schema) for every (object_type, metric) event schema in the document."""
    top = _operation()["requestBody"]["content"]["application/json"]["schema"]["oneOf"]
    leaves = []
    for family in top:
        family_schema = _resolve(family)
        for option in family_schema.get("oneOf", [family]):
            leaves.append((option.get("$ref", "").rsplit("/", 1)[-1], option))
    return leaves


@cache
def _leaf_validators() -> dict[tuple[str, str], tuple[str, Draft202012Validator]]:
    """(object_type, metric) -> (schema name, validator) for every event schema."""
    components = load_document(REPORTING_WEBHOOKS)["components"]
    table = {}
    for name, schema in _leaf_schemas():
        sample = _instance(schema)
        key = (str(sample.get("object_type")), str(sample.get("metric")))
        table[key] = (name, Draft202012Validator({**schema, "components": components}))
    return table


def event_errors(event: dict[str, Any]) -> list[str]:
    """Why `event` does not match the document's schema for its object_type and metric."""
    key = (str(event.get("object_type")), str(event.get("metric")))
    found = _leaf_validators().get(key)
    if found is None:
        return [f"no schema for object_type {key[0]!r} with metric {key[1]!r}"]
    return [error.message for error in found[1].iter_errors(event)]


@cache
def _examples() -> tuple[WebhookExample, ...]:
    found: list[WebhookExample] = []
    published = _operation()["requestBody"]["content"]["application/json"].get("examples", {})
    for name, example in published.items():
        payload = example["value"]
        if not event_errors(payload):
            found.append(WebhookExample(name, payload["object_type"], payload["metric"], payload))
    for (object_type, metric), (name, _) in _leaf_validators().items():
        payload = _instance(dict(_leaf_schemas())[name])
        # Skips schemas no real event can match (the document names one property
        # `object_type_type`, so its example would carry no `object_type`).
        if object_type != "None" and not event_errors(payload):
            found.append(WebhookExample(name, object_type, metric, payload))
    return tuple(found)


def example_events(unique_ids: bool = True) -> list[WebhookExample]:
    """Every example event the document yields, valid against its schema."""
    examples = [
        WebhookExample(e.name, e.object_type, e.metric, copy.deepcopy(e.payload))
        for e in _examples()
    ]
    if unique_ids:
        for example in examples:
            example.payload["event_id"] = str(ULID())
    return examples
