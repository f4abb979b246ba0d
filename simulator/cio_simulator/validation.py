"""Validate request bodies against the request schemas of Customer.io's Track API document.

The document is OpenAPI 3.1 (JSON Schema 2020-12), so each schema is checked with jsonschema,
`$ref`s resolved inside the document itself. v2 operations are dispatched on `type` and
`action` (the document's discriminator) before validation, so an error names the field that is
wrong instead of "not valid under any of the given schemas".
"""

from __future__ import annotations

import copy
import re
from functools import cache
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from cio_simulator.reference import PIPELINES_API, TRACK_API, load_document

_REQUIRED = re.compile(r"^'([^']+)' is a required property$")
OPERATION_GROUPS = {"person": "person_operations", "object": "object_operations"}


def _escape(part: str) -> str:
    return part.replace("~", "~0").replace("/", "~1")


@cache
def _repaired_document() -> dict[str, Any]:
    """The Track API document with its ambiguous `oneOf`s made to say what they mean.

    Several identifier choices are written as a `oneOf` of single-property objects none of which
    requires its property (merge `primary`/`secondary`, `cio_relationships[].identifiers`), so
    `{"id": "42"}` matches every branch and fails `oneOf`; even the document's own examples do.
    Each such branch gets `required: [<its property>]`: exactly one identifier, as the prose says.
    """
    document = copy.deepcopy(load_document(TRACK_API))
    _repair(document)
    return document


def _repair(node: Any) -> None:
    if isinstance(node, dict):
        options = node.get("oneOf")
        if isinstance(options, list) and all(_single_optional_property(o) for o in options):
            for option in options:
                option["required"] = list(option["properties"])
        for value in node.values():
            _repair(value)
    elif isinstance(node, list):
        for value in node:
            _repair(value)


def _single_optional_property(option: Any) -> bool:
    return (
        isinstance(option, dict)
        and option.get("type") == "object"
        and len(option.get("properties", {})) == 1
        and not option.get("required")
    )


def _validator(pointer: str) -> Draft202012Validator:
    document = _repaired_document()
    return Draft202012Validator(
        {"$ref": pointer, "components": document["components"], "paths": document["paths"]}
    )


@cache
def request_validator(path: str, method: str) -> Draft202012Validator:
    """Validator for the JSON request body of `method path` as the document declares it."""
    paths = load_document(TRACK_API)["paths"]
    if method not in paths.get(path, {}):
        raise KeyError(f"{method.upper()} {path} is not in {TRACK_API}")
    return _validator(
        f"#/paths/{_escape(path)}/{method}/requestBody/content/{_escape('application/json')}/schema"
    )


@cache
def operation_schemas() -> dict[tuple[str, str], str]:
    """(type, action) -> component schema name, read from the document's operation lists."""
    schemas = load_document(TRACK_API)["components"]["schemas"]
    table = {("delivery", "event"): "delivery_operations"}
    for type_name, group in OPERATION_GROUPS.items():
        for option in schemas[group]["oneOf"]:
            name = option["$ref"].rsplit("/", 1)[-1]
            for action in _actions(schemas[name]):
                table[(type_name, action)] = name
    return table


def _actions(schema: dict[str, Any]) -> list[str]:
    parts = [schema, *schema.get("allOf", [])]
    for part in parts:
        enum = part.get("properties", {}).get("action", {}).get("enum")
        if enum:
            return list(enum)
    return []


@cache
def _component_validator(name: str) -> Draft202012Validator:
    return _validator(f"#/components/schemas/{name}")


def operation_error(operation: Any) -> tuple[str, str] | None:
    """(field, message) for an invalid v2 entity/batch operation, None when it is valid."""
    if not isinstance(operation, dict):
        return "body", "an operation must be a JSON object"
    table = operation_schemas()
    kind, action = operation.get("type"), operation.get("action")
    types = sorted({t for t, _ in table})
    if kind not in types:
        return "type", f"type must be one of {types}, got {kind!r}"
    actions = sorted(a for t, a in table if t == kind)
    if action not in actions:
        return "action", f"action for type {kind} must be one of {actions}, got {action!r}"
    error = first_error(_component_validator(table[(kind, action)]), operation)
    return describe(error) if error else None


