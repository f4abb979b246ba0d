"""Transactional sends of the App API: `POST /v1/send/email`, `/v1/send/push`, `/v1/send/sms`.

Validated as Customer.io's App API reference describes them (the sendemail / sendpush / sendsms
request schemas in track-api.openapi.json's components, and the condensed
transactional-api.openapi.yml): `transactional_message_id` a template id (integer) or trigger
name (string); `identifiers` exactly one of `id`, `email`, `cio_id`; `to` required for email
and SMS. A 200 answers `{"delivery_id": ..., "queued_at": ...}`. Customer.io takes no
idempotency key here and does not deduplicate: every accepted request is a send, recorded.

Beyond the common faults (`/_admin/faults` with `path_prefix: /v1/send`), `POST
/_admin/transactional` sets templates that exist (others answer 404 once any are set) and
`slow_after_accept`: a share of accepted sends answered only after `seconds` (the request was
accepted and the message sent: the client's timeout then leaves it not knowing).
`GET /_admin/transactional` lists the sends.
"""

from __future__ import annotations

import itertools
import random
import threading
import time
from typing import TYPE_CHECKING, Any

from cio_simulator.http import ApiError, Request, Response, Router

if TYPE_CHECKING:
    from cio_simulator.server import Simulator

CHANNELS = ("email", "push", "sms")
IDENTIFIERS = ("id", "email", "cio_id")


def _invalid(message: str) -> ApiError:
    return ApiError(400, {"meta": {"error": message}}, message, outcome="invalid")


class TransactionalApi:
    def __init__(self, simulator: Simulator) -> None:
        self.simulator = simulator
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.sends: list[dict[str, Any]] = []
            self.templates: set[str] = set()
            self.slow_rate = 0.0
            self.slow_seconds = 0.0
            self._random = random.Random(0)  # noqa: S311 - fault rolls

    def register(self, router: Router, admin: Router) -> None:
        for channel in CHANNELS:
            router.add("POST", f"/v1/send/{channel}", self._sender(channel))
        admin.add("GET", "/_admin/transactional", self.list_sends)
        admin.add("POST", "/_admin/transactional", self.configure)

    def _sender(self, channel: str) -> Any:
        def send(request: Request) -> Response:
            return self.send(channel, request)

        return send

    def send(self, channel: str, request: Request) -> Response:
        body = request.json()
        if not isinstance(body, dict):
            raise _invalid("request body must be a JSON object")
        template = body.get("transactional_message_id")
        inline = channel == "email" and all(k in body for k in ("body", "subject", "from"))
        if template is None and not inline:
            raise _invalid("transactional_message_id is required")
        if template is not None and (
            isinstance(template, bool)
            or not isinstance(template, int | str)
            or (isinstance(template, str) and not template)
        ):
            raise _invalid("transactional_message_id must be an integer id or a trigger name")
        identifiers = body.get("identifiers")
        if (
            not isinstance(identifiers, dict)
            or len(identifiers) != 1
            or next(iter(identifiers)) not in IDENTIFIERS
        ):
            raise _invalid("identifiers must hold exactly one of id, email, cio_id")
        if channel in ("email", "sms") and not isinstance(body.get("to"), str):
            raise _invalid(f"`to` is required for a transactional {channel}")
        if "message_data" in body and not isinstance(body["message_data"], dict):
            raise _invalid("message_data must be an object")
        with self._lock:
            known = self.templates
            if known and template is not None and str(template).lower() not in known:
                raise ApiError(
                    404,
                    {"meta": {"error": "transactional message not found"}},
                    "transactional message not found",
                    outcome="not_found",
                )
            delivery_id = f"sim-{next(self._ids):08d}"
            self.sends.append(
                {"channel": channel, "delivery_id": delivery_id, "body": body, "at": time.time()}
            )
            slow = self.slow_rate and self._random.random() < self.slow_rate
        if slow:  # accepted and sent; the answer comes late
            self.simulator.stopping.wait(self.slow_seconds)
        return Response(200, {"delivery_id": delivery_id, "queued_at": int(time.time())})

    def list_sends(self, request: Request) -> Response:
        with self._lock:
            return Response(200, {"sends": list(self.sends)})

    def configure(self, request: Request) -> Response:
        data = request.json()
        if not isinstance(data, dict):
            raise ApiError(400, message="transactional settings must be a JSON object")
        slow = data.get("slow_after_accept") or {}
        with self._lock:
            if "templates" in data:
                self.templates = {str(t).lower() for t in data["templates"]}
            self.slow_rate = float(slow.get("rate", 0.0))
            self.slow_seconds = float(slow.get("seconds", 0.0))
            self._random = random.Random(data.get("seed", 0))  # noqa: S311
        return Response(200, {"templates": sorted(self.templates), "slow_rate": self.slow_rate})
