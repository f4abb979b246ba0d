"""The Track API (`https://track.customer.io`): v1 per-person calls and v2 entity/batch.

Paths, bodies and status codes follow track-api.openapi.json. Validation runs in this order:
JSON syntax, the documented limits (with the messages Customer.io's docs list), then the
document's request schema. Accepted operations change the workspace; see workspace.py for what
is stored and which accepted operations are ignored.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, NamedTuple

from cio_simulator import limits, validation
from cio_simulator.config import SimulatorConfig
from cio_simulator.http import ApiError, Request, Response, Router
from cio_simulator.people import Ref
from cio_simulator.workspace import Workspace

REGION_URLS = {"us": "https://track.customer.io", "eu": "https://track-eu.customer.io"}
EVENT_ACTIONS = ("event", "page", "screen")


class Problem(NamedTuple):
    """One invalid v2 operation, in the shape of Customer.io's `errors` items."""

    field: str
    message: str
    reason: str = "invalid"


def v1_error(message: str, status: int = 400) -> ApiError:
    """v1 error body: `meta.error` (as the docs show) and `meta.errors` (as the document shows)."""
    return ApiError(status, {"meta": {"error": message, "errors": [message]}}, message)


def v2_error(field: str, message: str, reason: str = "invalid", status: int = 400) -> ApiError:
    return ApiError(
        status, {"errors": [{"reason": reason, "field": field, "message": message}]}, message
    )


