"""The transactional handler: one Pub/Sub push delivery in, one decision out, sent once.

    parse -> claim the key in Firestore -> (rate token) -> POST /v1/send/<channel> -> record

Decisions (functions/transactional/README.md): `delivered` (2xx, or already sent: acked
without a second send), `retry` (429, 5xx, 401/403, connection refused, Firestore trouble,
another attempt in flight, the local rate limit), `dead_lettered` (400/404/422 and other 4xx,
invalid messages, and with policy `hold` an unknown outcome). A Firestore outage is a retry:
never "send anyway".
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from cio_shared import contract
from cio_shared.common import StructuredLogger, get_logger, google_clients
from cio_shared.messages import (
    TransactionalMessage,
    claim_document_id,
    claim_key,
    parse_transactional,
    send_request,
)
from cio_shared.transactional.app_client import AppClient, SendResult, TokenBucket
from cio_shared.transactional.claims import Claim, ClaimKind, ClaimStore, firestore_client
from cio_shared.transactional.settings import Settings

RETRY_STATUS = 503
ACK_STATUS = 200
_JSON = {"Content-Type": "application/json"}
_SEVERITY = {"delivered": "INFO", "retry": "WARNING", "dead_lettered": "ERROR"}
# The dead-letter rules of docs/design.md ("Dead-letter attributes"), as the delivery handlers.
PRODUCER_ATTRIBUTES = frozenset({"cio_schema", "cio_event_id", "cio_action", "cio_replay_of"})
RESERVED_PREFIXES = ("cio_", "CloudPubSubDeadLetter", "goog")
MAX_PRODUCER_ATTRIBUTES = 80
MAX_ATTRIBUTE_BYTES = 1024
_RETRY_4XX = {401: "unauthorized", 403: "forbidden", 408: "request_timeout", 429: "rate_limited"}


@dataclass(frozen=True)
class Outcome:
    decision: str  # delivered | retry | dead_lettered
    reason: str
    status: int | None = None
    detail: str = ""


def from_status(status: int) -> Outcome:
    if 200 <= status < 300:
        return Outcome("delivered", "ok", status)
    if status in _RETRY_4XX:
        return Outcome("retry", _RETRY_4XX[status], status)
    if status >= 500:
        return Outcome("retry", "server_error", status)
    if status == 413:
        return Outcome("dead_lettered", "too_large", status)
    if 400 <= status < 500:
        return Outcome("dead_lettered", f"rejected_{status}", status)
    return Outcome("retry", f"unexpected_{status}", status)


@dataclass
class Push:
    data: bytes
    attributes: dict[str, str]
    message_id: str = ""
    attempt: int | None = None
    problem: str = ""  # envelope_invalid / invalid_base64 detail


def parse_push(body: bytes) -> Push:
    try:
        envelope = json.loads(body)
        message = envelope["message"]
        attributes = {str(k): str(v) for k, v in (message.get("attributes") or {}).items()}
        raw = message.get("data", "")
    except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError):
        return Push(body, {}, problem="envelope_invalid")
    attempt = envelope.get("deliveryAttempt")
    push = Push(
        b"",
        attributes,
        str(message.get("messageId") or message.get("message_id") or ""),
        attempt if isinstance(attempt, int) and not isinstance(attempt, bool) else None,
    )
    try:
        push.data = base64.b64decode(str(raw), validate=True)
    except (binascii.Error, ValueError):
        push.data, push.problem = str(raw).encode("utf-8", "replace"), "invalid_base64"
    return push


def _parse(push: Push) -> TransactionalMessage | Outcome:
    """The message, or why it can never be sent (dead-lettered)."""
    if push.problem == "envelope_invalid":
        return Outcome("dead_lettered", "envelope_invalid", None, "not a push envelope")
    if problem := attribute_problem(push.attributes):
        return Outcome("dead_lettered", "attributes_invalid", None, problem)
    if push.problem:
        return Outcome("dead_lettered", push.problem, None, "data is not base64")
    try:
        return parse_transactional(push.data)
    except ValidationError as exc:
        if any(e["type"] == "json_invalid" for e in exc.errors()):
            return Outcome("dead_lettered", "invalid_json", None, "not UTF-8 JSON")
        where = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'message'}: {e['type']}"
            for e in exc.errors(include_input=False, include_url=False)[:5]
        )
        return Outcome("dead_lettered", "schema_invalid", None, where)


def _clip(text: str, limit: int = MAX_ATTRIBUTE_BYTES) -> str:
    encoded = text.encode("utf-8")
    return text if len(encoded) <= limit else encoded[: limit - 3].decode("utf-8", "ignore") + "..."


def _reserved(key: str) -> bool:
    return key.startswith(RESERVED_PREFIXES) and key not in PRODUCER_ATTRIBUTES


def attribute_problem(attributes: Mapping[str, str]) -> str | None:
    reserved = sorted(k for k in attributes if _reserved(k))
    if reserved:
        return f"reserved attribute(s) set by the producer: {', '.join(reserved[:5])}"
    if len(attributes) > MAX_PRODUCER_ATTRIBUTES:
        return f"{len(attributes)} attributes; at most {MAX_PRODUCER_ATTRIBUTES}"
    return None


class TransactionalHandler:
    def __init__(
        self,
        *,
        handler: str,
        topic: str,
        settings: Settings,
        client: Any,
        claims: ClaimStore,
        publisher_factory: Callable[[], Any] = google_clients.publisher,
        logger: StructuredLogger | None = None,
    ) -> None:
        self.handler = handler
        self.topic = topic
        self.settings = settings
        self.client = client
        self.claims = claims
        self.bucket = TokenBucket(settings.rate_limit_per_second)
        self.source_topic = settings.source_topic or contract.topic_path(
            settings.project,
            contract.resource_name(contract.DEFAULT_PREFIX, settings.environment, topic),
        )
        self._publisher_factory = publisher_factory
        self.logger = logger or get_logger(f"cio-handler-{handler}")

    def __call__(self, request: Any) -> tuple[str, int, dict[str, str]]:
        if request.method != "POST":
            return json.dumps({"error": "push deliveries are POST requests"}), 405, _JSON
        body, status = self.handle(request.get_data(cache=False), request.headers)
        return body, status, _JSON

    def handle(self, body: bytes, headers: Mapping[str, str]) -> tuple[str, int]:
        started = time.perf_counter()
        log = self.logger.with_trace(headers)
        push = parse_push(body)
        extra: dict[str, Any] = {}
        event_id: str | None = None
        try:
            outcome, event_id = self._deliver(push, extra)
        except Exception as exc:  # a bug or Firestore trouble: retry, never send anyway
            outcome = Outcome("retry", "internal_error", None, type(exc).__name__)
        decision, status = outcome.decision, ACK_STATUS
        if decision == "retry":
            status = RETRY_STATUS
        elif decision == "dead_lettered":
            try:
                extra["dead_letter_id"] = self._dead_letter(push, outcome, event_id)
            except Exception as exc:
                decision, status = "retry", RETRY_STATUS
                extra["dead_letter_error"] = type(exc).__name__
        log.log(
            _SEVERITY[decision],
            f"{self.handler}: {decision} ({outcome.reason})",
            # the ledger's fields keep one JSON type each, never null (contract.LEDGER_LINE_FIELDS)
            decision=decision,
            reason=outcome.reason,
            event_id=event_id or "",
            cio_status=_status_number(outcome.status),
            detail=outcome.detail,
            message_id=push.message_id,
            attempt=push.attempt or 0,
            unknown_outcome_policy=self.settings.unknown_outcome,
            latency_ms=round((time.perf_counter() - started) * 1000, 1),
            **extra,
        )
        return json.dumps({"decision": decision, "reason": outcome.reason}), status

    def _deliver(self, push: Push, extra: dict[str, Any]) -> tuple[Outcome, str | None]:
        message = _parse(push)
        if isinstance(message, Outcome):
            return message, None
        doc_id = claim_document_id(claim_key(message))
        extra.update(
            action=message.action, claim_id=doc_id, person_hash=message.person.ledger_hash()
        )
        about = {
            "event_id": message.event_id,
            "action": message.action,
            "template": str(message.transactional_message_id),
            "message_id": push.message_id,
            "keyed": message.idempotency_key is not None,
        }
        try:
            claim = self.claims.claim(doc_id, about)
        except Exception as exc:
            return Outcome(
                "retry", "claims_unavailable", None, type(exc).__name__
            ), message.event_id
        extra["claim"] = claim.kind.value
        if not claim.may_send:
            return self._without_sending(claim, extra), message.event_id
        if claim.kind is ClaimKind.UNKNOWN_RESEND:
            extra["unknown_outcome"] = "resent"
        if not self.bucket.acquire(self.settings.rate_limit_max_wait_ms / 1000):
            self._record(doc_id, "failed", reason="local_rate_limit")
            return Outcome("retry", "local_rate_limit", None, "no token in time"), message.event_id
        path, body = send_request(message)
        result = self.client.send(path, body)
        return self._after_send(doc_id, result, extra), message.event_id

    def _without_sending(self, claim: Claim, extra: dict[str, Any]) -> Outcome:
        if claim.kind is ClaimKind.SENT:
            extra["delivery_id"] = claim.record.get("delivery_id", "")
            return Outcome("delivered", "already_sent", claim.record.get("status"))
        if claim.kind is ClaimKind.IN_FLIGHT:
            return Outcome("retry", "in_flight", None, "another attempt is sending it")
        extra["unknown_outcome"] = "held"
        return Outcome(
            "dead_lettered",
            "outcome_unknown",
            None,
            "an earlier attempt may have sent it (policy hold): check Customer.io's deliveries",
        )

    def _after_send(self, doc_id: str, result: SendResult, extra: dict[str, Any]) -> Outcome:
        if result.unknown:
            extra["unknown_outcome"] = "recorded"
            self._record(doc_id, "unknown", unknown_reason=result.error)
            if self.settings.unknown_outcome == "hold":
                extra["unknown_outcome"] = "held"
                return Outcome("dead_lettered", "outcome_unknown", None, result.detail)
            return Outcome("retry", "outcome_unknown", None, result.detail)
        if result.status is None:  # certainly not sent
            self._record(doc_id, "failed", reason=result.error)
            return Outcome("retry", result.error, None, result.detail)
        outcome = from_status(result.status)
        if outcome.decision == "delivered":
            extra["delivery_id"] = result.delivery_id
            # Sent: a failure to record it must not turn into a retry (that would resend).
            recorded = self._record(
                doc_id, "sent", delivery_id=result.delivery_id, status=result.status
            )
            if not recorded:
                extra["record_error"] = True
            return outcome
        self._record(doc_id, "failed", reason=outcome.reason, status=result.status)
        return outcome

    def _record(self, doc_id: str, state: str, **fields: Any) -> bool:
        for attempt in range(3):
            try:
                self.claims.record(doc_id, state, **fields)
                return True
            except Exception:  # a short, bounded retry of one write
                time.sleep(0.1 * (attempt + 1))
        return False

    def _dead_letter(self, push: Push, outcome: Outcome, event_id: str | None) -> str:
        kept = {
            k: _clip(v)
            for k, v in sorted(push.attributes.items())
            if not _reserved(k) and len(k.encode("utf-8")) <= 256
        }
        kept = dict(list(kept.items())[:MAX_PRODUCER_ATTRIBUTES])
        kept.update(
            cio_reason=outcome.reason,
            cio_detail=_clip(outcome.detail),
            cio_status="" if outcome.status is None else str(outcome.status),
            cio_attempt="" if push.attempt is None else str(push.attempt),
            cio_retryable="false",
            cio_source_topic=self.source_topic,
            cio_handler=self.handler,
            cio_event_id=event_id or "",
            cio_message_id=push.message_id,
        )
        if dropped := len(push.attributes) - (len(kept) - 9):
            kept["cio_attributes_dropped"] = str(dropped)
        future = self._publisher_factory().publish(
            self.settings.dead_letter_topic, push.data, **kept
        )
        return str(future.result(timeout=10.0))


def build_handler(
    handler: str, topic: str, env: Mapping[str, str] | None = None
) -> TransactionalHandler:
    """Read configuration, open the connection pool, return the handler."""
    settings = Settings.from_env(env)
    claims = ClaimStore(
        lambda: firestore_client(settings.project, settings.database),
        ttl_seconds=settings.claim_ttl_seconds,
        lease_seconds=settings.lease_seconds,
        resend_unknown=settings.unknown_outcome == "retry",
    )
    return TransactionalHandler(
        handler=handler, topic=topic, settings=settings, client=AppClient(settings), claims=claims
    )


def _status_number(status: object) -> int:
    """Customer.io's status as the ledger's number (0: no answer); claims may hold it as text."""
    try:
        return int(str(status)) if status not in (None, "") else 0
    except ValueError:
        return 0