def event_error(event: Any) -> tuple[str, str] | None:
    """(field, message) for an invalid v1 event body, choosing the variant by its `type`."""
    if not isinstance(event, dict):
        return "body", "the event must be a JSON object"
    schema = _repaired_document()["components"]["schemas"]["eventsRequest"]
    wanted = event.get("type", "event")
    for index, variant in enumerate(schema["oneOf"]):
        if wanted in variant.get("properties", {}).get("type", {}).get("enum", []):
            error = first_error(_event_variant_validator(index), event)
            return describe(error) if error else None
    return "type", f"type must be one of event, page, screen, got {wanted!r}"


@cache
def _event_variant_validator(index: int) -> Draft202012Validator:
    return _validator(f"#/components/schemas/eventsRequest/oneOf/{index}")


def first_error(validator: Draft202012Validator, instance: Any) -> ValidationError | None:
    """The most relevant schema violation, or None when the instance is valid."""
    return best_match(validator.iter_errors(instance))


def describe(error: ValidationError) -> tuple[str, str]:
    """(field, message) for an API error body: the JSON path of the fault and what is wrong."""
    location = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
    field = location.lstrip(".") or "body"
    if error.validator == "required":
        missing = _REQUIRED.match(error.message)
        if missing:
            return (f"{location}.{missing.group(1)}".lstrip("."), error.message)
    if error.validator in ("oneOf", "anyOf") and isinstance(error.validator_value, list):
        titles = [s.get("title") for s in error.validator_value if isinstance(s, dict)]
        shapes = ", ".join(t for t in titles if t) or "the documented shapes"
        return field, f"{field} must match exactly one of: {shapes}"
    message = error.message if len(error.message) <= 300 else error.message[:297] + "..."
    return field, message


# -- Pipelines API (pipelines-api.openapi.json) ---------------------------------------------------

PIPELINES_CALLS = frozenset({"identify", "track", "page", "screen", "group", "alias"})


@cache
def _pipelines_schemas() -> dict[str, Any]:
    """The Pipelines document's components, with two ambiguities resolved as the prose means.

    `group`'s Known/Anonymous branches require neither `userId` nor `anonymousId`, so a call
    with a `userId` matches both and fails `oneOf`: each branch requires its identifier. A
    semantic event (`User Deleted`, ...) is both a "Custom event" and its semantic schema, so
    `track` calls are dispatched on the event name instead (see `pipelines_call_error`).
    """
    components = copy.deepcopy(load_document(PIPELINES_API)["components"])
    for branch in components["schemas"]["group"]["oneOf"]:
        for part in branch.get("allOf", []):
            properties = part.get("properties", {})
            for identifier in ("userId", "anonymousId"):
                if identifier in properties and "groupId" in properties:
                    part["required"] = sorted({*part.get("required", []), identifier})
    return components


@cache
def semantic_event_schemas() -> dict[str, str]:
    """Semantic event name -> its component schema (e.g. `User Deleted` -> `delete_person`)."""
    table = {}
    for name, schema in _pipelines_schemas()["schemas"].items():
        enum = schema.get("properties", {}).get("event", {}).get("enum") or []
        if (
            schema.get("type") == "object"
            and len(enum) == 1
            and "userId" in schema.get("required", [])
        ):
            table[enum[0]] = name
    return table


@cache
def _pipelines_validator(pointer: str) -> Draft202012Validator:
    return Draft202012Validator({"$ref": pointer, "components": _pipelines_schemas()})


def pipelines_call_error(kind: str, call: Any) -> tuple[str, str] | None:
    """(field, message) for an invalid Pipelines call of `kind`, None when it is valid."""
    pointer = f"#/components/schemas/{kind}"
    if kind == "track" and isinstance(call, dict):
        semantic = semantic_event_schemas().get(str(call.get("event")))
        pointer = (
            f"#/components/schemas/{semantic}"
            if semantic
            else "#/components/schemas/track/oneOf/0"  # "Custom event"
        )
    error = first_error(_pipelines_validator(pointer), call)
    return describe(error) if error else None