class TrackApi:
    def __init__(self, workspace: Workspace, config: SimulatorConfig) -> None:
        self.workspace = workspace
        self.config = config

    def register(self, router: Router) -> None:
        v1 = "/api/v1"
        router.add("GET", f"{v1}/accounts/region", self.region)
        router.add("PUT", f"{v1}/customers/{{identifier}}", self.identify)
        router.add("DELETE", f"{v1}/customers/{{identifier}}", self.delete)
        router.add("POST", f"{v1}/customers/{{identifier}}/events", self.track)
        router.add("POST", f"{v1}/events", self.track_anonymous)
        router.add("PUT", f"{v1}/customers/{{identifier}}/devices", self.add_device)
        router.add(
            "DELETE", f"{v1}/customers/{{identifier}}/devices/{{device_id}}", self.delete_device
        )
        router.add("POST", f"{v1}/customers/{{identifier}}/suppress", self.suppress)
        router.add("POST", f"{v1}/customers/{{identifier}}/unsuppress", self.unsuppress)
        router.add("POST", f"{v1}/merge_customers", self.merge)
        router.add("POST", "/api/v2/entity", self.entity)
        router.add("POST", "/api/v2/batch", self.batch)

    # -- v1 ---------------------------------------------------------------------------------

    def region(self, request: Request) -> Response:
        region = self.config.region
        return Response(
            200,
            {
                "url": REGION_URLS[region],
                "region": region,
                "environment_id": self.config.environment_id,
            },
        )

    def identify(self, request: Request) -> Response:
        ref = _path_ref(request)
        body = _json_object(request)
        problem = limits.attributes_error(body)
        if problem:
            raise v1_error(problem)
        self._check_v1_schema(body, "/api/v1/customers/{identifier}", "put")
        timestamp = body.get("_timestamp")
        outcome = self.workspace.identify(
            ref,
            body,
            timestamp=timestamp,
            update_only=body.get("_update") is True,
            relationships=_v1_relationships(body),
        )
        return _ok(outcome)

    def delete(self, request: Request) -> Response:
        return _ok(self.workspace.delete(_path_ref(request)))

    def track(self, request: Request) -> Response:
        ref = _path_ref(request)
        event = self._checked_event(request)
        return _ok(self.workspace.track(ref, event, api="v1"))

    def track_anonymous(self, request: Request) -> Response:
        event = _json_object(request)
        problem = limits.event_error(event.get("name"), event.get("data"))
        if problem:
            raise v1_error(problem)
        self._check_v1_schema(event, "/api/v1/events", "post")
        return _ok(self.workspace.track(None, event, api="v1"))

    def add_device(self, request: Request) -> Response:
        ref = _path_ref(request)
        body = _json_object(request)
        self._check_v1_schema(body, "/api/v1/customers/{identifier}/devices", "put")
        return _ok(self.workspace.add_device(ref, body["device"]))

    def delete_device(self, request: Request) -> Response:
        return _ok(self.workspace.delete_device(_path_ref(request), request.params["device_id"]))

    def suppress(self, request: Request) -> Response:
        return _ok(self.workspace.suppress(_path_ref(request)))

    def unsuppress(self, request: Request) -> Response:
        return _ok(self.workspace.unsuppress(_path_ref(request)))

    def merge(self, request: Request) -> Response:
        body = _json_object(request)
        self._check_v1_schema(body, "/api/v1/merge_customers", "post")
        for side in ("primary", "secondary"):
            found = _identifiers_problem(body.get(side), side)
            if found:
                raise v1_error(f"{found.field}: {found.message}")
        primary, secondary = (Ref.from_identifiers(body[k]) for k in ("primary", "secondary"))
        return _ok(self.workspace.merge(primary, secondary))

    def _checked_event(self, request: Request) -> dict[str, Any]:
        event = _json_object(request)
        problem = limits.event_error(event.get("name"), event.get("data"))
        if problem:
            raise v1_error(problem)
        if self.config.validate_schemas:
            error = validation.event_error(event)
            if error:
                raise v1_error(f"{error[0]}: {error[1]}")
        return event

    def _check_v1_schema(self, body: Any, path: str, method: str) -> None:
        if not self.config.validate_schemas:
            return
        error = validation.first_error(validation.request_validator(path, method), body)
        if error:
            field, message = validation.describe(error)
            raise v1_error(f"{field}: {message}")

    # -- v2 ---------------------------------------------------------------------------------

    def entity(self, request: Request) -> Response:
        problem = limits.body_size_error(len(request.body), limits.ENTITY_MAX_BYTES, "request")
        if problem:
            raise v2_error("body", problem, reason="too_large")
        operation = request.json()
        found = self.operation_problem(operation)
        if found:
            raise v2_error(found.field, found.message, found.reason)
        return _ok(self.apply(operation))

    def batch(self, request: Request) -> Response:
        """Valid operations are applied; invalid ones are listed in a 207 with `batch_index`."""
        problem = limits.body_size_error(len(request.body), limits.BATCH_MAX_BYTES, "batch request")
        if problem:
            raise v2_error("body", problem, reason="too_large")
        body = request.json()
        if not isinstance(body, dict) or not isinstance(body.get("batch"), list):
            raise v2_error("batch", "the body must be an object with a `batch` array of operations")
        errors = []
        outcomes = []
        for index, operation in enumerate(body["batch"]):
            size = len(json.dumps(operation, separators=(",", ":")).encode())
            too_large = limits.body_size_error(size, limits.BATCH_ITEM_MAX_BYTES, "operation")
            found = Problem("body", too_large, "too_large") if too_large else None
            found = found or self.operation_problem(operation)
            if found:
                errors.append({"batch_index": index, **found._asdict()})
            else:
                outcomes.append(self.apply(operation))
        if errors:
            return Response(207, {"errors": errors}, outcome=f"partial:{len(errors)}_failed")
        return Response(200, {}, outcome=",".join(sorted(set(outcomes))) or "empty")

    def operation_problem(self, operation: Any) -> Problem | None:
        """What makes a v2 operation invalid: the schema, then the documented limits."""
        if not isinstance(operation, dict):
            return Problem("body", "an operation must be a JSON object")
        if self.config.validate_schemas:
            error = validation.operation_error(operation)
            if error:
                return Problem(*error)
        return _limit_problem(operation)

    def apply(self, operation: dict[str, Any]) -> str:
        """Perform one valid v2 operation on the workspace; returns its outcome."""
        kind, action = operation.get("type"), str(operation.get("action"))
        if kind == "object":
            return self.workspace.object_operation(operation)
        if kind == "delivery":
            return self.workspace.delivery_event(operation)
        if action == "merge":
            return self.workspace.merge(
                Ref.from_identifiers(operation["primary"]),
                Ref.from_identifiers(operation["secondary"]),
            )
        ref = Ref.from_identifiers(operation["identifiers"])
        if action in EVENT_ACTIONS:
            return self.workspace.track(ref, _v2_event(operation), api="v2")
        handlers: dict[str, Callable[[], str]] = {
            "identify": lambda: self._v2_identify(ref, operation),
            "add_relationships": lambda: self.workspace.person_relationships(
                ref, action, operation.get("cio_relationships") or []
            ),
            "add_device": lambda: self.workspace.add_device(ref, operation["device"]),
            "delete_device": lambda: self.workspace.delete_device(
                ref, str(operation["device"].get("token"))
            ),
            "delete": lambda: self.workspace.delete(ref),
            "suppress": lambda: self.workspace.suppress(ref),
            "unsuppress": lambda: self.workspace.unsuppress(ref),
        }
        handlers["delete_relationships"] = handlers["add_relationships"]
        return handlers[action]()

    def _v2_identify(self, ref: Ref, operation: dict[str, Any]) -> str:
        attributes = dict(operation.get("attributes") or {})
        update_only = attributes.pop("_update", False) is True
        return self.workspace.identify(
            ref,
            attributes,
            timestamp=operation.get("timestamp"),
            update_only=update_only,
            relationships=operation.get("cio_relationships"),
        )


