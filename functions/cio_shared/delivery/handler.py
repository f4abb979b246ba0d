"""The delivery hot path shared by the track and identify handlers.

One push delivery in, exactly one decision out, one structured log line saying which:

- delivered: Customer.io answered 2xx -> HTTP 200, Pub/Sub acks.
- retry: transient trouble -> HTTP 503, Pub/Sub backs off and redelivers.
- dead_lettered: the message can never succeed -> published to the dead-letter topic with the
  reason in its attributes, then HTTP 200; if that publish fails, HTTP 503 (retry).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from pydantic import ValidationError

from cio_shared import contract
from cio_shared.common import StructuredLogger, get_logger
from cio_shared.delivery.blocking import run_blocking, send_with
from cio_shared.delivery.dead_letter import (
    DeadLetterPublisher,
    attribute_problem,
    dead_letter_attributes,
)
from cio_shared.delivery.decisions import Decision, Outcome, permanent, retry
from cio_shared.delivery.pipelines import PipelinesClient, encode_call
from cio_shared.delivery.push import EnvelopeError, PushMessage, parse_push
from cio_shared.delivery.senders import Sender, build_sender
from cio_shared.delivery.settings import Settings, SettingsError
from cio_shared.delivery.track_client import TrackClient
from cio_shared.messages import (
    TOPIC_ACTIONS,
    AnyMessage,
    encode_operation,
    parse_message,
    size_problem,
)

RETRY_STATUS = 503
ACK_STATUS = 200
_JSON_TYPE = "application/json"
_JSON = {"Content-Type": _JSON_TYPE}
_NOT_POST = json.dumps({"error": "push deliveries are POST requests"})
_SEVERITY = {Decision.DELIVERED: "INFO", Decision.RETRY: "WARNING", Decision.DEAD_LETTER: "ERROR"}


def encode_track_operation(message: AnyMessage) -> bytes | Outcome:
    """The Track API v2 operation for `message`, or `too_large`."""
    operation = encode_operation(message)
    if problem := size_problem(operation):
        return permanent("too_large", problem)
    return operation


Encoder = Callable[[AnyMessage], "bytes | Outcome"]


@dataclass(frozen=True)
class Prepared:
    """A message that passed every local check and is ready to send."""

    message: AnyMessage
    operation: bytes


class DeliveryHandler:
    """One instance per process: `serve` for functions-framework's ASGI server (the handlers'
    `main.py`), `__call__` for its WSGI one (a Flask request in, `(body, status, headers)`
    out); `handle` / `handle_async` for a raw push body."""

    def __init__(
        self,
        *,
        handler: str,
        topic: str,
        sender: Sender,
        dead_letters: DeadLetterPublisher,
        source_topic: str,
        actions: frozenset[str] | None = None,
        logger: StructuredLogger | None = None,
        clock: Callable[[], float] = time.perf_counter,
        encode: Encoder = encode_track_operation,
    ) -> None:
        """`actions`: what the topic carries (the manifest's `carries`, injected by the stack);
        the contract's own topics default to theirs. `encode`: message -> request bytes for the
        destination API (Track v2 operation by default, `pipelines.encode_call`), or a
        permanent Outcome when the message cannot be sent there."""
        actions = actions or TOPIC_ACTIONS.get(topic)
        if not actions:
            raise SettingsError(
                f"topic {topic!r}: no {contract.TOPIC_ACTIONS} set and not one of the "
                f"contract's topics {sorted(TOPIC_ACTIONS)}; declare `carries:` in the "
                "handler's manifest (the stack injects it)"
            )
        self.actions = actions
        self.handler = handler
        self.topic = topic
        self.sender = sender
        self.dead_letters = dead_letters
        self.source_topic = source_topic
        self.logger = logger or get_logger(f"cio-handler-{handler}")
        self._clock = clock
        self.encode = encode

    def __call__(self, request: Any) -> tuple[str, int, dict[str, str]]:
        """functions-framework's WSGI (Flask) signature."""
        if request.method != "POST":  # probes and browsers: not a delivery, nothing to decide
            return _NOT_POST, 405, _JSON
        body, status = self.handle(request.get_data(cache=False), request.headers)
        return body, status, _JSON

    async def serve(self, request: Any) -> Any:
        """functions-framework's ASGI signature (`functions_framework.aio.http`): a Starlette
        request in, a Starlette response out; what track's and identify's `main.py` use."""
        from starlette.responses import Response

        if request.method != "POST":
            return Response(_NOT_POST, 405, media_type=_JSON_TYPE)
        body, status = await self.handle_async(await request.body(), request.headers)
        return Response(body, status, media_type=_JSON_TYPE)

    def handle(self, body: bytes, headers: Mapping[str, str]) -> tuple[str, int]:
        delivery = self._begin(body, headers)
        if delivery.operation is not None:
            try:
                delivery.outcome = self.sender.send(delivery.operation)
            except Exception as exc:  # a bug must not lose the message: retry, loudly
                delivery.outcome = retry("internal_error", type(exc).__name__)
        return self._conclude(delivery, self._finish(delivery))

    async def handle_async(self, body: bytes, headers: Mapping[str, str]) -> tuple[str, int]:
        """`handle` as a coroutine: parsing, checks and the log line run on the event loop; the
        send is the sender's own coroutine, and a dead-letter publish (it blocks) a thread's."""
        delivery = self._begin(body, headers)
        if delivery.operation is not None:
            try:
                delivery.outcome = await send_with(self.sender, delivery.operation)
            except Exception as exc:  # a bug must not lose the message: retry, loudly
                delivery.outcome = retry("internal_error", type(exc).__name__)
        if _dead_letters(delivery):
            return self._conclude(delivery, await run_blocking(self._finish, delivery))
        return self._conclude(delivery, self._finish(delivery))

    def _begin(self, body: bytes, headers: Mapping[str, str]) -> _Delivery:
        """Parse and check: the delivery has an operation to send, or its outcome already."""
        delivery = _Delivery(self._clock(), self.logger.with_trace(headers))
        try:
            delivery.push = parse_push(body)
            prepared = self.prepare(delivery.push)
            if isinstance(prepared, Outcome):
                delivery.outcome = prepared
            else:
                delivery.event_id = prepared.message.event_id
                delivery.log = delivery.log.bind(
                    action=prepared.message.action,
                    person_hash=prepared.message.person.ledger_hash(),
                )
                delivery.operation = prepared.operation
        except EnvelopeError as exc:
            delivery.push = PushMessage(data=body)
            delivery.outcome = permanent("envelope_invalid", str(exc))
        except Exception as exc:  # a bug must not lose the message: retry, loudly
            delivery.outcome = retry("internal_error", type(exc).__name__)
        return delivery

    def _conclude(
        self, delivery: _Delivery, finished: tuple[Decision, int, dict[str, Any]]
    ) -> tuple[str, int]:
        """The one decision line, and the answer."""
        decision, status, extra = finished
        outcome, push = delivery.result, delivery.push
        delivery.log.log(
            _SEVERITY[decision],
            f"{self.handler}: {decision.value} ({outcome.reason})",
            # the ledger's fields keep one JSON type each, never null (contract.LEDGER_LINE_FIELDS)
            decision=decision.value,
            reason=outcome.reason,
            event_id=delivery.event_id or "",
            cio_status=outcome.status or 0,
            detail=outcome.detail,
            message_id=push.message_id if push else "",
            attempt=(push.delivery_attempt or 0) if push else 0,
            age_ms=push.age_ms() if push else None,
            latency_ms=round((self._clock() - delivery.started) * 1000, 1),
            replay_of=push.attributes.get("cio_replay_of", "") if push else "",
            **extra,
        )
        return _answer(decision, outcome.reason), status

    def prepare(self, push: PushMessage) -> Prepared | Outcome:
        """Every local check a message must pass; an Outcome is a permanent failure."""
        if (refused := _envelope_problem(push)) is not None:
            return refused
        try:
            message = parse_message(push.data)
        except ValidationError as exc:
            if any(error["type"] == "json_invalid" for error in exc.errors()):
                return permanent("invalid_json", "message data is not valid UTF-8 JSON")
            return permanent("schema_invalid", _describe(exc))
        if message.action not in self.actions:
            return permanent(
                "wrong_topic",
                f"action {message.action!r} is not accepted on the {self.topic} topic",
            )
        operation = self.encode(message)
        if isinstance(operation, Outcome):
            return operation
        return Prepared(message, operation)

    def _finish(self, delivery: _Delivery) -> tuple[Decision, int, dict[str, Any]]:
        """Decision, status and extra log fields; dead-letters a permanent failure (blocks)."""
        outcome, push = delivery.result, delivery.push
        if outcome.decision is Decision.DELIVERED:
            return Decision.DELIVERED, ACK_STATUS, {}
        if outcome.decision is Decision.RETRY or push is None:
            return Decision.RETRY, RETRY_STATUS, {}
        attributes = dead_letter_attributes(
            push.attributes,
            outcome,
            attempt=push.delivery_attempt,
            source_topic=self.source_topic,
            handler=self.handler,
            event_id=delivery.event_id,
            message_id=push.message_id,
        )
        try:
            dead_letter_id = self.dead_letters.publish(push.data, attributes)
        except Exception as exc:
            return Decision.RETRY, RETRY_STATUS, {"dead_letter_error": type(exc).__name__}
        return Decision.DEAD_LETTER, ACK_STATUS, {"dead_letter_id": dead_letter_id}


@dataclass
class _Delivery:
    """One delivery between parsing and its decision line."""

    started: float
    log: StructuredLogger
    push: PushMessage | None = None
    event_id: str | None = None
    operation: bytes | None = None  # to send; None once the outcome is known without sending
    outcome: Outcome | None = None

    @property
    def result(self) -> Outcome:
        if self.outcome is None:  # _begin sets an operation or an outcome, a send the outcome
            raise RuntimeError("delivery concluded without an outcome")
        return self.outcome


def _dead_letters(delivery: _Delivery) -> bool:
    """Whether `_finish` will publish to the dead-letter topic (a blocking call)."""
    outcome = delivery.result
    return outcome.decision is Decision.DEAD_LETTER and delivery.push is not None


@lru_cache(maxsize=256)
def _answer(decision: Decision, reason: str) -> str:
    """The response body; a few distinct ones, encoded once each."""
    return json.dumps({"decision": decision.value, "reason": reason})


def _envelope_problem(push: PushMessage) -> Outcome | None:
    """Attributes that break the contract (forged dead-letter keys, too many to dead-letter),
    or data that is not base64."""
    if problem := attribute_problem(push.attributes):
        return permanent("attributes_invalid", problem)
    if push.data_error:
        return permanent("invalid_base64", push.data_error)
    return None


def _describe(exc: ValidationError) -> str:
    """Where and what, never the offending values (they may be personal data)."""
    parts = []
    for error in exc.errors(include_input=False, include_url=False)[:5]:
        location = ".".join(str(p) for p in error["loc"]) or "message"
        parts.append(f"{location}: {error['type']}")
    more = exc.error_count() - len(parts)
    return "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")


def build_handler(
    handler: str, topic: str, env: Mapping[str, str] | None = None
) -> DeliveryHandler:
    """Read configuration, open the instance's connection pool, return the handler."""
    settings = Settings.from_env(env)
    pipelines = settings.delivery_api == "pipelines"
    client = PipelinesClient(settings) if pipelines else TrackClient(settings)
    return DeliveryHandler(
        handler=handler,
        topic=topic,
        sender=build_sender(settings, client),
        dead_letters=DeadLetterPublisher(settings.dead_letter_topic),
        source_topic=settings.source_topic or local_source_topic(settings, topic),
        actions=settings.topic_actions,
        encode=encode_call if pipelines else encode_track_operation,
    )


def local_source_topic(settings: Settings, topic: str) -> str:
    """Outside the cloud (no CIO_SOURCE_TOPIC), the default-prefix name of the topic."""
    name = contract.resource_name(contract.DEFAULT_PREFIX, settings.environment, topic)
    return contract.topic_path(settings.project, name)
