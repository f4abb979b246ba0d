"""The Pipelines API (`cdp.customer.io/v1`): identify, track, page, screen, group, alias, batch.

As pipelines-api.openapi.json documents it:

- Basic auth with the API key as user and a blank password. A key belongs to a workspace, and
  a workspace to one region: the other region's host does not know it and answers 401 (the
  simulator's `pipelines_key_region`; Customer.io's Track API page says requests to the wrong
  region's host fail, https://docs.customer.io/integrations/api/track/).
- `X-Strict-Mode: 1` answers 400 (invalid, oversize) and 401 (wrong key). Without it the API is
  permissive: it answers 200 and does not process what it refused (the outcome in the request
  log says `unprocessed_<why>`), which is what the strict header exists to avoid.
- A call is limited to 32 KB, a batch to 500 KB in total and 32 KB per call.
- In a batch, `context` and `integrations` apply to every call; a strict batch with one invalid
  call is refused whole (400) and nothing of it is processed.
- `messageId` is "set by Customer.io": the simulator assigns its own to every accepted call and
  keeps the one the client sent as `client_message_id`, without deduplicating on it (no page
  says Customer.io does: https://docs.customer.io/integrations/api/cdp/,
  https://docs.customer.io/integrations/data-in/source-spec/common-fields/). Identify
  `timestamp`s are recorded, not used to order updates (no page says they are): the last
  identify to arrive wins.
- Semantic events (`track` with these names) act on the person: `User Deleted`,
  `User Suppressed`, `User Unsuppressed`, `Device Created or Updated`, `Device Deleted`.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from cio_simulator import auth, validation
from cio_simulator.config import SimulatorConfig
from cio_simulator.http import ApiError, Request, Response, Router
from cio_simulator.people import Ref
from cio_simulator.workspace import Workspace

PATHS = frozenset(
    f"/v1/{name}" for name in ("identify", "track", "page", "screen", "group", "alias", "batch")
)
CALL_MAX_BYTES = 32 * 1000
BATCH_MAX_BYTES = 500 * 1000
STRICT_HEADER = "X-Strict-Mode"
REGION_URLS = {"us": "https://cdp.customer.io", "eu": "https://cdp-eu.customer.io"}


def strict(request: Request) -> bool:
    return (request.headers.get(STRICT_HEADER) or "").strip() == "1"


def refusal(request: Request, status: int, message: str, outcome: str) -> ApiError:
    """Strict mode: the error. Permissive mode: a 200 for a request that is not processed."""
    if strict(request):
        return ApiError(status, {"meta": {"errors": [message]}}, message, outcome=outcome)
    return ApiError(200, {}, message, outcome=f"unprocessed_{outcome}")


def authenticate(request: Request, config: SimulatorConfig) -> None:
    """The key as Basic user (blank password), known only in the region it belongs to."""
    try:
        auth.check_basic(request.headers.get("Authorization"), config.pipelines_api_key, "")
    except ApiError as error:
        raise refusal(request, 401, "Unauthorized: " + str(error), "unauthorized") from None
    home = config.pipelines_key_region or config.region
    if home != config.region:
        raise refusal(
            request, 401, f"Unauthorized: key unknown in the {config.region} region", "unauthorized"
        )


class PipelinesApi:
    def __init__(self, workspace: Workspace, config: SimulatorConfig) -> None:
        self.workspace = workspace
        self.config = config

    def register(self, router: Router) -> None:
        for path in sorted(PATHS - {"/v1/batch"}):
            router.add("POST", path, self._single(path.rsplit("/", 1)[1]))
        router.add("POST", "/v1/batch", self.batch)

    def _single(self, kind: str) -> Any:
        def handle(request: Request) -> Response:
            if len(request.body) > CALL_MAX_BYTES:
                raise refusal(
                    request,
                    400,
                    f"request is {len(request.body)} bytes; the limit is 32KB",
                    "too_large",
                )
            call = _json(request)
            call.setdefault("type", kind)
            problem = self.problem(call, kind)
            if problem:
                raise refusal(request, 400, problem, "invalid")
            return Response(200, {}, outcome=self.apply(call))

        return handle

    def batch(self, request: Request) -> Response:
        if len(request.body) > BATCH_MAX_BYTES:
            raise refusal(
                request, 400, f"batch is {len(request.body)} bytes; the limit is 500KB", "too_large"
            )
        body = _json(request)
        calls = body.get("batch")
        if not isinstance(calls, list):
            raise refusal(request, 400, "batch: an array of calls is required", "invalid")
        shared: dict[str, Any] = {k: body[k] for k in ("context", "integrations") if k in body}
        problems = []
        for index, call in enumerate(calls):
            size = len(json.dumps(call, separators=(",", ":")).encode())
            if size > CALL_MAX_BYTES:
                problems.append(f"batch[{index}]: call is {size} bytes; the limit is 32KB")
            elif problem := self.problem(call, None):
                problems.append(f"batch[{index}].{problem}")
        if problems and strict(request):
            raise ApiError(400, {"meta": {"errors": problems[:20]}}, problems[0], outcome="invalid")
        outcomes = [
            self.apply({**call, **shared})
            for index, call in enumerate(calls)
            if not any(p.startswith(f"batch[{index}]") for p in problems)
        ]
        dropped = f",unprocessed:{len(problems)}" if problems else ""
        return Response(200, {}, outcome=",".join(sorted(set(outcomes))) + dropped or "empty")

    def problem(self, call: Any, kind: str | None) -> str | None:
        if not isinstance(call, dict):
            return "a call must be a JSON object"
        kind = kind or call.get("type")
        if kind not in validation.PIPELINES_CALLS:
            return f"type must be one of {sorted(validation.PIPELINES_CALLS)}, got {kind!r}"
        if not self.config.validate_schemas:
            return None
        error = validation.pipelines_call_error(kind, call)
        return f"{error[0]}: {error[1]}" if error else None

    def apply(self, call: dict[str, Any]) -> str:
        """Perform one valid call on the workspace; returns its outcome."""
        kind = call.get("type")
        ref = _ref(call)
        if kind in ("group", "alias"):
            return f"{kind}_accepted"
        if ref is None:
            return "anonymous_accepted"
        if kind == "identify":
            traits = dict(call.get("traits") or {})
            return self.workspace.identify(ref, traits, timestamp=None, update_only=False)
        if kind == "track" and call.get("event") in SEMANTIC:
            return SEMANTIC[str(call["event"])](self.workspace, ref, call)
        event = {
            "id": f"cio-{uuid.uuid4()}",  # Customer.io sets messageId
            "client_message_id": call.get("messageId"),
            "name": call.get("event") if kind == "track" else call.get("name"),
            "type": "event" if kind == "track" else kind,
            "timestamp": call.get("timestamp"),
            "data": dict(call.get("properties") or {}),
        }
        return self.workspace.track(ref, event, api="pipelines")


def _device(call: dict[str, Any]) -> dict[str, Any]:
    device = dict((call.get("context") or {}).get("device") or {})
    token = str(device.get("token"))
    stored: dict[str, Any] = {"id": token, "token": token, **dict(call.get("properties") or {})}
    if device.get("type"):
        stored["platform"] = device["type"]
    return stored


SEMANTIC = {
    "User Deleted": lambda ws, ref, call: ws.delete(ref),
    "User Suppressed": lambda ws, ref, call: ws.suppress(ref),
    "User Unsuppressed": lambda ws, ref, call: ws.unsuppress(ref),
    "Device Created or Updated": lambda ws, ref, call: ws.add_device(ref, _device(call)),
    "Device Deleted": lambda ws, ref, call: ws.delete_device(ref, _device(call)["token"]),
}


def _ref(call: dict[str, Any]) -> Ref | None:
    """The person: `userId`, or (identify with an empty userId) the `email` trait."""
    user_id = call.get("userId")
    if isinstance(user_id, str) and user_id:
        return Ref("id", user_id)
    email = (call.get("traits") or {}).get("email") if call.get("type") == "identify" else None
    return Ref("email", email) if isinstance(email, str) and email else None


def _json(request: Request) -> dict[str, Any]:
    try:
        body = request.json()
    except ApiError as error:
        raise refusal(request, 400, str(error), "invalid") from None
    if not isinstance(body, dict):
        raise refusal(request, 400, "the body must be a JSON object", "invalid")
    return body
