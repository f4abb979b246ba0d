"""Answer one Customer.io reporting-webhook request.

Customer.io waits 4 seconds, retries a failed call for seven days, and holds back every later
webhook until the failed one succeeds. So the answers are:

| request                                              | answer | decision    |
|------------------------------------------------------|--------|-------------|
| not POST                                             | 405    | rejected    |
| signature or timestamp header missing or malformed,  | 401    | rejected    |
| timestamp out of the window (body never read)        |        |             |
| body over the hard cap                               | 413    | rejected    |
| body framing broken (bad chunk size, cut short)      | 400    | rejected    |
| signature wrong                                      | 401    | rejected    |
| signed, a known event, published                     | 200    | accepted    |
| signed, not a known event, quarantined               | 202    | quarantined |
| signed, but Pub/Sub did not confirm in time          | 502    | retry       |

502 is on Customer.io's retry list, and a publish failure is the one case where a retry is
right. Concurrent requests share Publish calls (group commit, `publish.py`); each still answers
only after its own message is confirmed, and its log line says how many messages its call
carried (`publish_call_messages`). The signature is checked on the raw bytes before anything
parses the body; neither the key nor the body is ever logged.

Memory: the public URL lets anyone send a body. Nothing is read before the headers pass the
cheap checks (both headers present and well-formed, timestamp in the window), never more than
cap + 1 bytes are read, and every answer given without the whole body is a *streamed*
response: functions-framework reads the rest of the body into memory after any non-streamed
response (`read_request`), which is what made a 413 cost the whole 32 MiB. gunicorn then
drains at most 64 KiB of what is left and closes the connection.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, TypeAlias, cast

from cio_shared.common import StructuredLogger, get_logger
from cio_shared.webhooks.events import (
    Unrecognised,
    WebhookEvent,
    attributes,
    encode_row,
    parse_event,
    to_row,
)
from cio_shared.webhooks.publish import PublishError, publish_grouped
from cio_shared.webhooks.settings import WebhookSettings
from cio_shared.webhooks.signature import SIGNATURE_HEADER, TIMESTAMP_HEADER, SignatureVerifier

if TYPE_CHECKING:  # annotations only: importing the package stays free of Flask
    from flask import Request
    from werkzeug.wrappers import Response as WsgiResponse

Response: TypeAlias = "tuple[str, int, dict[str, str]] | WsgiResponse"
HANDLER = "webhook"
_READ_CHUNK = 64 * 1024


class _BodyTooLarge(Exception):
    """The body is over the cap (declared or as read)."""


class _BodyUnreadable(Exception):
    """The body's framing is broken: a malformed chunk size, a body cut short, ..."""