def _v2_event(operation: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": operation.get("id"),
        "name": operation.get("name"),
        "type": operation.get("action"),
        "timestamp": operation.get("timestamp"),
        "data": dict(operation.get("attributes") or {}),
    }


def _identifiers_problem(identifiers: Any, field: str) -> Problem | None:
    """An empty or over-long person identifier (the schemas allow both)."""
    if not isinstance(identifiers, dict):
        return None
    for kind in ("id", "email", "phone", "cio_id"):
        value = identifiers.get(kind)
        problem = limits.identifier_error(kind, value) if isinstance(value, str) else None
        if problem:
            return Problem(f"{field}.{kind}", problem, "limit")
    return None


def _limit_problem(operation: dict[str, Any]) -> Problem | None:
    is_person = operation.get("type") == "person"
    sides = ("identifiers", "primary", "secondary") if is_person else ()
    for side in sides:
        found = _identifiers_problem(operation.get(side), side)
        if found:
            return found
    action = operation.get("action")
    attributes = operation.get("attributes") or {}
    if is_person and action in EVENT_ACTIONS:
        problem = limits.event_error(operation.get("name"), attributes)
        if problem:
            return Problem("name" if "name" in problem else "attributes", problem, "limit")
    elif action == "identify" and isinstance(attributes, dict):
        problem = limits.attributes_error(attributes)
        if problem:
            return Problem("attributes", problem, "limit")
    return None


def _ok(outcome: str) -> Response:
    return Response(200, {}, outcome=outcome)


def _json_object(request: Request) -> dict[str, Any]:
    body = request.json()
    if not isinstance(body, dict):
        raise v1_error("request body must be a JSON object")
    return body


def _path_ref(request: Request) -> Ref:
    ref = Ref.from_path(request.params["identifier"])
    problem = limits.identifier_error(ref.kind, ref.value)
    if problem:
        raise v1_error(problem)
    return ref


def _v1_relationships(body: dict[str, Any]) -> list[dict[str, Any]] | None:
    relationships = body.get("cio_relationships")
    if isinstance(relationships, dict):
        return list(relationships.get("relationships") or [])
    return None