class WebhookHandler:
    """Verifies, classifies and publishes; one instance serves every request of the process."""

    def __init__(
        self,
        settings: WebhookSettings,
        clock: Callable[[], float] = time.time,
        logger: StructuredLogger | None = None,
    ) -> None:
        self.settings = settings
        self.verifier = SignatureVerifier(
            current=settings.signing_key,
            previous=settings.previous_signing_key,
            max_age_seconds=settings.max_age_seconds,
            max_future_seconds=settings.max_future_seconds,
        )
        self.clock = clock
        self.log = logger or get_logger(HANDLER).bind(environment=settings.environment)

    def __call__(self, request: Request) -> Response:
        started = time.perf_counter()
        log = self.log.with_trace(cast(Mapping[str, str], request.headers))
        if request.method != "POST":
            return _unread(log, started, 405, "method_not_allowed", {"Allow": "POST"})
        timestamp = request.headers.get(TIMESTAMP_HEADER)
        signature = request.headers.get(SIGNATURE_HEADER)
        now = self.clock()
        # Before a byte of the body: anyone can send one, only Customer.io sends these headers.
        early = self.verifier.precheck(timestamp, signature, now)
        if early is not None:
            return _unread(log, started, 401, early.value)
        try:
            body = self._read_body(request)
        except _BodyTooLarge:
            return _unread(log, started, 413, "body_too_large")
        except _BodyUnreadable as exc:
            return _unread(log, started, 400, "body_unreadable", detail=str(exc))
        return self._verified(log, started, body, (timestamp, signature), now)

    def _verified(
        self,
        log: StructuredLogger,
        started: float,
        body: bytes,
        headers: tuple[str | None, str | None],
        now: float,
    ) -> Response:
        """Verify the signature on the whole body, then publish or quarantine."""
        timestamp, signature = headers
        verdict = self.verifier.verify(timestamp, signature, body, now)
        if verdict.rejection is not None:
            return _reject(log, started, 401, verdict.rejection.value)
        log = log.bind(verified_with=verdict.key_slot)
        parsed = parse_event(body, now)
        if isinstance(parsed, Unrecognised):
            return self._quarantine(log, started, body, parsed)
        try:
            data = encode_row(to_row(parsed))
        except (UnicodeEncodeError, ValueError, RecursionError) as exc:
            reason = Unrecognised("unencodable", f"cannot re-encode: {type(exc).__name__}")
            return self._quarantine(log, started, body, reason)
        return self._publish_event(log, started, parsed, data)

    def _read_body(self, request: Request) -> bytes:
        """The raw body; never reads more than cap + 1 bytes.

        Raises _BodyTooLarge over the cap (declared or read) and _BodyUnreadable when the
        server cannot read it (gunicorn raises on a malformed chunk size; Werkzeug on a body
        shorter than its Content-Length): the client's fault, answered 400, never a 500.
        Read by hand rather than with `max_content_length`: functions-framework reads the body
        again after a non-streamed answer, and a limited stream would raise there (a 500).
        """
        cap = self.settings.max_body_bytes
        if request.content_length is not None and request.content_length > cap:
            raise _BodyTooLarge
        parts: list[bytes] = []
        size = 0
        try:
            while chunk := request.stream.read(min(_READ_CHUNK, cap + 1 - size)):
                parts.append(chunk)
                size += len(chunk)
                if size > cap:
                    raise _BodyTooLarge
        except _BodyTooLarge:
            raise
        except Exception as exc:  # the server's framing errors have no common public base
            raise _BodyUnreadable(f"cannot read the body: {type(exc).__name__}") from None
        return b"".join(parts)

    def _publish_event(
        self, log: StructuredLogger, started: float, event: WebhookEvent, data: bytes
    ) -> Response:
        fields = {
            "event_id": event.event_id,
            "object_type": event.object_type,
            "metric": event.metric,
        }
        try:
            published = publish_grouped(
                self.settings.events_topic,
                data,
                attributes(event, self.settings.environment),
                self.settings.publish_timeout_seconds,
            )
        except PublishError as exc:
            return _retry(log, started, str(exc), fields)
        log.info(
            "webhook accepted",
            decision="accepted",
            status=200,
            **fields,
            publish_call_messages=published.call_messages,
            **_ms(started),
        )
        return _json({"status": "accepted", "event_id": event.event_id}, 200)

    def _quarantine(
        self, log: StructuredLogger, started: float, body: bytes, why: Unrecognised
    ) -> Response:
        attrs = {
            "cio_reason": why.reason,
            "cio_detail": why.detail,
            "cio_handler": HANDLER,
            "cio_retryable": "false",
            "environment": self.settings.environment,
        }
        if why.event_id:
            attrs["event_id"] = why.event_id.encode("utf-8", "replace").decode("utf-8")
        fields = {"event_id": attrs.get("event_id", ""), "cio_reason": why.reason}
        try:
            published = publish_grouped(
                self.settings.quarantine_topic, body, attrs, self.settings.publish_timeout_seconds
            )
        except PublishError as exc:
            return _retry(log, started, str(exc), fields)
        log.warning(
            "webhook quarantined",
            decision="quarantined",
            status=202,
            cio_detail=why.detail,
            **fields,
            publish_call_messages=published.call_messages,
            **_ms(started),
        )
        return _json({"status": "quarantined", "reason": why.reason}, 202)


def _json(
    payload: Mapping[str, str], status: int, headers: Mapping[str, str] | None = None
) -> Response:
    """A JSON answer encoded here: a dict would go through Flask's JSON provider (measured:
    about 40 us more per request)."""
    return json.dumps(payload), status, {**(headers or {}), "Content-Type": "application/json"}


def _ms(started: float) -> dict[str, float]:
    return {"latency_ms": round((time.perf_counter() - started) * 1000, 3)}


def _unread(
    log: StructuredLogger,
    started: float,
    status: int,
    reason: str,
    headers: Mapping[str, str] | None = None,
    detail: str = "",
) -> WsgiResponse:
    """A rejection given without (all of) the body: streamed, so functions-framework does not
    read the rest of the body into memory afterwards, and `Connection: close` (gunicorn drops
    hop-by-hop headers from the application, but closes by itself once the unread rest is over
    64 KiB; other servers honour the header)."""
    from werkzeug.wrappers import Response as WsgiResponse

    fields = {"cio_detail": detail} if detail else {}
    log.warning(
        "webhook rejected",
        decision="rejected",
        status=status,
        reason=reason,
        body_read=False,
        **fields,
        **_ms(started),
    )
    text = json.dumps({"error": reason}).encode()

    def stream() -> Iterator[bytes]:
        yield text

    return WsgiResponse(
        stream(),
        status=status,
        headers={**(headers or {}), "Connection": "close"},
        mimetype="application/json",
    )


def _reject(
    log: StructuredLogger,
    started: float,
    status: int,
    reason: str,
    headers: Mapping[str, str] | None = None,
) -> Response:
    log.warning(
        "webhook rejected", decision="rejected", status=status, reason=reason, **_ms(started)
    )
    return _json({"error": reason}, status, headers)


def _retry(
    log: StructuredLogger, started: float, detail: str, fields: Mapping[str, str]
) -> Response:
    """Pub/Sub did not confirm: 502 is on Customer.io's retry list, so the event comes back."""
    log.error(
        "webhook not published",
        decision="retry",
        status=502,
        cio_detail=detail,
        **fields,
        **_ms(started),
    )
    return _json({"error": "publish_failed"}, 502)
